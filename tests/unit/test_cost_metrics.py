"""Cost and budget metrics: values from the ledger, valid exposition, tested alert rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest

from koumbit_infra.cli import main
from koumbit_infra.cost import Ledger, Month, close_month
from koumbit_infra.cost.publishing.metrics import CostCollector
from koumbit_infra.envs import CHECKOUT, load_env

FIXTURES = Path(__file__).parents[1] / "fixtures" / "prometheus"
RULES = CHECKOUT / "templates" / "etc" / "prometheus" / "rules" / "koumbit-budget.rules.yml"


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: scripts/bootstrap installs Debian's prometheus package"
    return found


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    lab = load_env("lab")
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        for month in (Month(2026, 9), Month(2026, 10)):
            close_month(lab, month, ledger)
    return path


def test_metrics_come_from_the_last_closed_month_and_the_budget(ledger_path: Path) -> None:
    lab = load_env("lab")
    registry = CollectorRegistry()
    registry.register(CostCollector(lab, ledger_path))
    value = registry.get_sample_value
    assert value("koumbit_budget_allocated_fiscal_year_cad") == 9000.0
    assert value("koumbit_budget_closed_months") == 2.0
    with Ledger.open(ledger_path) as ledger:
        september = ledger.allocation("lab", Month(2026, 9))
        october = ledger.allocation("lab", Month(2026, 10))
    assert september is not None and october is not None
    for client in october.clients:
        labels = {"client": client.client}
        assert value("koumbit_client_cost_last_closed_month_cad", labels) == float(
            client.cost_cad)
        assert value("koumbit_client_subsidy_last_closed_month_cad", labels) == float(
            client.subsidy_cost_cad)
    spent = sum(
        s.value for m in registry.collect() if m.name == "koumbit_budget_spent_fiscal_year_cad"
        for s in m.samples
    )
    assert spent == pytest.approx(float(september.total_cad + october.total_cad), abs=0.001)
    # 1 October 2026, 00:00 in Montreal (EDT, UTC-4).
    assert value("koumbit_ledger_last_closed_month_timestamp_seconds") == 1790827200.0


def test_a_new_close_is_seen_at_the_next_scrape(ledger_path: Path) -> None:
    lab = load_env("lab")
    registry = CollectorRegistry()
    registry.register(CostCollector(lab, ledger_path))
    assert registry.get_sample_value("koumbit_budget_closed_months") == 2.0
    with Ledger.open(ledger_path) as ledger:
        close_month(lab, Month(2026, 11), ledger)
    assert registry.get_sample_value("koumbit_budget_closed_months") == 3.0


def test_exposition_passes_promtool(ledger_path: Path) -> None:
    registry = CollectorRegistry()
    registry.register(CostCollector(load_env("lab"), ledger_path))
    checked = subprocess.run([_promtool(), "check", "metrics"], input=generate_latest(registry),
                             capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr.decode() + checked.stdout.decode()


def test_budget_rules_pass_promtool_tests() -> None:
    check = subprocess.run([_promtool(), "check", "rules", str(RULES)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    tested = subprocess.run([_promtool(), "test", "rules", "koumbit-budget.test.yml"],
                            cwd=FIXTURES, capture_output=True, text=True, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_metrics_command_refuses_a_missing_ledger(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["cost", "metrics", "--ledger", str(tmp_path / "no.sqlite")])
    assert result.exit_code == 2
    assert "close a month first" in result.output


def test_cost_dashboard_uses_only_metrics_that_exist(ledger_path: Path) -> None:
    import json
    import re

    import yaml
    from test_prometheus_dashboard import metric_names, panels

    registry = CollectorRegistry()
    registry.register(CostCollector(load_env("lab"), ledger_path))
    exposed = set(re.findall(r"^# TYPE (\S+)", generate_latest(registry).decode(), re.M))
    recorded = {r["record"] for g in yaml.safe_load(RULES.read_text())["groups"]
                for r in g["rules"] if "record" in r}
    dashboard = json.loads(
        (CHECKOUT / "templates/etc/grafana/dashboards/koumbit-costs.json").read_text())
    assert dashboard["uid"] == "koumbit-costs"
    used: set[str] = set()
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        for target in panel["targets"]:
            used |= metric_names(target["expr"])
    assert used, "the dashboard queries nothing"
    assert used <= exposed | recorded, used - exposed - recorded
