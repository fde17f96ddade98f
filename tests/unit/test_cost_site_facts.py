"""Smaller rules of the model: labels, months, states, database servers, warnings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from koumbit_infra.cost import Allocator, Month, RecordedUsage, Usage, allocate
from koumbit_infra.cost.ledger.stored_month import content_hash
from koumbit_infra.cost.usage.synthetic import generated_inventory, generated_usage, inventory_from
from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Role
from koumbit_infra.inventory.models import Server, ServerCost, Size

D = Decimal
JUNE = Month(2026, 6)


def test_months_parse_print_and_count_hours():
    assert str(Month.parse("2026-02")) == "2026-02"
    assert Month(2026, 2).hours == 28 * 24
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2026, 6).fraction_from(date(2026, 6, 16)) == D("0.5")
    assert Month(2026, 6).hours_from(date(2026, 7, 1)) == 0
    for bad in ("2026-13", "2026-1", "26-01", "may"):
        with pytest.raises(ValueError, match="month"):
            Month.parse(bad)


def test_usage_may_name_a_site_by_its_system_name():
    inv = load_env("lab")
    site = inv.site("journal-alternatif.test").site
    seconds = D(JUNE.hours * 3600)
    by_domain = allocate(inv, JUNE, RecordedUsage((Usage(site.domain, "web1", D(1), seconds),)))
    by_name = allocate(inv, JUNE, RecordedUsage((Usage(site.system_name, "web1", D(1), seconds),)))
    assert by_name.sites == by_domain.sites


def test_usage_of_unknown_sites_and_non_web_servers_is_left_out_with_a_warning():
    inv = load_env("lab")
    usage = RecordedUsage((
        Usage("gone.test", "web1", D(1), D(5)),
        Usage("erables.test", "backup1", D(1), D(5)),
    ))
    result = allocate(inv, JUNE, usage)
    assert result.sites == allocate(inv, JUNE).sites
    assert any("1 site(s) not in the inventory" in w and "gone.test" in w for w in result.warnings)
    assert any("on backup1, which hosts no site" in w for w in result.warnings)


def test_disabled_site_pays_only_disk_and_absent_site_nothing():
    inv = load_env("lab")
    droits = {s.site: s for s in allocate(inv, JUNE).sites}["droits-humains.test"]
    assert (droits.cpu_cad, droits.memory_cad) == (0, 0)
    assert droits.disk_cad > 0


def test_separate_database_server_is_spread_over_the_sites_it_serves():
    lab = load_env("lab")
    db = Server(name="db1", address="10.0.0.50", roles=frozenset({Role.DB}),
                size=Size(cpus=2, memory_gib=8, disk_gib=100),
                cost=ServerCost(monthly_cad=D("60.00")))
    web1 = lab.server("web1").model_copy(update={"database_server": "db1"})
    servers = [web1 if s.name == "web1" else s for s in lab.servers] + [db]
    inv = inventory_from(servers, lab.clients, lab.budget, lab.plans)
    result = Allocator(inv).allocate(JUNE)
    (db_line,) = [line for line in result.lines if line.name == "db1"]
    assert db_line.amount_cad == D("60.00")
    without = {s.site: s.shared_cad for s in allocate(lab, JUNE).sites}
    with_db = {s.site: s.shared_cad for s in result.sites}
    on_web1 = {p.site.domain for p in lab.sites_on("web1")}
    extra = {site: with_db[site] - without[site] for site in with_db}
    assert sum(extra[s] for s in on_web1) == D("60.00")
    assert all(extra[s] == 0 for s in extra if s not in on_web1)


def test_one_allocator_for_a_year_gives_what_fresh_ones_give():
    inv = generated_inventory(clients=40, sites=90)
    allocator = Allocator(inv)
    for month in (Month(2026, 4), Month(2026, 9), Month(2027, 2)):
        usage = RecordedUsage(generated_usage(inv, month))
        assert content_hash(allocator.allocate(month, usage)) == content_hash(
            allocate(inv, month, usage))


def test_same_usage_in_another_order_gives_the_same_cents():
    inv = generated_inventory(clients=40, sites=90)
    records = generated_usage(inv, JUNE)
    forward = allocate(inv, JUNE, RecordedUsage(records))
    backward = allocate(inv, JUNE, RecordedUsage(tuple(reversed(records))))
    assert content_hash(forward) == content_hash(backward)
