"""Reports over several months: a fiscal year so far, months added up exactly."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from koumbit_infra.cli import main
from koumbit_infra.cost import Ledger, Month, ReservedOnly, allocate, close_month
from koumbit_infra.cost.publishing.period_costs import combine
from koumbit_infra.cost.usage.synthetic import generated_inventory
from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory, Role, SiteState
from koumbit_infra.inventory.models import GIB
from koumbit_infra.report import render_csv, render_html, report_data
from koumbit_infra.report.cli import fiscal_year_months
from koumbit_infra.report.data import capacity

FIRST_HALF = [Month(2026, m) for m in range(4, 10)]


@pytest.fixture(scope="module")
def lab() -> Inventory:
    return load_env("lab")


def test_combined_months_add_up_to_the_cent(lab: Inventory) -> None:
    months = [allocate(lab, m, ReservedOnly()) for m in FIRST_HALF]
    whole = combine(months)
    whole.check()  # allocated + idle == total, every view adds up
    assert whole.total_cad == sum((a.total_cad for a in months), Decimal(0))
    assert whole.idle_cad == sum((a.idle_cad for a in months), Decimal(0))
    by_client = {c.client: c for c in whole.clients}
    for slug, combined in by_client.items():
        paid = sum(next(c.paid_cad for c in a.clients if c.client == slug) for a in months)
        assert combined.paid_cad == paid
    # The standard plan was raised from 40 to 45 on July 1st: 3 months at each price.
    erables = by_client["cooperative-erables"]
    assert erables.list_price_cad == Decimal("3") * 40 + Decimal("3") * 45


def test_fiscal_year_months_run_from_the_budget_start_to_today(lab: Inventory) -> None:
    months = fiscal_year_months(lab, "2026-2027", date(2026, 11, 27))
    assert [str(m) for m in months] == [f"2026-{m:02d}" for m in range(4, 12)]
    whole = fiscal_year_months(lab, "2025-2026", date(2026, 11, 27))
    assert (str(whole[0]), str(whole[-1]), len(whole)) == ("2025-04", "2026-03", 12)
    with pytest.raises(click.BadParameter, match="has not started"):
        fiscal_year_months(lab, "2030-2031", date(2026, 11, 27))
    with pytest.raises(click.BadParameter, match="not a fiscal year"):
        fiscal_year_months(lab, "2026-2028", date(2026, 11, 27))


def test_fiscal_year_report_says_how_many_months_are_closed(
    lab: Inventory, tmp_path: Path
) -> None:
    ledger_path = tmp_path / "ledger.sqlite"
    with Ledger.open(ledger_path) as ledger:
        close_month(lab, Month(2026, 4), ledger)
    data = report_data(lab, FIRST_HALF, ledger_path, fiscal_year="2026-2027")
    assert (data.closed_count, data.closed) == (1, False)
    french = render_html(data, "fr")
    assert "année financière 2026-2027 (avril 2026 à septembre 2026)" in french
    assert "1 mois sur 6 clôturés dans le registre." in french
    assert "Coût total de la période" in french
    english = render_html(data, "en")
    assert "fiscal year 2026-2027 (April 2026 to September 2026)" in english
    rows = list(csv.DictReader(io.StringIO(render_csv(data, "en"))))
    assert {(r["ChargePeriodStart"], r["ChargePeriodEnd"]) for r in rows} == {
        ("2026-04-01", "2026-10-01")}
    assert sum(Decimal(r["BilledCost"]) for r in rows) == data.paid_cad


def test_cli_needs_exactly_one_period(tmp_path: Path) -> None:
    runner = CliRunner()
    neither = runner.invoke(main, ["report", "--format", "csv"])
    assert neither.exit_code == 2
    assert "either --month" in neither.output
    both = runner.invoke(main, ["report", "--month", "2026-11", "--fiscal-year", "2026-2027"])
    assert both.exit_code == 2


def test_cli_fiscal_year_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "year.csv"
    result = CliRunner().invoke(main, ["report",
        "--fiscal-year", "2026-2027", "--format", "csv", "--lang", "fr",
        "--ledger", str(tmp_path / "none.sqlite"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("ChargePeriodStart,")
    assert "2026-04-01" in out.read_text()


def test_servers_show_what_was_promised_against_what_they_have(lab: Inventory) -> None:
    data = report_data(lab, Month(2026, 11), None)
    # web2: 5 sites promised 75 GiB of its 80; PHP memory 13.75 GiB on a 4 GiB server.
    assert data.capacity["web2"] == (75, 80, Decimal("13.75"), 4)
    french, english = render_html(data, "fr"), render_html(data, "en")
    assert "Quota promis / disque (Gio)" in french and ">75 / 80<" in french
    assert ">13,8 / 4<" in french and ">13.8 / 4<" in english
    assert "backup1" not in data.capacity  # not a web server: no sites to promise to


def test_capacity_in_one_pass_matches_the_inventory_per_server() -> None:
    inv = generated_inventory(200, 500)
    found = capacity(inv)
    assert set(found) == {s.name for s in inv.servers_with(Role.WEB)}
    for server in inv.servers_with(Role.WEB):
        live = [p for p in inv.sites_on(server.name) if p.site.state is not SiteState.ABSENT]
        memory = sum(inv.plan(p.client.plan).memory_reserved_bytes for p in live)
        assert found[server.name] == (inv.committed_quota_gib(server.name),
                                      server.size.disk_gib, Decimal(memory) / GIB,
                                      server.size.memory_gib)
