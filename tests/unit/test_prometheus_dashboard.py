"""The Grafana dashboard: valid, provisionable as a file, and only metrics that exist."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from test_exporter_app import fixture_exporter, run_all

from koumbit_infra.envs import load_env
from koumbit_infra.serverconf.backupverify import SCRIPT, verify_files
from koumbit_infra.templating import TEMPLATE_DIR, render

DASHBOARD = TEMPLATE_DIR / "etc/grafana/dashboards/koumbit-capacity.json"
RULES = TEMPLATE_DIR / "etc/prometheus/rules/koumbit.rules.yml"
BACKUP_RULES = TEMPLATE_DIR / "etc/prometheus/rules/koumbit-backup.rules.yml"

# Strip what is not a metric name: strings, label matchers, by/without lists,
# durations, Grafana variables; then an identifier not followed by "(" is a metric.
_STRINGS = re.compile(r'"[^"]*"')
_BRACES = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (functions and aggregations left out)."""
    text = _GROUPING.sub(" ", _BRACES.sub(" ", _STRINGS.sub(" ", expr)))
    return {m for m in _IDENT.findall(text) if m not in _KEYWORDS}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exposed_names(tmp_path: Path) -> set[str]:
    exporter = fixture_exporter(tmp_path)
    run_all(exporter)
    body = exporter.exposition.body(False).decode()
    names = set(re.findall(r"^# TYPE (\S+)", body, re.MULTILINE))
    counters = re.findall(r"^# TYPE (\S+) counter", body, re.MULTILINE)
    return names | {f"{n}_total" for n in counters if not n.endswith("_total")}


def backup_names() -> set[str]:
    """The metrics a backup server's koumbit-backup-verify writes (its # TYPE lines)."""
    inv = load_env("lab")
    script = next(f for f in verify_files(inv, inv.server("backup1")) if f.dest == SCRIPT)
    text = render(script.template, **script.context)
    return set(re.findall(r"^# TYPE (\S+) gauge$", text, re.MULTILINE))


def test_metric_names_parser() -> None:
    assert metric_names('topk(10, rate(koumbit_a_total{server=~"$server"}[5m]))') == {
        "koumbit_a_total"}
    assert metric_names("sum by (client) (koumbit_b) / koumbit_c") == {"koumbit_b", "koumbit_c"}
    assert metric_names("time() - koumbit_d > 1800") == {"koumbit_d"}


def test_dashboard_is_valid_json_with_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "koumbit-capacity"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))


def test_dashboard_uses_only_metrics_the_exporter_exposes(tmp_path: Path) -> None:
    exposed = exposed_names(tmp_path) | backup_names()
    dashboard = json.loads(DASHBOARD.read_text())
    used: set[str] = set()
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            used |= metric_names(target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(<metric>, <label>): only the first argument is a metric.
            used.add(re.fullmatch(r"label_values\((\w+), *\w+\)", variable["definition"])[1])
    assert used, "no metric found: the parser is broken"
    assert used - exposed == set()
    # Capacity and usage both covered.
    assert {"koumbit_server_disk_committed_bytes", "koumbit_server_headroom_sites",
            "koumbit_site_disk_bytes", "koumbit_site_cpu_seconds_total"} <= used
    # Every backup metric is shown, per site and target.
    assert backup_names() <= used


def test_backup_panels_show_each_site_on_each_target() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    backup = [t for p in panels(dashboard) for t in p.get("targets", [])
              if "koumbit_backup_" in t["expr"]]
    assert len(backup) >= 5
    for target in backup:
        assert "{{target}}" in target["legendFormat"], target
        assert "{{site}}" in target["legendFormat"] or "repository" in target["expr"]


def test_backup_rules_use_only_metrics_the_verification_writes(tmp_path: Path) -> None:
    rules = yaml.safe_load(BACKUP_RULES.read_text())
    used = {n for g in rules["groups"] for r in g["rules"] for n in metric_names(r["expr"])}
    # And the exporter's koumbit_site_info, for the client of a site's backup alert.
    assert "koumbit_site_info" in exposed_names(tmp_path)
    assert used and used <= backup_names() | {"koumbit_site_info"}
    assert backup_names() & used


def test_rules_use_only_metrics_that_exist(tmp_path: Path) -> None:
    exposed = exposed_names(tmp_path)
    node = {"node_filesystem_avail_bytes", "node_filesystem_size_bytes", "up"}
    rules = yaml.safe_load(RULES.read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    for group in rules["groups"]:
        for rule in group["rules"]:
            names = metric_names(rule["expr"])
            assert names - exposed - node - recorded == set(), rule.get("alert", rule.get("record"))
