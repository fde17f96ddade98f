"""Small allocations worked out by hand, to the cent (June 2026: 30 days, 720 hours).

Reference prices are chosen so a 2-core, 4 GiB, 100 GiB server splits its
cost 50 % CPU, 25 % memory, 25 % disk: 0.5 + 0.25 + 0.25 per hour.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from koumbit_infra.cost import (
    Month,
    RecordedUsage,
    ResourcePrices,
    Usage,
    allocate,
)
from koumbit_infra.cost.usage.synthetic import inventory_from
from koumbit_infra.inventory import Role
from koumbit_infra.inventory.models import (
    GIB,
    Budget,
    BudgetCategory,
    BudgetLine,
    Client,
    Cms,
    Contact,
    EarlierPrice,
    Plan,
    Server,
    ServerCost,
    SharedPolicy,
    Site,
    Size,
    Solidarity,
)

JUNE = Month(2026, 6)
PRICES = ResourcePrices(
    cpu_core_per_hour=Decimal("0.25"),
    memory_gib_per_hour=Decimal("0.0625"),
    disk_gib_per_hour=Decimal("0.0025"),
)
PLAN = Plan(
    name="p", label_fr="P", label_en="P", monthly_price_cad=Decimal("40.00"), disk_quota_gib=10,
    php_workers=2, php_memory_limit_mib=256, cpu_cores_reserved=Decimal("0.5"),
)  # reserves 0.5 core, 0.5 GiB memory, 10 GiB disk
D = Decimal


def web(name: str, since: date | None = None, memory_gib: int = 4) -> Server:
    return Server(
        name=name, address="10.0.0.1", roles=frozenset({Role.WEB, Role.DB}),
        size=Size(cpus=2, memory_gib=memory_gib, disk_gib=100),
        cost=ServerCost(monthly_cad=D("100.00")), since=since,
    )


def client(slug: str, *domains: str, server: str = "web1", paid: str = "40.00",
           solidarity: date | None = None) -> Client:
    return Client(
        slug=slug, name=slug.upper(), plan="p", monthly_price_paid_cad=D(paid),
        solidarity=Solidarity(since=solidarity) if solidarity else None,
        contact=Contact(name="x", email="x@example.test"),
        sites=tuple(Site(domain=d, cms=Cms.WORDPRESS, server=server) for d in domains),
    )


def budget(policy: SharedPolicy = SharedPolicy.BY_RESERVED, *lines: BudgetLine) -> Budget:
    return Budget(fiscal_year="2026-2027", start_month=4, allocated_cad=D("5000.00"),
                  shared_policy=policy, lines=lines)


def two_sites(solidarity_since: date = date(2020, 1, 1)):
    return inventory_from(
        [web("web1")],
        [client("a", "a.test"), client("b", "b.test", paid="10.00", solidarity=solidarity_since)],
        budget(), plans=[PLAN],
    )


def test_weights_split_the_server_half_cpu_quarter_memory_quarter_disk():
    weights = PRICES.weights(web("web1"))
    assert weights == {"cpu": D("0.5"), "memory": D("0.25"), "disk": D("0.25")}


def test_two_reserved_sites_on_one_server():
    # CPU 50.00 over 2 cores x 720 h: each site holds 0.5 x 720 = 360 core-h -> 12.50.
    # Memory 25.00 over 4 GiB: each holds 0.5 GiB -> 3.125; the odd cent goes to the tie
    # broken by key, a.test first -> 3.13 and 3.12. Disk 25.00 over 100 GiB: 10 GiB -> 2.50.
    result = allocate(two_sites(), JUNE, prices=PRICES)
    a, b = result.sites
    assert (a.cpu_cad, a.memory_cad, a.disk_cad) == (D("12.50"), D("3.13"), D("2.50"))
    assert (b.cpu_cad, b.memory_cad, b.disk_cad) == (D("12.50"), D("3.12"), D("2.50"))
    # Idle: 25.00 CPU + 18.75 memory + 20.00 disk.
    assert [(i.server, i.amount_cad) for i in result.idle] == [("web1", D("63.75"))]
    assert result.total_cad == D("100.00")
    assert result.allocated_cad + result.idle_cad == result.total_cad
    # Idle spread by direct cost (equal, 31.875 each): the odd cent to a.test again.
    assert (a.idle_share_cad, b.idle_share_cad) == (D("31.88"), D("31.87"))
    assert (a.full_cost_cad, b.full_cost_cad) == (D("50.01"), D("49.99"))


def test_margin_of_a_regular_client_and_both_subsidies_of_a_solidarity_one():
    ca, cb = allocate(two_sites(), JUNE, prices=PRICES).clients
    assert (ca.paid_cad, ca.cost_cad, ca.margin_cad) == (D("40.00"), D("18.13"), D("21.87"))
    assert (ca.subsidy_cost_cad, ca.subsidy_list_cad) == (D("0.00"), D("0.00"))
    # Solidarity all month: cost 18.12 - paid 10.00; list 40.00 - paid 10.00.
    assert cb.subsidy_cost_cad == D("8.12")
    assert cb.subsidy_list_cad == D("30.00")
    assert cb.margin_cad == D("0.00")


def test_client_that_became_solidarity_mid_month():
    # Since June 11: 20 of 30 days solidarity (2/3), 10 days regular at the list price.
    cb = allocate(two_sites(date(2026, 6, 11)), JUNE, prices=PRICES).clients[1]
    assert cb.solidarity_share == D(2) / D(3)
    assert cb.cost_cad == D("18.12")
    assert cb.solidarity_cost_cad == D("12.08")  # 18.12 x 2/3
    assert cb.solidarity_paid_cad == D("6.67")  # 10.00 x 2/3
    assert cb.paid_cad == D("20.00")  # 6.67 + 40.00 x 1/3 (13.33)
    assert cb.solidarity_list_cad == D("26.67")
    assert cb.subsidy_cost_cad == D("5.41")
    assert cb.subsidy_list_cad == D("20.00")
    assert cb.margin_cad == D("7.29")  # (20.00 - 6.67) - (18.12 - 12.08)


def test_solidarity_starting_after_the_month_is_not_counted_yet():
    cb = allocate(two_sites(date(2026, 7, 1)), JUNE, prices=PRICES).clients[1]
    assert cb.solidarity_share == 0
    assert cb.paid_cad == D("40.00")  # list price before the account started
    assert cb.subsidy_cost_cad == 0
    assert cb.margin_cad == D("21.88")  # 40.00 - 18.12


def test_server_added_mid_month_costs_its_days_in_service():
    # web2 from June 16: 15 of 30 days -> 50.00; CPU part 25.00 over 2 x 360 core-h;
    # the site is hosted 360 h holding 0.5 core -> 180 core-h -> 6.25.
    inv = inventory_from(
        [web("web1"), web("web2", since=date(2026, 6, 16))],
        [client("a", "a.test"), client("c", "c.test", server="web2")],
        budget(), plans=[PLAN],
    )
    result = allocate(inv, JUNE, prices=PRICES)
    lines = {(line.name, line.resource): line.amount_cad for line in result.lines}
    assert lines[("web2", "cpu")] == D("25.00")
    assert sum(a for (n, _), a in lines.items() if n == "web2") == D("50.00")
    c = next(s for s in result.sites if s.site == "c.test")
    assert (c.cpu_cad, c.memory_cad, c.disk_cad) == (D("6.25"), D("1.56"), D("1.25"))
    assert result.total_cad == D("150.00")


def test_partial_usage_charges_usage_where_measured_and_reservation_elsewhere():
    # a.test has data for half the month (360 h) using 1 core: 360 core-h, over its
    # 180 reserved; the other 360 h are charged at the reservation (180). 540 core-h
    # of 1440 -> 50.00 x 540 / 1440 = 18.75. b.test, no data: 360 core-h -> 12.50.
    usage = Usage("a.test", "web1", D("0.5"), cpu_core_seconds=D(360 * 3600))
    result = allocate(two_sites(), JUNE, RecordedUsage((usage,)), prices=PRICES)
    a, b = result.sites
    assert (a.cpu_cad, b.cpu_cad) == (D("18.75"), D("12.50"))
    assert result.lines[0].amount_cad - a.cpu_cad - b.cpu_cad == D("18.75")  # CPU idle


def test_usage_below_the_reservation_is_charged_the_reservation():
    usage = Usage("a.test", "web1", D(1), cpu_core_seconds=D(0), disk_bytes_average=D(GIB))
    a = allocate(two_sites(), JUNE, RecordedUsage((usage,)), prices=PRICES).sites[0]
    assert (a.cpu_cad, a.disk_cad) == (D("12.50"), D("2.50"))


def test_site_moved_mid_month_is_charged_on_both_servers_by_time():
    # A quarter of the month on web1, three quarters on web2 (its server now), using
    # less than it reserves: 0.5 x 180 = 90 core-h on web1 -> 3.125, 270 on web2 -> 9.375.
    # Each server's CPU line is rounded on its own: the half cent ties with that server's
    # idle (46.875, 40.625) and ties go to the key sorting first, ("idle", ...).
    inv = inventory_from(
        [web("web1"), web("web2")],
        [client("a", "a.test", server="web2")],
        budget(), plans=[PLAN],
    )
    usage = RecordedUsage((
        Usage("a.test", "web1", D("0.25"), cpu_core_seconds=D(0)),
        Usage("a.test", "web2", D("0.75"), cpu_core_seconds=D(0)),
    ))
    result = allocate(inv, JUNE, usage, prices=PRICES)
    rows = {r.server: r for r in result.site_servers}
    assert (rows["web1"].cpu_cad, rows["web2"].cpu_cad) == (D("3.12"), D("9.37"))
    assert result.sites[0].cpu_cad == D("12.49")  # a whole month on one server, less a cent
    assert result.sites[0].servers == ("web1", "web2")


def test_overcommitted_memory_is_shared_without_exceeding_the_server_cost():
    # 1 GiB of memory (weights change: cpu 0.5, memory 0.0625, disk 0.25 of 0.8125),
    # three sites each holding 0.5 GiB: demand 1.5 GiB > 1 GiB, so each pays a third.
    inv = inventory_from(
        [web("web1", memory_gib=1)],
        [client("a", "a.test", "b.test", "c.test")],
        budget(), plans=[PLAN],
    )
    result = allocate(inv, JUNE, prices=PRICES)
    memory = next(x for x in result.lines if x.resource == "memory").amount_cad
    assert memory == D("7.69")  # 100 x 0.0625 / 0.8125
    assert sorted(s.memory_cad for s in result.sites) == [D("2.56"), D("2.56"), D("2.57")]
    assert "memory" not in {i.server for i in result.idle}  # idle holds no memory cost


def test_shared_lines_per_client_then_per_site_of_the_client():
    # 30.00 of transit and a 12.00 backup server, per client: 21.00 each client, the
    # client with two sites splits its share: 10.50 + 10.50.
    backup = Server(
        name="backup1", address="10.0.0.9", roles=frozenset({Role.BACKUP}),
        size=Size(cpus=1, memory_gib=1, disk_gib=100), cost=ServerCost(monthly_cad=D("12.00")),
    )
    line = BudgetLine(name="Transit", category=BudgetCategory.TRANSIT, monthly_cad=D("30.00"))
    inv = inventory_from(
        [web("web1"), backup],
        [client("a", "a1.test", "a2.test"), client("b", "b.test")],
        budget(SharedPolicy.PER_CLIENT, line), plans=[PLAN],
    )
    result = allocate(inv, JUNE, prices=PRICES)
    assert {s.site: s.shared_cad for s in result.sites} == {
        "a1.test": D("10.50"), "a2.test": D("10.50"), "b.test": D("21.00"),
    }
    assert result.total_cad == D("142.00")
    assert {s.server: s.charged_cad for s in result.servers()}["backup1"] == D("12.00")


def test_shared_lines_per_site_and_yearly_lines_by_month():
    line = BudgetLine(name="DNS", category=BudgetCategory.DOMAINS, yearly_cad=D("100.00"))
    inv = inventory_from(
        [web("web1")],
        [client("a", "a1.test", "a2.test"), client("b", "b.test")],
        budget(SharedPolicy.PER_SITE, line), plans=[PLAN],
    )
    result = allocate(inv, JUNE, prices=PRICES)
    # 100.00 / 12 = 8.333... -> 8.33 on the line, 2.78 + 2.78 + 2.77 over three sites.
    assert result.lines[-1].amount_cad == D("8.33")
    assert sorted(s.shared_cad for s in result.sites) == [D("2.77"), D("2.78"), D("2.78")]


def test_plan_and_server_views_add_up():
    result = allocate(two_sites(), JUNE, prices=PRICES)
    (plan,) = result.plans()
    assert (plan.plan, plan.clients, plan.sites) == ("p", 2, 2)
    assert plan.cost_cad == D("36.25")
    assert plan.list_price_cad == D("80.00")
    assert plan.paid_cad == D("50.00")
    (server,) = result.servers()
    assert (server.cost_cad, server.charged_cad, server.idle_cad) == (
        D("100.00"), D("36.25"), D("63.75"))
    assert (server.cpu_cad, server.memory_cad, server.disk_cad) == (
        D("50.00"), D("25.00"), D("25.00"))


def test_plan_price_changed_mid_month_is_pro_rated_by_days():
    # List price 30.00 until June 16, 40.00 from then: 15 days each, 15.00 + 20.00.
    raised = PLAN.model_copy(update={"price_history": (
        EarlierPrice(until=date(2026, 6, 16), monthly_price_cad=D("30.00")),)})
    inv = inventory_from(
        [web("web1")], [client("b", "b.test", paid="10.00", solidarity=date(2020, 1, 1))],
        budget(), plans=[raised],
    )
    cb = allocate(inv, JUNE, prices=PRICES).clients[0]
    assert cb.list_price_cad == D("35.00")
    assert cb.subsidy_list_cad == D("25.00")  # 35.00 - 10.00
    # The same plan in a later month is at its current price.
    later = allocate(inv, Month(2026, 7), prices=PRICES).clients[0]
    assert later.list_price_cad == D("40.00")


def test_plan_price_changed_mid_year_changes_the_months_after():
    raised = PLAN.model_copy(update={"price_history": (
        EarlierPrice(until=date(2026, 10, 1), monthly_price_cad=D("30.00")),)})
    inv = inventory_from([web("web1")], [client("a", "a.test")], budget(), plans=[raised])
    listed = [allocate(inv, Month(2026, m), prices=PRICES).clients[0].list_price_cad
              for m in (8, 9, 10, 11)]
    assert listed == [D("30.00"), D("30.00"), D("40.00"), D("40.00")]


def test_client_price_history_is_what_a_regular_client_paid():
    # Paid 35.00 until June 21 (20 days), 40.00 after (10 days): 23.33 + 13.33 = 36.67.
    regular = client("a", "a.test").model_copy(update={"price_history": (
        EarlierPrice(until=date(2026, 6, 21), monthly_price_cad=D("35.00")),)})
    inv = inventory_from([web("web1")], [regular], budget(), plans=[PLAN])
    ca = allocate(inv, JUNE, prices=PRICES).clients[0]
    assert ca.paid_cad == D("36.67")
    assert ca.list_price_cad == D("40.00")


def test_price_history_dates_must_increase() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="oldest first"):
        PLAN.model_validate({**PLAN.model_dump(), "price_history": [
            {"until": "2026-10-01", "monthly_price_cad": "30.00"},
            {"until": "2026-05-01", "monthly_price_cad": "25.00"},
        ]})
