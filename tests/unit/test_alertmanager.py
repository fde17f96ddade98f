"""Alertmanager and the monitoring server's mail, rendered for the lab, example and base
inventories and checked by the real tools: `amtool check-config` on the configuration,
`amtool config routes test` on the routing, `amtool template render` on the e-mail
template, and the shell that update-exim4.conf sources on exim's settings.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from brokencases import BASE

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory, Role, load_inventory
from koumbit_infra.inventory.models import AlertSeverity, Concern
from koumbit_infra.monitoring import alerting, mail
from koumbit_infra.monitoring.prometheus import CONFIG_DEST as PROMETHEUS_CONFIG
from koumbit_infra.monitoring.prometheus import RULES_DIR, prometheus_files
from koumbit_infra.serverconf.files import ConfigFile
from koumbit_infra.templating import TEMPLATE_DIR, render

ENVS = ("lab", "example")
EMAIL_TEMPLATE = TEMPLATE_DIR / alerting.EMAIL_TEMPLATE.lstrip("/")


def amtool() -> str:
    found = shutil.which("amtool")
    if found is None:
        pytest.fail("amtool is missing: run scripts/bootstrap (prometheus-alertmanager,"
                    " scripts/host-packages.txt)")
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def base_inventory() -> Inventory:
    """The unit tests' base inventory: a smarthost, a webhook, two receivers, a route."""
    return load_inventory(BASE)


def the_file(files: tuple[ConfigFile, ...], dest: str) -> str:
    cfg = next(f for f in files if f.dest == dest)
    return render(cfg.template, **cfg.context)


def config_text(inv: Inventory) -> str:
    return the_file(alerting.alertmanager_files(inv), alerting.CONFIG_DEST)


