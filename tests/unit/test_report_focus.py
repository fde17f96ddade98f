"""The FOCUS 1.0 export: every rule of the FinOps Foundation's validator passes, and its
money columns add up to the ledger's figures to the cent."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from focuscheck import focus_validation

from koumbit_infra.cost import Ledger, Month, RecordedUsage, ReservedOnly, close_month
from koumbit_infra.cost.usage.synthetic import generated_inventory, generated_usage
from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory
from koumbit_infra.report import ReportData, render, report_data
from koumbit_infra.report.focus import COLUMNS, column_sums

MONTH = Month.parse("2026-11")


@pytest.fixture(scope="module")
def lab() -> Inventory:
    return load_env("lab")


@pytest.fixture(scope="module")
def lab_closed(lab: Inventory, tmp_path_factory: pytest.TempPathFactory) -> ReportData:
    """The lab's November, closed in a ledger (reserved usage), read back for the export."""
    ledger_path = tmp_path_factory.mktemp("focus") / "ledger.sqlite"
    with Ledger.open(ledger_path) as ledger:
        close_month(lab, MONTH, ledger, source=ReservedOnly(), revision=None)
    return report_data(lab, MONTH, ledger_path)


def _validated(text: str, path: Path) -> dict[str, tuple[str, str, list[str]]]:
    path.write_text(text, encoding="utf-8")
    return focus_validation(path)


def _not_passed(results: dict[str, tuple[str, str, list[str]]]) -> dict[str, object]:
    return {name: r for name, r in results.items() if r[0] != "passed"}


def test_lab_closed_month_passes_every_rule_of_the_validator(
    lab_closed: ReportData, tmp_path: Path
) -> None:
    assert lab_closed.closed
    results = _validated(render(lab_closed, "fr", "focus").decode(), tmp_path / "lab.csv")
    assert len(results) == 133  # every FOCUS 1.0 rule of focus-validator 1.0.0
    assert _not_passed(results) == {}


def test_generated_2000_client_month_passes_every_rule(tmp_path: Path) -> None:
    inv = generated_inventory(2000, 5000)
    ledger_path = tmp_path / "ledger.sqlite"
    with Ledger.open(ledger_path) as ledger:
        close_month(inv, MONTH, ledger, source=RecordedUsage(generated_usage(inv, MONTH)),
                    revision=None)
    data = report_data(inv, MONTH, ledger_path)
    text = render(data, "en", "focus").decode()
    results = _validated(text, tmp_path / "generated.csv")
    assert len(results) == 133
    assert _not_passed(results) == {}
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sum(r["ChargeCategory"] == "Purchase" for r in rows) == 2000
    assert len({r["ResourceId"] for r in rows if r["ResourceType"] == "Site"}) == 5000
    sums = column_sums(text)
    assert sums["EffectiveCost"] == data.allocation.total_cad
    assert sums["BilledCost"] == data.paid_cad


def test_the_committee_table_is_not_focus_so_the_check_can_fail(
    lab_closed: ReportData, tmp_path: Path
) -> None:
    results = _validated(render(lab_closed, "en", "csv").decode(), tmp_path / "simple.csv")
    failed = _not_passed(results)
    assert "BillingAccountId_Required" in failed and "ChargePeriodStart_IsDateTime" in failed
    assert len(failed) > 30


def test_billed_is_what_clients_paid_and_effective_the_whole_cost(
    lab_closed: ReportData,
) -> None:
    text = render(lab_closed, "fr", "focus").decode()
    sums = column_sums(text)
    alloc = lab_closed.allocation
    assert sums["BilledCost"] == sum((c.paid_cad for c in alloc.clients), Decimal("0.00"))
    assert sums["EffectiveCost"] == alloc.allocated_cad + alloc.idle_cad == alloc.total_cad
    rows = list(csv.DictReader(io.StringIO(text)))
    idle = [r for r in rows if r["BillingAccountId"] == "infra"]
    assert sum(Decimal(r["EffectiveCost"]) for r in idle) == alloc.idle_cad
    assert {r["ResourceType"] for r in idle} <= {"Server", ""}
    subsidy = sum(Decimal(r["x_SubsidyCost"]) for r in rows if r["x_SubsidyCost"])
    assert subsidy == alloc.solidarity_totals()[0]
    assert {r["x_LedgerVersion"] for r in rows} == {"1"}  # each figure names its close
    assert list(rows[0]) == list(COLUMNS)


def test_months_are_utc_instants_of_montreal_midnights(lab_closed: ReportData) -> None:
    rows = list(csv.DictReader(io.StringIO(render(lab_closed, "en", "focus").decode())))
    # November 1st 2026 is still daylight time in Montreal (UTC-4); December 1st is not.
    assert {(r["ChargePeriodStart"], r["ChargePeriodEnd"]) for r in rows} == {
        ("2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z")}


def test_a_fiscal_year_export_has_each_month_on_its_own_rows(lab: Inventory) -> None:
    months = [Month(2026, 4), Month(2026, 5)]
    data = report_data(lab, months, None, fiscal_year="2026-2027")
    rows = list(csv.DictReader(io.StringIO(render(data, "en", "focus").decode())))
    starts = sorted({r["ChargePeriodStart"] for r in rows})
    assert starts == ["2026-04-01T04:00:00Z", "2026-05-01T04:00:00Z"]
    assert column_sums(render(data, "en", "focus").decode())["EffectiveCost"] == \
        data.allocation.total_cad


def test_a_client_name_written_as_a_formula_stays_text(lab: Inventory, tmp_path: Path) -> None:
    hostile = lab.clients[0].model_copy(update={"name": "=HYPERLINK(\"http://x.test\",\"a\")"})
    inv = Inventory(lab.env, lab.root, lab.settings, lab.admins, lab.servers, lab.plans,
                    (hostile, *lab.clients[1:]), lab.budget)
    text = render(report_data(inv, MONTH, None), "fr", "focus").decode()
    names = {r["BillingAccountName"] for r in csv.DictReader(io.StringIO(text))}
    assert "'=HYPERLINK(\"http://x.test\",\"a\")" in names
    assert not any(n.startswith(("=", "+", "-", "@")) for n in names)
