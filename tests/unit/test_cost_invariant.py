"""Property tests: over generated inventories and usage, every cent is accounted for."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koumbit_infra.cost import Ledger, Month, RecordedUsage, Usage, allocate
from koumbit_infra.cost.cents import apportion, to_cents
from koumbit_infra.cost.ledger.stored_month import content_hash
from koumbit_infra.cost.usage.synthetic import PLANS, inventory_from
from koumbit_infra.inventory import Role
from koumbit_infra.inventory.models import (
    GIB,
    Budget,
    BudgetCategory,
    BudgetLine,
    Client,
    Cms,
    Contact,
    Server,
    ServerCost,
    SharedPolicy,
    Site,
    SiteState,
    Size,
    Solidarity,
)

D = Decimal
days = st.dates(min_value=date(2025, 10, 1), max_value=date(2026, 12, 31))
cents = st.integers(min_value=0, max_value=2_000_000).map(lambda c: D(c) / 100)


@st.composite
def server_costs(draw):
    if draw(st.booleans()):
        return ServerCost(monthly_cad=draw(cents))
    return ServerCost(purchase_cad=draw(cents), amortisation_months=draw(st.integers(1, 120)),
                      hosting_monthly_cad=draw(cents))


@st.composite
def inventories(draw):
    webs = [
        Server(
            name=f"web{i}", address=f"10.0.0.{i + 1}", roles=frozenset({Role.WEB, Role.DB}),
            size=Size(cpus=draw(st.integers(1, 16)), memory_gib=draw(st.integers(1, 64)),
                      disk_gib=draw(st.integers(10, 2000))),
            cost=draw(server_costs()), since=draw(st.none() | days),
        )
        for i in range(draw(st.integers(1, 3)))
    ]
    others = [
        Server(
            name=f"other{i}", address=f"10.0.1.{i + 1}",
            roles=frozenset({draw(st.sampled_from([Role.BACKUP, Role.MONITOR]))}),
            size=Size(cpus=1, memory_gib=1, disk_gib=100), cost=draw(server_costs()),
            since=draw(st.none() | days),
        )
        for i in range(draw(st.integers(0, 2)))
    ]
    clients = []
    number = 0
    for index in range(draw(st.integers(0, 6))):
        sites = []
        for _ in range(draw(st.integers(0, 3))):
            number += 1
            sites.append(Site(
                domain=f"s{number}.test", cms=Cms.DRUPAL,
                server=draw(st.sampled_from([w.name for w in webs])),
                state=draw(st.sampled_from(list(SiteState))),
            ))
        plan = draw(st.sampled_from(PLANS))
        solidarity = draw(st.none() | days.map(lambda d: Solidarity(since=d)))
        clients.append(Client(
            slug=f"c{index}", name=f"C{index}", plan=plan.name,
            monthly_price_paid_cad=draw(cents), solidarity=solidarity,
            since=draw(st.none() | days), contact=Contact(name="x", email="x@example.test"),
            sites=tuple(sites),
        ))
    lines = tuple(
        BudgetLine(name=f"line{i}", category=BudgetCategory.TRANSIT, monthly_cad=draw(cents))
        for i in range(draw(st.integers(0, 3)))
    )
    budget = Budget(fiscal_year="2026-2027", start_month=4, allocated_cad=D("1000.00"),
                    shared_policy=draw(st.sampled_from(list(SharedPolicy))), lines=lines)
    return inventory_from([*webs, *others], clients, budget)


@st.composite
def usages(draw, inv):
    servers = [s.name for s in inv.servers] + ["elsewhere"]
    domains = [p.site.domain for p in inv.placed_sites()] + ["unknown.test"]
    records = []
    for _ in range(draw(st.integers(0, 8))):
        records.append(Usage(
            site=draw(st.sampled_from(domains)),
            server=draw(st.sampled_from(servers)),
            coverage=D(draw(st.integers(0, 100))) / 100,
            cpu_core_seconds=draw(st.none() | st.integers(0, 50_000_000).map(D)),
            memory_byte_seconds=draw(st.none() | st.integers(0, 10**17).map(D)),
            disk_bytes_average=draw(st.none() | st.integers(0, 500 * GIB).map(D)),
        ))
    return RecordedUsage(tuple(records))


months = st.builds(Month, st.just(2026), st.integers(1, 12))


def expected_total(inv, month: Month) -> Decimal:
    servers = sum((s.cost.per_month_cad * month.fraction_from(s.since) for s in inv.servers), D(0))
    return servers + sum((line.per_month_cad for line in inv.budget.lines), D(0))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), inv=inventories(), month=months)
def test_allocations_plus_idle_equal_the_total_to_the_cent(data, inv, month):
    source = data.draw(usages(inv))
    result = allocate(inv, month, source)
    assert result.total_cad * 100 == to_cents(expected_total(inv, month))
    assert result.allocated_cad + result.idle_cad == result.total_cad
    if result.sites:
        assert sum(s.full_cost_cad for s in result.sites) == result.total_cad
    assert sum(c.cost_cad for c in result.clients) == result.allocated_cad
    amounts = [line.amount_cad for line in result.lines] + [i.amount_cad for i in result.idle]
    for site in result.sites:
        amounts += [site.cpu_cad, site.memory_cad, site.disk_cad, site.shared_cad,
                    site.idle_share_cad]
    assert all(a >= 0 and a == a.quantize(D("0.01")) for a in amounts)
    for server in result.servers():
        direct = sum(r.direct_cad for r in result.site_servers if r.server == server.server)
        if inv.server(server.server).has(Role.WEB):
            assert direct + server.idle_cad == server.cost_cad


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), inv=inventories(), month=months)
def test_the_ledger_gives_back_exactly_what_was_closed(data, inv, month):
    result = allocate(inv, month, data.draw(usages(inv)))
    assert content_hash(allocate(inv, month, RecordedUsage(()))) == content_hash(
        allocate(inv, month, RecordedUsage(())))  # same inputs, same result
    ledger = Ledger(sqlite3.connect(":memory:"))
    ledger.close(inv.env, result)
    back = ledger.allocation(inv.env, month)
    assert back is not None
    assert content_hash(back) == content_hash(result)
    assert back.total_cad == result.total_cad


@given(
    total=st.integers(0, 10**9),
    shares=st.dictionaries(st.text(max_size=3), st.decimals(0, 10**6, places=6), min_size=1),
)
def test_apportion_adds_up_and_stays_within_a_cent_of_each_quota(total, shares):
    if not any(shares.values()):
        shares = dict.fromkeys(shares, D(1))
    parts = apportion(total, shares)
    assert sum(parts.values()) == total
    weight = sum(shares.values())
    for key, share in shares.items():
        assert abs(parts[key] - share * total / weight) < 1