def check_alertmanager_config(text: str, tmp: Path) -> None:
    """amtool check-config on a rendered alertmanager.yml, its e-mail template beside it."""
    template = tmp / "koumbit.tmpl"
    shutil.copy(EMAIL_TEMPLATE, template)
    path = tmp / "alertmanager.yml"
    path.write_text(text.replace(alerting.EMAIL_TEMPLATE, str(template)))
    done = run(amtool(), "check-config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 templates" in done.stdout, done.stdout


_EXIM_LINE = re.compile(r"(dc_[a-z_]+|CFILEMODE)='[^'\n\\`$]*'")


def exim_values(text: str, tmp: Path) -> dict[str, str]:
    """The values update-exim4.conf reads from its settings, as the shell sources them."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines and all(_EXIM_LINE.fullmatch(line) for line in lines), text
    path = tmp / "update-exim4.conf.conf"
    path.write_text(text)
    names = [line.split("=", 1)[0] for line in lines]
    script = f'. "{path}"; ' + " ".join(f'printf "%s\\0" "${n}";' for n in names)
    done = run("env", "-i", "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    return dict(zip(names, done.stdout.split("\0")[:-1], strict=True))


def check_exim_settings(text: str, tmp: Path) -> None:
    values = exim_values(text, tmp)
    assert values["dc_eximconfig_configtype"] in {"internet", "smarthost"}
    assert values["dc_local_interfaces"] == mail.LISTEN


_ALIAS = re.compile(r"([a-z0-9][a-z0-9._+-]*): ([A-Za-z0-9._+-]+(?:@[a-z0-9.-]+)?)")


def alias_pairs(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    pairs = [_ALIAS.fullmatch(line) for line in lines]
    assert all(pairs), text
    names = [p[1] for p in pairs if p]
    assert len(names) == len(set(names)), "an alias named twice"
    return {p[1]: p[2] for p in pairs if p}


def check_aliases(text: str, tmp: Path) -> None:
    assert alias_pairs(text)["postmaster"] == "root"


# --- the configuration, as amtool reads it -----------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_amtool_checks_the_rendered_config(env: str, tmp_path: Path) -> None:
    check_alertmanager_config(config_text(load_env(env)), tmp_path)


def test_amtool_checks_the_base_inventorys_config_with_a_webhook(tmp_path: Path) -> None:
    text = config_text(base_inventory())
    check_alertmanager_config(text, tmp_path)
    receivers = {r["name"]: r for r in yaml.safe_load(text)["receivers"]}
    assert receivers["infra"]["webhook_configs"] == [
        {"url": "http://127.0.0.1:8099/koumbit", "send_resolved": True}]
    assert "webhook_configs" not in receivers["finances"]
    assert receivers["finances"]["email_configs"][0]["to"] == (
        "finances@koumbit-lab.test, tresorerie@koumbit-lab.test")


def test_the_check_reads_the_email_template(tmp_path: Path) -> None:
    """A template amtool cannot parse fails the check the deploy runs before a reload."""
    broken = tmp_path / "broken"
    broken.mkdir()
    template = broken / "koumbit.tmpl"
    template.write_text('{{ define "koumbit.text" }}{{ if }}')
    path = broken / "alertmanager.yml"
    path.write_text(config_text(load_env("lab")).replace(alerting.EMAIL_TEMPLATE,
                                                         str(template)))
    done = run(amtool(), "check-config", str(path))
    assert done.returncode != 0, done.stdout


def routed(text: str, tmp: Path, labels: dict[str, str]) -> str:
    """The receiver(s) amtool routes an alert with ``labels`` to."""
    path = tmp / "alertmanager.yml"
    path.write_text(text)
    done = run(amtool(), "config", "routes", "test", f"--config.file={path}",
               *(f"{k}={v}" for k, v in labels.items()))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(("labels", "receiver"), [
    ({"concern": "budget", "severity": "warning"}, "finances"),
    ({"concern": "budget", "severity": "critical"}, "finances"),
    ({"concern": "sites", "severity": "critical", "site": "a.test", "server": "web1"},
     "astreinte"),
    ({"concern": "servers", "severity": "critical", "server": "web1"}, "astreinte"),
    ({"concern": "sites", "severity": "warning", "site": "a.test"}, "infra"),
    ({"concern": "capacity", "severity": "critical"}, "infra"),
    ({"concern": "backups", "severity": "critical", "site": "a.test"}, "infra"),
    ({"alertname": "SansEtiquettes"}, "infra"),  # an alert without our labels still reaches
])
def test_lab_alerts_reach_the_receiver_their_concern_and_severity_name(
        labels: dict[str, str], receiver: str, tmp_path: Path) -> None:
    assert routed(config_text(load_env("lab")), tmp_path, labels) == receiver


@pytest.mark.parametrize(("labels", "receiver"), [
    # Both routes match a critical budget alert: the first one listed takes it.
    ({"concern": "budget", "severity": "critical"}, "finances"),
    ({"concern": "capacity", "severity": "critical"}, "astreinte"),
    ({"concern": "capacity", "severity": "warning"}, "infra"),
])
def test_routes_are_tried_in_the_order_the_inventory_lists_them(
        labels: dict[str, str], receiver: str, tmp_path: Path) -> None:
    assert routed(config_text(load_env("example")), tmp_path, labels) == receiver


def test_without_an_alerting_section_every_alert_goes_to_admin_email(tmp_path: Path) -> None:
    inv = load_env("lab")
    bare = Inventory(inv.env, inv.root, inv.settings, inv.admins, inv.servers, inv.plans,
                     inv.clients, inv.budget)
    text = config_text(bare)
    parsed = yaml.safe_load(text)
    assert [r["email_configs"][0]["to"] for r in parsed["receivers"]] == [
        inv.settings.admin_email]
    assert parsed["global"]["smtp_from"] == inv.settings.admin_email
    for concern in Concern:
        assert routed(text, tmp_path, {"concern": concern.value}) == "infra"


def test_alerts_are_grouped_by_concern_server_and_site() -> None:
    route = yaml.safe_load(config_text(load_env("lab")))["route"]
    assert route["group_by"] == ["concern", "server", "site"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "30s", "2m", "6h")


def test_a_server_down_silences_every_other_alert_of_that_server() -> None:
    rules = yaml.safe_load(config_text(load_env("lab")))["inhibit_rules"]
    assert rules == [{"source_matchers": ['alertname="KoumbitServerDown"'],
                      "target_matchers": ['alertname!="KoumbitServerDown"'],
                      "equal": ["server"]}]
    alerts = {r["alert"]: r for r in rule_list() if "alert" in r}
    # The source alert exists, and its series carry the server the inhibition matches on.
    assert alerts[alerting.SERVER_DOWN]["expr"].strip() == 'up{job="node"} == 0'


def test_mail_goes_to_the_local_exim_in_plain_text() -> None:
    parsed = yaml.safe_load(config_text(load_env("example")))
    assert parsed["global"]["smtp_smarthost"] == "127.0.0.1:25"
    assert parsed["global"]["smtp_require_tls"] is False
    assert parsed["templates"] == [alerting.EMAIL_TEMPLATE]
    for receiver in parsed["receivers"]:
        for email in receiver["email_configs"]:
            assert email["html"] == ""
            assert email["send_resolved"] is True
            assert email["text"] == '{{ template "koumbit.text" . }}'
            assert email["headers"] == {"Subject": '{{ template "koumbit.subject" . }}'}


def test_alertmanager_listens_on_loopback_only_without_a_cluster_port() -> None:
    text = the_file(alerting.alertmanager_files(load_env("lab")), alerting.DEFAULTS_DEST)
    args = re.fullmatch(r'ARGS="([^"]*)"', text.strip().splitlines()[-1])
    assert args, text
    assert args[1].split() == ["--web.listen-address=127.0.0.1:9093",
                               "--web.external-url=http://127.0.0.1:9093/",
                               "--cluster.listen-address="]
    amtool_yml = the_file(alerting.alertmanager_files(load_env("lab")), alerting.AMTOOL_DEST)
    assert yaml.safe_load(amtool_yml) == {"alertmanager.url": "http://127.0.0.1:9093/"}


@pytest.mark.parametrize("env", ENVS)
def test_prometheus_sends_its_alerts_to_the_local_alertmanager(env: str) -> None:
    inv = load_env(env)
    monitor = inv.servers_with(Role.MONITOR)[0]
    parsed = yaml.safe_load(the_file(prometheus_files(inv, monitor), PROMETHEUS_CONFIG))
    assert parsed["alerting"] == {
        "alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]}


# --- the rules carry what Alertmanager routes and groups on ------------------------------


def rule_list() -> list[dict[str, Any]]:
    out = []
    for path in sorted((TEMPLATE_DIR / RULES_DIR.lstrip("/")).glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            out += group["rules"]
    return out


def test_every_alert_rule_carries_a_severity_a_concern_and_a_french_english_summary() -> None:
    alerts = [r for r in rule_list() if "alert" in r]
    # Every rule file is read: one alert of each.
    assert {"KoumbitServerDown", "KoumbitBackupSnapshotTooOld",
            "KoumbitBudgetProjectionOverAllocation"} <= {r["alert"] for r in alerts}
    for rule in alerts:
        labels = rule.get("labels", {})
        assert labels.get("severity") in {s.value for s in AlertSeverity}, rule["alert"]
        assert labels.get("concern") in {c.value for c in Concern}, rule["alert"]
        french, sep, english = rule["annotations"]["summary"].partition(" / ")
        assert sep and french.strip() and english.strip(), rule["alert"]
        assert "\n" not in rule["annotations"]["summary"], rule["alert"]


# --- the e-mail, as Alertmanager's own template engine writes it -------------------------


def alert(status: str, **labels: str) -> dict[str, Any]:
    return {"status": status, "labels": {"severity": "critical", **labels},
            "annotations": {"summary": f"{labels.get('site', 'x')} ne répond pas /"
                                       f" {labels.get('site', 'x')} does not answer"},
            "startsAt": "2026-05-01T10:00:00Z",
            "endsAt": "2026-05-01T10:07:00Z" if status == "resolved" else
                      "0001-01-01T00:00:00Z",
            "generatorURL": "", "fingerprint": labels.get("alertname", "a")}


def email(tmp: Path, alerts: list[dict[str, Any]], group: dict[str, str]) -> tuple[str, str]:
    """(subject, body) that amtool renders from koumbit.tmpl for one notification."""
    common = {k: v for k, v in alerts[0]["labels"].items()
              if all(a["labels"].get(k) == v for a in alerts)}
    firing = any(a["status"] == "firing" for a in alerts)
    data = {"receiver": "infra", "status": "firing" if firing else "resolved",
            "alerts": alerts, "groupLabels": group, "commonLabels": common,
            "commonAnnotations": {}, "externalURL": alerting.EXTERNAL_URL}
    path = tmp / "data.json"
    path.write_text(json.dumps(data))
    out = []
    for name in ("koumbit.subject", "koumbit.text"):
        done = run(amtool(), "template", "render", f"--template.glob={EMAIL_TEMPLATE}",
                   f"--template.data={path}", f'--template.text={{{{ template "{name}" . }}}}')
        assert done.returncode == 0, done.stderr
        out.append(done.stdout)
    assert "<no value>" not in "".join(out)
    return out[0], out[1]


SITE = {"site": "journal.koumbit-lab.test", "client": "journal-alternatif", "server": "web1",
        "concern": "sites"}


def test_a_site_alert_mail_names_site_client_and_server_french_first(tmp_path: Path) -> None:
    subject, body = email(tmp_path, [alert("firing", alertname="KoumbitSiteDown", **SITE)],
                          {k: SITE[k] for k in ("concern", "server", "site")})
    assert subject == ("[ALERTE / FIRING] site journal.koumbit-lab.test, client"
                       " journal-alternatif, web1 : KoumbitSiteDown")
    french = body.index("Alertes en cours, site journal.koumbit-lab.test (client"
                        " journal-alternatif) sur le serveur web1 : 1 en cours")
    english = body.index("Firing alerts, site journal.koumbit-lab.test (client"
                         " journal-alternatif) on server web1: 1 firing")
    assert french < english
    assert ("journal.koumbit-lab.test ne répond pas / journal.koumbit-lab.test does not"
            " answer") in body
    for line in ("Site : journal.koumbit-lab.test", "Client : journal-alternatif",
                 "Serveur / server : web1", "Depuis / since : 2026-05-01 10:00 UTC"):
        assert f"\n  {line}\n" in body
    assert 'amtool silence add --duration=2h --comment="raison / reason" concern="sites"' \
           ' server="web1" site="journal.koumbit-lab.test"' in body


def test_the_resolved_notice_says_so_in_both_languages(tmp_path: Path) -> None:
    subject, body = email(tmp_path, [alert("resolved", alertname="KoumbitSiteDown", **SITE)],
                          {k: SITE[k] for k in ("concern", "server", "site")})
    assert subject.startswith("[RÉSOLU / RESOLVED] site journal.koumbit-lab.test")
    assert body.index("Alertes résolues") < body.index("Resolved alerts")
    assert "\n  Résolue / resolved : 2026-05-01 10:07 UTC\n" in body


def test_a_server_down_notice_names_the_server(tmp_path: Path) -> None:
    labels = {"alertname": "KoumbitServerDown", "server": "web1", "concern": "servers"}
    subject, body = email(tmp_path, [alert("firing", **labels)],
                          {"concern": "servers", "server": "web1"})
    assert subject == "[ALERTE / FIRING] web1 : KoumbitServerDown"
    assert body.index("serveur web1 : 1 en cours") < body.index("server web1: 1 firing")
    assert "Site :" not in body


def test_a_budget_notice_with_two_alerts_counts_them(tmp_path: Path) -> None:
    alerts = [alert("firing", alertname="KoumbitMonthNotClosed", concern="budget"),
              alert("firing", alertname="KoumbitCostMetricsMissing", concern="budget")]
    subject, body = email(tmp_path, alerts, {"concern": "budget"})
    assert subject == "[ALERTE / FIRING] budget : 2 alertes / alerts"
    assert body.index("sujet budget : 2 en cours") < body.index("concern budget: 2 firing")


# --- exim: where the mail goes ----------------------------------------------------------


def test_the_lab_keeps_its_domains_mail_in_the_local_mailbox(tmp_path: Path) -> None:
    inv = load_env("lab")
    files = mail.mail_files(inv)
    values = exim_values(the_file(files, mail.EXIM_CONF), tmp_path)
    assert values["dc_eximconfig_configtype"] == "internet"  # no relay: nothing leaves the lab
    assert values["dc_other_hostnames"] == "koumbit-lab.test"
    assert values["dc_smarthost"] == ""
    assert values["dc_local_interfaces"] == "127.0.0.1"
    aliases = alias_pairs(the_file(files, mail.ALIASES))
    assert aliases["root"] == "infra@koumbit-lab.test"
    # Every receiver's address, and the admins', ends in the one mailbox.
    for address in ("infra@koumbit-lab.test", "astreinte@koumbit-lab.test",
                    "finances@koumbit-lab.test"):
        assert aliases[address.split("@")[0]] == mail.MAILBOX_USER
    # The sender's local part is the mailbox itself: no alias to itself.
    assert mail.MAILBOX_USER not in aliases
    assert dict(mail.DEBIAN_ALIASES).items() <= aliases.items()


def test_a_smarthost_relays_everything_else(tmp_path: Path) -> None:
    inv = base_inventory()
    values = exim_values(the_file(mail.mail_files(inv), mail.EXIM_CONF), tmp_path)
    assert values["dc_eximconfig_configtype"] == "smarthost"
    assert values["dc_smarthost"] == "smtp.koumbit-lab.test::587"  # Debian's host::port
    assert values["dc_other_hostnames"] == "koumbit-lab.test"


def test_production_delivers_directly_and_keeps_no_domain(tmp_path: Path) -> None:
    inv = load_env("example")
    files = mail.mail_files(inv)
    values = exim_values(the_file(files, mail.EXIM_CONF), tmp_path)
    assert (values["dc_eximconfig_configtype"], values["dc_other_hostnames"]) == (
        "smarthost", "")
    aliases = alias_pairs(the_file(files, mail.ALIASES))
    assert mail.MAILBOX_USER not in aliases.values()
    assert aliases["root"] == inv.settings.admin_email


def test_the_sh_check_would_catch_a_value_breaking_out_of_its_quotes(tmp_path: Path) -> None:
    """The checker the hostile tests use refuses what the inventory's types keep out."""
    text = the_file(mail.mail_files(load_env("lab")), mail.EXIM_CONF)
    bad = text.replace("dc_smarthost=''", "dc_smarthost='x'; touch /tmp/pwned; ''")
    with pytest.raises(AssertionError):
        check_exim_settings(bad, tmp_path)
