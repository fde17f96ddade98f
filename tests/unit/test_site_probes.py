"""Every site probed from outside: targets and modules from the inventory, checked by the real
blackbox exporter and promtool, then run by the real exporter against loopback servers that
answer as the lab's vhosts would (and as broken ones would)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml
from blackboxrun import Answer, FakeWeb, check_blackbox, check_file_sd, live_blackbox
from test_prometheus_rules import (
    alerts_tested_firing_and_silent,
    check_config,
    config_file,
    promtool,
    run,
)
from test_templates import check_shell

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory, InventoryError, SiteState, load_inventory
from koumbit_infra.monitoring.probes import (
    BLACKBOX_CONFIG,
    BLACKBOX_LISTEN,
    MAINTENANCE_MARKER,
    MAINTENANCE_MODULE,
    REDIRECTS_FILE,
    SITE_MODULE,
    SITES_FILE,
    TARGETS_DIR,
    ProbeTarget,
    ProbeTargetError,
    blackbox_config,
    blackbox_defaults,
    canonical_url,
    probe_files,
    redirect_module,
    redirect_targets,
    site_targets,
    targets_file,
)
from koumbit_infra.sites.files import server_files
from koumbit_infra.sites.layout import MAINTENANCE_ROOT
from koumbit_infra.templating import TEMPLATE_DIR, render

ROOT = Path(__file__).resolve().parents[2]
ENVS = ("lab", "example")
RULES = TEMPLATE_DIR / "etc/prometheus/rules/koumbit-sites.rules.yml"
RULE_TESTS = ROOT / "tests/fixtures/prometheus/koumbit-sites.test.yml"
LABELS = {"site", "client", "server", "state", "instance", "__param_module",
          "__param_hostname"}


# --- targets and modules, from the inventory -------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_every_present_site_is_probed_once_on_its_own_server(env: str) -> None:
    inv = load_env(env)
    targets = {t.site: t for t in site_targets(inv)}
    present = [p for p in inv.placed_sites() if p.site.state is not SiteState.ABSENT]
    assert len(targets) == len(site_targets(inv)) == len(present)
    assert present, "an inventory without sites proves nothing here"
    for placed in present:
        site = placed.site
        target = targets[site.domain]
        address = inv.server(site.server).address
        scheme = "https" if site.tls else "http"
        assert target.url == f"{scheme}://{address}/"
        assert target.hostname == site.domain
        assert target.instance == canonical_url(placed) == f"{scheme}://{site.domain}/"
        assert (target.client, target.server, target.state) == (
            placed.client.slug, site.server, site.state.value)
        expected = MAINTENANCE_MODULE if site.state is SiteState.DISABLED else SITE_MODULE
        assert target.module == expected


def test_absent_sites_are_not_probed() -> None:
    inv = load_env("lab")
    gone = inv.clients[0].sites[0].domain
    assert gone in {t.site for t in site_targets(inv)}
    inv = _with_site(inv, state=SiteState.ABSENT)
    probed = {t.site for t in (*site_targets(inv), *redirect_targets(inv))}
    assert gone not in probed


def test_the_lab_has_a_disabled_site_probed_for_its_maintenance_page() -> None:
    disabled = [t for t in site_targets(load_env("lab")) if t.state == "disabled"]
    assert [t.site for t in disabled] == ["droits-humains.test"]
    assert disabled[0].module == MAINTENANCE_MODULE


@pytest.mark.parametrize("env", ENVS)
def test_every_redirect_of_a_site_is_probed(env: str) -> None:
    inv = load_env(env)
    got = {(t.instance, t.module) for t in redirect_targets(inv)}
    expected = set()
    for placed in inv.placed_sites():
        site = placed.site
        if site.state is SiteState.ABSENT:
            continue
        module = redirect_module(placed)
        if site.tls:
            expected.add((f"http://{site.domain}/", module))
        for alias in site.aliases:
            expected.add((f"{'https' if site.tls else 'http'}://{alias}/", module))
            if site.tls:
                expected.add((f"http://{alias}/", module))
    assert got == expected and len(got) == len(redirect_targets(inv))
    assert any("www." in instance for instance, _ in got), "no alias in this inventory"


def test_a_redirect_module_expects_a_301_to_the_canonical_url_only() -> None:
    inv = load_env("lab")
    modules = yaml.safe_load(blackbox_config(inv))["modules"]
    erables = inv.site("erables.test")
    http = modules[redirect_module(erables)]["http"]
    assert http["valid_status_codes"] == [301]
    assert http["follow_redirects"] is False
    assert http["fail_if_header_not_matches"] == [
        {"header": "Location", "regexp": r"^https://erables\.test/$"}]
    # One module per site that is not absent, and the three shared ones (site, maintenance,
    # staging copy).
    present = [p for p in inv.placed_sites() if p.site.state is not SiteState.ABSENT]
    assert len(modules) == len(present) + 3


@pytest.mark.parametrize("env", ENVS)
def test_targets_files_carry_the_site_labels_and_nothing_else(env: str) -> None:
    inv = load_env(env)
    for targets in (site_targets(inv), redirect_targets(inv)):
        entries = json.loads(targets_file(targets))
        assert len(entries) == len(targets)
        for entry, target in zip(entries, targets, strict=True):
            assert set(entry["labels"]) == LABELS
            assert entry["targets"] == [target.url]
            assert entry["labels"]["__param_hostname"] == target.hostname
        # Label sets are unique: no two probes would make one series.
        keys = {json.dumps(e["labels"], sort_keys=True) for e in entries}
        assert len(keys) == len(entries)


def test_files_are_the_same_bytes_on_every_run() -> None:
    assert probe_files(load_env("example")) == probe_files(load_env("example"))


def test_the_maintenance_marker_is_in_the_page_disabled_sites_serve() -> None:
    inv = load_env("lab")
    page = next(f for f in server_files(inv, inv.server("web1"))
                if f.dest == f"{MAINTENANCE_ROOT}/503.html")
    assert MAINTENANCE_MARKER in page.content


# --- the real checkers --------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_the_blackbox_exporter_accepts_the_rendered_configuration(env: str,
                                                                  tmp_path: Path) -> None:
    check_blackbox(blackbox_config(load_env(env)), tmp_path)


def test_the_blackbox_check_refuses_a_bad_configuration(tmp_path: Path) -> None:
    bad = "modules:\n  x:\n    prober: http\n    http:\n      no_such_field: 1\n"
    with pytest.raises(AssertionError, match="no_such_field"):
        check_blackbox(bad, tmp_path)


@pytest.mark.parametrize("env", ENVS)
def test_promtool_reads_both_targets_files(env: str, tmp_path: Path) -> None:
    inv = load_env(env)
    for targets in (site_targets(inv), redirect_targets(inv)):
        check_file_sd(targets_file(targets), tmp_path)


def test_the_exporter_listens_on_loopback_only(tmp_path: Path) -> None:
    defaults = blackbox_defaults()
    text = render(defaults.template, **defaults.context)
    check_shell(text, tmp_path)
    assert f"--web.listen-address={BLACKBOX_LISTEN}" in text
    assert BLACKBOX_LISTEN.startswith("127.0.0.1:")
    assert f"--config.file={BLACKBOX_CONFIG}" in text


@pytest.mark.parametrize("env", ENVS)
def test_prometheus_probes_through_the_exporter_with_the_targets_files(env: str,
                                                                       tmp_path: Path) -> None:
    cfg = config_file(env)
    text = render(cfg.template, **cfg.context)
    jobs = {j["job_name"]: j for j in yaml.safe_load(text)["scrape_configs"]}
    for name, path in (("koumbit-sites", SITES_FILE), ("koumbit-redirects", REDIRECTS_FILE)):
        job = jobs[name]
        assert job["metrics_path"] == "/probe"
        assert job["file_sd_configs"] == [{"files": [path]}]
        assert job["relabel_configs"] == [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"target_label": "__address__", "replacement": BLACKBOX_LISTEN}]
    assert jobs["blackbox"]["static_configs"][0]["targets"] == [BLACKBOX_LISTEN]
    # promtool reads the target files too (they live elsewhere here than on the server).
    probes = tmp_path / "probes"
    probes.mkdir()
    for f in probe_files(load_env(env)):
        if f.dest.startswith(TARGETS_DIR):
            (probes / Path(f.dest).name).write_text(f.content)
    check_config(text.replace(TARGETS_DIR, str(probes)), tmp_path)


# --- hostile values -------------------------------------------------------------------------


def _with_site(inv: Inventory, **changes: object) -> Inventory:
    """``inv`` with its first site's fields replaced, unvalidated (as if a check were missed)."""
    client = inv.clients[0]
    site = client.sites[0].model_copy(update=changes)
    client = client.model_copy(update={"sites": (site, *client.sites[1:])})
    return dataclasses.replace(inv, clients=(client, *inv.clients[1:]))


