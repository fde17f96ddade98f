"""Prometheus rules and configuration, checked by the real promtool (Debian package prometheus)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Role
from koumbit_infra.inventory.models import Concern
from koumbit_infra.monitoring.prometheus import (
    CONFIG_DEST,
    RULE_FILES,
    RULES_DESTS,
    RULES_DIR,
    prometheus_files,
    scrape_jobs,
)
from koumbit_infra.serverconf.files import ConfigFile
from koumbit_infra.templating import TEMPLATE_DIR, render

RULES = TEMPLATE_DIR / RULES_DIR.lstrip("/") / "koumbit.rules.yml"
RULE_TESTS = Path(__file__).parents[1] / "fixtures/prometheus/koumbit.rules.test.yml"
ENVS = ("lab", "example")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def config_file(env: str) -> ConfigFile:
    inv = load_env(env)
    monitor = inv.servers_with(Role.MONITOR)[0]
    return next(f for f in prometheus_files(inv, monitor) if f.dest == CONFIG_DEST)


def test_promtool_checks_the_rules() -> None:
    done = run(promtool(), "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_of_the_rules() -> None:
    done = run(promtool(), "test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_test_case() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    cases = yaml.safe_load(RULE_TESTS.read_text())
    tested = {a["alertname"] for t in cases["tests"] for a in t.get("alert_rule_test", [])}
    assert alerts == tested
    assert {"KoumbitFilesystemFullIn4Days", "KoumbitPhpFpmSaturated", "KoumbitExporterDown",
            "KoumbitCollectionStale", "KoumbitDiskQuotaOvercommitted"} <= alerts


def check_config(text: str, tmp: Path) -> None:
    """promtool check config on a rendered prometheus.yml."""
    # The rule files sit elsewhere here than on the server: point the config at copies.
    for name in RULE_FILES:
        shutil.copy(TEMPLATE_DIR / RULES_DIR.lstrip("/") / name, tmp / name)
    path = tmp / "prometheus.yml"
    path.write_text(text.replace(RULES_DIR, str(tmp)))
    done = run(promtool(), "check", "config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("env", ENVS)
def test_promtool_checks_the_rendered_config(env: str, tmp_path: Path) -> None:
    cfg = config_file(env)
    check_config(render(cfg.template, **cfg.context), tmp_path)


@pytest.mark.parametrize("env", ENVS)
def test_both_exporters_of_every_server_are_scraped_by_address(env: str) -> None:
    inv = load_env(env)
    cfg = config_file(env)
    parsed = yaml.safe_load(render(cfg.template, **cfg.context))
    assert parsed["rule_files"] == list(RULES_DESTS)
    # Every rule file in the repository is deployed, none twice.
    shipped = {f.name for f in (TEMPLATE_DIR / RULES_DIR.lstrip("/")).glob("*.yml")}
    assert shipped == set(RULE_FILES) and len(RULE_FILES) == len(RULES_DESTS) == len(shipped)
    jobs = {j["job_name"]: j for j in parsed["scrape_configs"]}
    expected = {s.name for s in inv.servers}
    for name, port in (("node", 9100), ("koumbit", 19100)):
        statics = jobs[name]["static_configs"]
        got = {c["labels"]["server"]: c["targets"] for c in statics}
        assert set(got) == expected
        for server in inv.servers:
            assert got[server.name] == [f"{server.address}:{port}"]
        for c in statics:  # `server` only: never an environment label
            assert set(c["labels"]) == {"server"}
    # Both keep a series' own `server`: the koumbit exporter's, a backup server's textfile's.
    assert jobs["koumbit"]["honor_labels"] is True
    assert jobs["node"]["honor_labels"] is True


def test_scrape_jobs_are_stable() -> None:
    inv = load_env("lab")
    assert scrape_jobs(inv) == scrape_jobs(load_env("lab"))
    names = [t.server for t in scrape_jobs(inv)[0].targets]
    assert names == sorted(names)


def test_prometheus_listens_on_loopback_only() -> None:
    inv = load_env("lab")
    defaults = next(f for f in prometheus_files(inv, inv.server("mon1"))
                    if f.dest == "/etc/default/prometheus")
    text = render(defaults.template, **defaults.context)
    assert '--web.listen-address=127.0.0.1:9090' in text


BACKUP_RULES = TEMPLATE_DIR / RULES_DIR.lstrip("/") / "koumbit-backup.rules.yml"
CERTIFICATE_RULES = TEMPLATE_DIR / RULES_DIR.lstrip("/") / "koumbit-certificates.rules.yml"
ADVISORY_RULES = TEMPLATE_DIR / RULES_DIR.lstrip("/") / "koumbit-advisories.rules.yml"
# Rule files beside koumbit.rules.yml: each with its promtool tests and the alerts it holds.
RULE_SETS = {
    BACKUP_RULES: {"KoumbitBackupSnapshotTooOld", "KoumbitBackupVerificationFailed",
                   "KoumbitBackupVerificationTooOld", "KoumbitBackupRepositoryCheckFailed"},
    CERTIFICATE_RULES: {"KoumbitCertificateRenewalFailed", "KoumbitCertificateNotRenewed",
                        "KoumbitCertificateRenewalNotRunning"},
    ADVISORY_RULES: {"KoumbitSiteAdvisoryOpen"},
}


def _tests_of(rules: Path) -> Path:
    return RULE_TESTS.with_name(rules.name.replace(".rules.yml", ".test.yml"))


@pytest.mark.parametrize("rules", list(RULE_SETS), ids=lambda p: p.name)
def test_promtool_checks_and_tests_the_rules(rules: Path) -> None:
    done = run(promtool(), "check", "rules", str(rules))
    assert done.returncode == 0, done.stdout + done.stderr
    done = run(promtool(), "test", "rules", str(_tests_of(rules)))
    assert done.returncode == 0, done.stdout + done.stderr


def alerts_tested_firing_and_silent(rules_path: Path, tests_path: Path) -> set[str]:
    """The alerts of a rule file, each asserted to have a promtool case where it fires and
    one where it stays silent."""
    rules = yaml.safe_load(rules_path.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    cases = yaml.safe_load(tests_path.read_text())
    checks = [a for t in cases["tests"] for a in t.get("alert_rule_test", [])]
    for alert in alerts:
        expected = [c["exp_alerts"] for c in checks if c["alertname"] == alert]
        assert [] in expected, f"{alert}: no case where it stays silent"
        assert any(expected), f"{alert}: no case where it fires"
    return alerts


def test_every_certificate_alert_is_tested_firing_and_silent() -> None:
    alerts = alerts_tested_firing_and_silent(CERTIFICATE_RULES, _tests_of(CERTIFICATE_RULES))
    assert alerts == RULE_SETS[CERTIFICATE_RULES]


def test_every_backup_alert_is_tested_firing_and_silent() -> None:
    alerts = alerts_tested_firing_and_silent(BACKUP_RULES, _tests_of(BACKUP_RULES))
    assert alerts == RULE_SETS[BACKUP_RULES]


def test_backup_annotations_are_french_first() -> None:
    rules = yaml.safe_load(BACKUP_RULES.read_text())
    for rule in rules["groups"][0]["rules"]:
        for text in rule["annotations"].values():
            french, english = text.split(" / ", 1)
            assert french and english, rule["alert"]


def test_certificate_alerts_name_their_concern_and_speak_french_first() -> None:
    rules = yaml.safe_load(CERTIFICATE_RULES.read_text())
    for rule in rules["groups"][0]["rules"]:
        assert rule["labels"]["concern"] == "sites", rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert list(rule["annotations"]) == ["summary"], rule["alert"]  # "français / English"


def test_the_advisory_alert_is_tested_firing_and_silent_and_routed_as_the_sites() -> None:
    alerts = alerts_tested_firing_and_silent(ADVISORY_RULES, _tests_of(ADVISORY_RULES))
    assert alerts == RULE_SETS[ADVISORY_RULES]
    rules = yaml.safe_load(ADVISORY_RULES.read_text())
    for rule in rules["groups"][0]["rules"]:
        assert rule["labels"]["concern"] == Concern.SITES.value
        french, english = rule["annotations"]["summary"].split(" / ", 1)
        assert "avis" in french and "advisory" in english
