"""``koumbit-infra cost``: close, show and budget, run as a person would."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from koumbit_infra.cli import main
from koumbit_infra.envs import CHECKOUT


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, ["cost", *args], catch_exceptions=False)

    return invoke


def test_close_without_prometheus_says_it_charges_reservations(run, tmp_path):
    result = run("close", "2026-05")
    assert result.exit_code == 0, result.output
    assert "reserved only" in result.output
    assert "2026-05 (lab) closed as version 1: total 655.00 CAD" in result.output
    assert (tmp_path / "var" / "ledger.sqlite").is_file()
    again = run("close", "2026-05")
    assert "unchanged: already closed as version 1" in again.output


def test_show_prints_the_client_table(run):
    run("close", "2026-05", "--ledger", "l.sqlite")
    result = run("show", "2026-05", "--ledger", "l.sqlite")
    assert result.exit_code == 0, result.output
    assert "Journal alternatif de Montréal" in result.output
    assert "* Comité de parents contre l'austérité" in result.output
    assert "total: 655.00 CAD" in result.output
    assert "solidarity subsidy:" in result.output


def test_show_of_a_month_not_closed_exits_2(run):
    run("close", "2026-05")
    result = run("show", "2026-07")
    assert result.exit_code == 2
    assert "is not closed" in result.output


def test_a_bad_month_is_a_usage_error(run):
    result = run("close", "2026-13")
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output or "not a month" in result.output


def test_unreachable_prometheus_writes_nothing(run, tmp_path):
    result = run("close", "2026-05", "--prometheus", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "nothing was written" in result.output
    assert "not closed" in run("show", "2026-05").output


def test_budget_prints_lines_and_the_projection(run):
    run("close", "2026-04")
    result = run("budget")
    assert result.exit_code == 0, result.output
    assert "1 of 12 months closed" in result.output
    assert "Heures de l'équipe Infra" in result.output
    assert "allocated 9000.00 CAD, projected 7860.00 CAD" in result.output
    assert "ALERT" not in result.output


@pytest.fixture
def inventory_copy(tmp_path):
    """The lab inventory copied under ./inventory (the CLI reads it first), to edit."""
    shutil.copytree(CHECKOUT / "inventory" / "lab", tmp_path / "inventory" / "lab")
    return tmp_path / "inventory" / "lab"


def _raise_transit(inventory: Path) -> None:
    budget = inventory / "budget.yaml"
    text = budget.read_text()
    assert 'monthly_cad: "30.00"' in text
    budget.write_text(text.replace('monthly_cad: "30.00"', 'monthly_cad: "45.00"', 1))


def test_a_past_month_closed_again_with_other_figures_needs_revise(run, inventory_copy):
    assert run("close", "2026-05").exit_code == 0
    _raise_transit(inventory_copy)
    refused = run("close", "2026-05")
    assert refused.exit_code == 2
    assert "2026-05 (lab) was closed as version 1 after the month ended" in refused.output
    assert "total 655.00 -> 670.00 CAD" in refused.output  # what changed, before and after
    assert "nothing was written" in refused.output
    assert 'To record these figures as version 2, run the same command again with --revise' \
        in refused.output
    assert "version 1 of 1" in run("show", "2026-05").output  # nothing was written

    revised = run("close", "2026-05", "--revise", "transit invoice came in higher")
    assert revised.exit_code == 0, revised.output
    assert "2026-05 (lab) closed as version 2: total 670.00 CAD" in revised.output
    assert "revision of version 1: transit invoice came in higher" in revised.output
    again = run("close", "2026-05", "--revise", "once more")
    assert again.exit_code == 0 and "unchanged: already closed as version 2" in again.output
    assert "--revise not used" in again.output


def test_show_prints_the_version_it_shows_and_the_reason_of_a_revision(run, inventory_copy):
    run("close", "2026-05")
    _raise_transit(inventory_copy)
    run("close", "2026-05", "--revise", "transit invoice came in higher")
    latest = run("show", "2026-05")
    assert latest.exit_code == 0, latest.output
    assert "2026-05 (lab): version 2 of 2 (latest), closed " in latest.output
    assert "revision of version 1: transit invoice came in higher" in latest.output
    assert "total: 670.00 CAD" in latest.output
    first = run("show", "2026-05", "--version", "1")
    assert "2026-05 (lab): version 1 of 2 (latest is 2), closed " in first.output
    assert "total: 655.00 CAD" in first.output and "revision of" not in first.output
    missing = run("show", "2026-05", "--version", "3")
    assert missing.exit_code == 2 and "has no version 3: its versions are 1 to 2" in (
        missing.output)


@pytest.mark.parametrize("reason", ["", "two\nlines"])
def test_a_bad_revise_reason_is_a_usage_error(run, reason):
    run("close", "2026-05")
    result = run("close", "2026-05", "--revise", reason)
    assert result.exit_code == 2 and "--revise" in result.output


def test_revise_on_a_month_never_closed_exits_2(run):
    result = run("close", "2026-05", "--revise", "late usage")
    assert result.exit_code == 2
    assert "never closed in this ledger: nothing to revise" in result.output


@pytest.mark.parametrize(("statement", "refusing"), [
    ("UPDATE cost_client SET paid_cents = 0 WHERE client = 'journal-alternatif'",
     (("show", "2026-05"), ("close", "2026-05"))),
    ("UPDATE cost_line SET amount_cents = 0 WHERE position = 0",
     (("show", "2026-05"), ("close", "2026-05"), ("budget",))),
])
def test_a_tampered_month_is_refused_by_the_commands_that_read_it(run, tmp_path, statement,
                                                                  refusing):
    run("close", "2026-05")
    with sqlite3.connect(tmp_path / "var" / "ledger.sqlite") as db:
        db.execute(statement)
    for command in refusing:
        result = run(*command)
        assert result.exit_code == 2, command
        assert "2026-05 (lab) version 1 no longer matches what was closed" in result.output
        assert "Traceback" not in result.output