@pytest.mark.parametrize("field", ["domain", "aliases"])
@pytest.mark.parametrize("value", [
    'evil.test"\nmodules: {}', "evil.test\n  koumbit_site: {prober: tcp}", "evil.test/$(id)",
    "evil.test'", "*.evil.test", "evil.test:443", "EVIL.test", "evil..test", "evil.test."])
def test_a_value_no_probe_can_name_is_refused_with_the_site_named(field: str,
                                                                  value: str) -> None:
    inv = load_env("lab")
    first = inv.clients[0].sites[0].domain
    hostile = _with_site(inv, **{field: value if field == "domain" else (value,)})
    for make in (site_targets, redirect_targets, blackbox_config):
        with pytest.raises(ProbeTargetError) as caught:
            make(hostile)
        assert caught.value.exit_code == 2
        assert repr(first if field == "aliases" else value) in caught.value.message
        assert "koumbit-infra check" in caught.value.message


def test_the_inventory_refuses_such_a_domain_before_any_probe(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    shutil.copytree(ROOT / "inventory/lab", root)
    client = root / "clients/centre-femmes.yaml"
    client.write_text(client.read_text().replace(
        "domain: centre-femmes.test", 'domain: "centre-femmes.test\\n  koumbit_site: {}"'))
    with pytest.raises(InventoryError) as caught:
        load_inventory(root)
    assert "centre-femmes.yaml:" in str(caught.value.problems[0])


def test_quotes_in_the_files_cannot_escape_their_strings() -> None:
    """What json and yaml write reads back as the same values, whatever they hold."""
    odd = ProbeTarget(url='https://10.0.0.1/"', hostname="a\"b'c\n{{ x }}", module="m",
                      instance="i", site="s\x00", client="c", server="web1", state="active")
    assert json.loads(targets_file((odd,))) == [odd.file_sd()]


# --- the rules -------------------------------------------------------------------------------


def test_promtool_checks_and_tests_the_site_rules() -> None:
    done = run(promtool(), "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    done = run(promtool(), "test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_site_alert_is_tested_firing_and_silent() -> None:
    alerts = alerts_tested_firing_and_silent(RULES, RULE_TESTS)
    assert alerts == {"KoumbitSiteDown", "KoumbitSiteSlow", "KoumbitSiteCertificateExpiresSoon",
                      "KoumbitSiteShowsMaintenance", "KoumbitDisabledSiteNotInMaintenance",
                      "KoumbitSiteRedirectBroken", "KoumbitSiteProbesNotRunning"}


def test_site_alerts_carry_what_the_alert_routing_needs() -> None:
    """concern and severity on the rule; site, client and server from the probe series
    (their firing cases show them); one line, French first, then English."""
    rules = yaml.safe_load(RULES.read_text())
    cases = yaml.safe_load(RULE_TESTS.read_text())
    fired = {a["alertname"]: a["exp_alerts"] for t in cases["tests"]
             for a in t.get("alert_rule_test", []) if a["exp_alerts"]}
    for rule in rules["groups"][0]["rules"]:
        assert rule["labels"]["concern"] == "sites"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert list(rule["annotations"]) == ["summary"]  # "français / English", one line
        assert "\n" not in rule["annotations"]["summary"]
        if rule["alert"] != "KoumbitSiteProbesNotRunning":  # the prober, not one site
            for alert in fired[rule["alert"]]:
                assert {"site", "client", "server"} <= set(alert["exp_labels"]), rule["alert"]


# --- the real exporter, probing loopback servers that answer like vhosts -------------------


def _maintenance_page(inv: Inventory) -> bytes:
    page = next(f for f in server_files(inv, inv.server("web1"))
                if f.dest == f"{MAINTENANCE_ROOT}/503.html")
    return page.content.encode()


def _as_deployed(inv: Inventory) -> dict[str, Answer]:
    """What each name of the lab answers once deployed: its page, the maintenance page, or a
    301 to its canonical URL (aliases; plain HTTP is answered by the same table)."""
    answers: dict[str, Answer] = {}
    for placed in inv.placed_sites():
        site = placed.site
        if site.state is SiteState.DISABLED:
            answers[site.domain] = Answer(503, _maintenance_page(inv))
        else:
            answers[site.domain] = Answer(200, b"<html><title>Un site</title></html>")
        for alias in site.aliases:
            answers[alias] = Answer(301, location=canonical_url(placed))
    return answers


def _local(target: ProbeTarget, web: FakeWeb) -> str:
    """The target's URL with the loopback server's port instead of the web server."""
    port = web.tls_port if target.url.startswith("https") else web.http_port
    scheme = target.url.split(":", 1)[0]
    return f"{scheme}://127.0.0.1:{port}/"


def test_the_real_exporter_sees_every_lab_site_as_deployed(tmp_path: Path) -> None:
    inv = load_env("lab")
    web = FakeWeb(_as_deployed(inv))
    names = tuple(d for p in inv.placed_sites() for d in p.site.all_domains)
    with live_blackbox(blackbox_config(inv), web, tmp_path, names) as blackbox:
        for target in site_targets(inv):
            got = blackbox.probe(_local(target, web), target.module, target.hostname)
            assert got["probe_success"] == 1, target
            assert got["probe_ssl_earliest_cert_expiry"] > 0
            expected = 503 if target.state == "disabled" else 200
            assert got["probe_http_status_code"] == expected
        for target in redirect_targets(inv):
            if target.url.startswith("http:"):
                # Plain HTTP answers every name with a 301 to HTTPS, as the vhost does.
                placed = inv.site(target.hostname)
                web.answers[target.hostname] = Answer(301, location=canonical_url(placed))
            got = blackbox.probe(_local(target, web), target.module, target.hostname)
            assert got["probe_success"] == 1, target
            web.answers.update(_as_deployed(inv))
    # Each probe asked its site by name: Host header, and TLS server name over HTTPS.
    asked = {(scheme, host) for scheme, host, _ in web.seen}
    assert {("https", t.hostname) for t in site_targets(inv)} <= asked
    assert all(sni == host for scheme, host, sni in web.seen if scheme == "https")


def test_the_real_exporter_catches_each_kind_of_failure(tmp_path: Path) -> None:
    inv = load_env("lab")
    web = FakeWeb(_as_deployed(inv))
    names = tuple(d for p in inv.placed_sites() for d in p.site.all_domains)
    active, disabled = inv.site("erables.test"), inv.site("droits-humains.test")
    page = _maintenance_page(inv)
    with live_blackbox(blackbox_config(inv), web, tmp_path, names) as blackbox:
        https = f"https://127.0.0.1:{web.tls_port}/"

        def probe(module: str, name: str) -> dict[str, float]:
            return blackbox.probe(https, module, name)

        # An active site showing the maintenance page: a failed probe, status 503.
        web.answers["erables.test"] = Answer(503, page)
        got = probe(SITE_MODULE, "erables.test")
        assert (got["probe_success"], got["probe_http_status_code"]) == (0, 503)
        # ... or showing it with a 200: still refused, by the page's own title.
        web.answers["erables.test"] = Answer(200, page)
        assert probe(SITE_MODULE, "erables.test")["probe_failed_due_to_regex"] == 1
        # An active site whose PHP is gone (nginx answers 502).
        web.answers["erables.test"] = Answer(502, b"<html>502 Bad Gateway</html>")
        assert probe(SITE_MODULE, "erables.test")["probe_success"] == 0
        # A disabled site serving its pages, and one answering a 503 that is not ours.
        web.answers["droits-humains.test"] = Answer(200, b"<html>the site again</html>")
        got = probe(MAINTENANCE_MODULE, "droits-humains.test")
        assert (got["probe_success"], got["probe_http_status_code"]) == (0, 200)
        web.answers["droits-humains.test"] = Answer(503, b"<html>overloaded</html>")
        assert probe(MAINTENANCE_MODULE, "droits-humains.test")["probe_success"] == 0
        # A redirect to another place than the canonical URL, and an alias that serves.
        web.answers["www.erables.test"] = Answer(301, location="https://erables.test/fr/")
        assert probe(redirect_module(active), "www.erables.test")["probe_success"] == 0
        web.answers["www.erables.test"] = Answer(200, b"<html>copy</html>")
        assert probe(redirect_module(active), "www.erables.test")["probe_success"] == 0
        web.answers["www.erables.test"] = Answer(302, location=canonical_url(active))
        assert probe(redirect_module(active), "www.erables.test")["probe_success"] == 0
        # A certificate the monitoring server does not trust: down, whatever the page.
        web.answers.update(_as_deployed(inv))
        web.rogue.add("erables.test")
        got = probe(SITE_MODULE, "erables.test")
        assert (got["probe_success"], got["probe_http_status_code"]) == (0, 0)
        # The same site, trusted again, answers: the failures above were the cases', not
        # the harness's.
        web.rogue.clear()
        assert probe(SITE_MODULE, "erables.test")["probe_success"] == 1
        assert probe(MAINTENANCE_MODULE, disabled.site.domain)["probe_success"] == 1
