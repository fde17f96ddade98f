"""The monthly report of the lab inventory, in French and English, as HTML and CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from koumbit_infra.cli import main
from koumbit_infra.cost import Ledger, Month, close_month
from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory
from koumbit_infra.report import ReportData, render_csv, render_html, report_data
from koumbit_infra.report.catalogue import CATALOGUE
from koumbit_infra.report.chart import bar_chart
from koumbit_infra.report.focus_csv import COLUMNS
from koumbit_infra.report.money import money

MONTH = Month.parse("2026-11")
NBSP = "\xa0"


@pytest.fixture(scope="module")
def lab() -> Inventory:
    return load_env("lab")


@pytest.fixture(scope="module")
def data(lab: Inventory) -> ReportData:
    return report_data(lab, MONTH, None)


def test_french_html_names_clients_and_formats_money_for_fr_ca(data: ReportData) -> None:
    html = render_html(data, "fr")
    for client in data.allocation.clients:
        assert client.name.replace("'", "&#39;") in html
    assert f"10,00{NBSP}$" in html  # Journal alternatif pays 10 $
    assert f"9{NBSP}000,00{NBSP}$" in html  # the allocation, with a French thousands space
    assert "<svg" in html and "</svg>" in html
    assert "Coût par client" in html and "Essentiel" in html
    assert "Mois non clôturé" in html  # computed, not read from the ledger: it says so
    assert 'lang="fr"' in html


def test_english_html_formats_money_for_en_ca(data: ReportData) -> None:
    html = render_html(data, "en")
    assert "$10.00" in html and "$9,000.00" in html
    assert "Cost per client" in html and "Essential" in html and "Organisation" in html
    assert "<svg" in html
    assert "Month not closed" in html


def test_html_escapes_what_comes_from_the_inventory(data: ReportData) -> None:
    html = render_html(data, "fr")
    assert "Comité de parents contre l&#39;austérité" in html


def test_solidarity_totals_are_shown_both_ways(data: ReportData) -> None:
    html = render_html(data, "fr")
    cost_based, list_based = data.allocation.solidarity_totals()
    assert (cost_based, list_based) == (Decimal("89.17"), Decimal("90.00"))
    assert f"89,17{NBSP}$" in html and f"90,00{NBSP}$" in html
    assert "Subvention selon le prix catalogue" in html


def test_csv_has_focus_columns_and_billed_cost_sums_to_paid(data: ReportData) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(data, "fr"))))
    assert tuple(rows[0]) == COLUMNS
    assert {"ChargePeriodStart", "BilledCost", "EffectiveCost", "ListCost", "BillingCurrency",
            "SubAccountId", "SubAccountName", "ChargeCategory", "x_Solidarity", "x_Subsidy",
            "x_Margin"} <= set(COLUMNS)
    assert len(rows) == len(data.allocation.clients)
    assert sum(Decimal(r["BilledCost"]) for r in rows) == data.paid_cad == Decimal("285.00")
    assert sum(Decimal(r["EffectiveCost"]) for r in rows) == data.allocation.allocated_cad
    assert {r["ChargePeriodStart"] for r in rows} == {"2026-11-01"}
    assert {r["ChargePeriodEnd"] for r in rows} == {"2026-12-01"}
    assert {r["BillingCurrency"] for r in rows} == {"CAD"}
    journal = next(r for r in rows if r["SubAccountId"] == "journal-alternatif")
    assert journal["x_Solidarity"] == "true" and journal["x_Subsidy"] == "28.99"


def test_a_closed_month_is_read_from_the_ledger(lab: Inventory, tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        close_month(lab, MONTH, ledger)
    data = report_data(lab, MONTH, path)
    assert data.closed and data.record is not None and data.record.version == 1
    assert data.budget.closed == (MONTH,)
    html = render_html(data, "fr")
    assert "Mois clôturé dans le registre : version 1" in html
    assert "Mois non clôturé" not in html


def test_a_missing_ledger_is_not_created(lab: Inventory, tmp_path: Path) -> None:
    report_data(lab, MONTH, tmp_path / "absent.sqlite")
    assert not (tmp_path / "absent.sqlite").exists()


def test_every_label_has_french_and_english() -> None:
    for key, (fr, en) in CATALOGUE.items():
        assert fr and en, key


def test_chart_scales_bars_and_escapes_labels() -> None:
    svg = bar_chart("a<b", [("x & y", Decimal(100), "100"), ("z", Decimal(50), "50"),
                            ("neg", Decimal(-5), "-5")])
    assert "a&lt;b" in svg and "x &amp; y" in svg
    widths = [int(part.split('"')[0]) for part in svg.split('width="')[2:]]
    assert widths == [280, 140, 0]


@pytest.mark.parametrize(("lang", "fmt"), [("fr", "html"), ("en", "csv"), ("fr", "pdf")])
def test_cli_writes_to_the_default_path_and_prints_it(
    lang: str, fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["report",
        "--month", "2026-11", "--lang", lang, "--format", fmt, "--ledger", "absent.sqlite"])
    assert result.exit_code == 0, result.output
    expected = Path("var/reports") / f"lab-2026-11-{lang}.{fmt}"
    assert str(expected) in result.output
    assert (tmp_path / expected).stat().st_size > 0


def test_cli_refuses_a_bad_month() -> None:
    result = CliRunner().invoke(main, ["report", "--month", "2026-13"])
    assert result.exit_code == 2


def test_money_is_babel_s_and_keeps_the_sign_of_zero() -> None:
    assert money(Decimal("1234.5"), "fr") == f"1{NBSP}234,50{NBSP}$"
    assert money(Decimal("1234.50"), "en") == "$1,234.50"
    assert money(Decimal("0.00"), "fr") == f"0,00{NBSP}$"
    assert money(Decimal("-0.00"), "fr") == f"-0,00{NBSP}$"  # not the cached 0.00
    assert money(Decimal("0.00"), "en") == "$0.00"
