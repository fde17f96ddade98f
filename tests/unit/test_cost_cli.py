"""``koumbit-infra cost``: close, show and budget, run as a person would."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from koumbit_infra.cli import main


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
