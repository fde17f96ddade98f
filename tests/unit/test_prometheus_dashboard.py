"""The Grafana dashboard: valid, provisionable as a file, and only metrics that exist."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from blackboxrun import Answer, FakeWeb, live_blackbox
from test_exporter_app import fixture_exporter, run_all

from koumbit_infra.envs import load_env
from koumbit_infra.monitoring.probes import blackbox_config, redirect_targets, site_targets
from koumbit_infra.serverconf.backupverify import SCRIPT, verify_files
from koumbit_infra.templating import TEMPLATE_DIR, render

DASHBOARD = TEMPLATE_DIR / "etc/grafana/dashboards/koumbit-capacity.json"
RULES = TEMPLATE_DIR / "etc/prometheus/rules/koumbit.rules.yml"
BACKUP_RULES = TEMPLATE_DIR / "etc/prometheus/rules/koumbit-backup.rules.yml"
SITES_DASHBOARD = TEMPLATE_DIR / "etc/grafana/dashboards/koumbit-sites.json"
SITES_RULES = TEMPLATE_DIR / "etc/prometheus/rules/koumbit-sites.rules.yml"

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


def dashboard_names(dashboard: dict[str, Any]) -> set[str]:
    """The metrics a dashboard's panels and its variables read."""
    used: set[str] = set()
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            used |= metric_names(target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(<metric>, <label>): only the first argument is a metric.
            used.add(re.fullmatch(r"label_values\((\w+), *\w+\)", variable["definition"])[1])
    return used


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


@pytest.mark.parametrize(("path", "uid"), [(DASHBOARD, "koumbit-capacity"),
                                           (SITES_DASHBOARD, "koumbit-sites")])
def test_dashboard_is_valid_json_with_a_datasource_variable(path: Path, uid: str) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] == uid
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
    used = dashboard_names(json.loads(DASHBOARD.read_text()))
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


# --- the sites seen from outside (the blackbox exporter's probes) ---------------------------


def probe_names(tmp_path: Path) -> set[str]:
    """The metrics the real blackbox exporter answers for a site probe and a redirect probe
    of the lab (its # TYPE lines: what Prometheus stores under each name)."""
    inv = load_env("lab")
    site = next(t for t in site_targets(inv) if t.site == "erables.test")
    redirect = next(t for t in redirect_targets(inv) if t.hostname == "www.erables.test"
                    and t.url.startswith("https"))
    web = FakeWeb({"erables.test": Answer(200, b"<html>ok</html>"),
                   "www.erables.test": Answer(301, location="https://erables.test/")})
    with live_blackbox(blackbox_config(inv), web, tmp_path,
                       ("erables.test", "www.erables.test")) as blackbox:
        port = f"127.0.0.1:{web.tls_port}"
        got = {**blackbox.probe(f"https://{port}/", site.module, site.hostname),
               **blackbox.probe(f"https://{port}/", redirect.module, redirect.hostname)}
    assert got["probe_success"] == 1
    # ``up`` is Prometheus's own, for every scrape job.
    return {name for name in got if "{" not in name} | {"up"}


def test_sites_dashboard_and_rules_use_only_metrics_the_blackbox_exporter_exposes(
        tmp_path: Path) -> None:
    exposed = probe_names(tmp_path)
    used = dashboard_names(json.loads(SITES_DASHBOARD.read_text()))
    rules = yaml.safe_load(SITES_RULES.read_text())
    in_rules = {n for g in rules["groups"] for r in g["rules"] for n in metric_names(r["expr"])}
    assert used and in_rules, "no metric found: the parser is broken"
    assert (used | in_rules) - exposed == set()
    assert {"probe_success", "probe_duration_seconds", "probe_ssl_earliest_cert_expiry",
            "probe_http_status_code"} <= used & in_rules


def test_sites_dashboard_shows_availability_per_site_and_client_time_and_expiry() -> None:
    dashboard = json.loads(SITES_DASHBOARD.read_text())
    exprs = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in panels(dashboard)}
    flat = {e for found in exprs.values() for e in found}
    per_site = [e for e in flat if e.startswith("sort(avg_over_time(probe_success{")]
    per_client = [e for e in flat if "avg by (client) (avg_over_time(probe_success{" in e]
    assert per_site and per_client
    assert all("[$__range]" in e and 'state="active"' in e for e in per_site + per_client)
    assert any("probe_duration_seconds{" in e for e in flat)
    assert any(e.startswith("sort((probe_ssl_earliest_cert_expiry{") and e.endswith("/ 86400)")
               for e in flat)
    # Every title says it in French, then in English.
    for title in exprs:
        french, english = title.split(" / ", 1)
        assert french and english, title
    # Filters by client and server, as every probe series carries them.
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"client", "server"} <= variables
    for expr in flat:
        if "probe_" in expr:
            assert 'client=~"$client"' in expr and 'server=~"$server"' in expr, expr
