"""The server deploys on the real lab: converged once, idempotent, locked down as intended."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deploy_fixture import Deployment, deploy_lab, deployed

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory, Role
from koumbit_infra.lab.ssh import remote
from koumbit_infra.monitoring.probes import BLACKBOX_LISTEN
from koumbit_infra.serverconf import firewall
from koumbit_infra.serverconf.files import base_files
from koumbit_infra.templating import render
from koumbit_infra.tls.trust import bundle_certificates

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]  # the fixture, imported for this module's tests

SERVICES = {
    Role.WEB: ("nginx",),  # and the PHP-FPM of each PHP the server offers (its release's)
    Role.DB: ("mariadb",),
    Role.MONITOR: ("prometheus", "prometheus-blackbox-exporter", "prometheus-alertmanager",
                   "exim4"),  # deploys/probes.py, deploys/alerting.py
}
EVERYWHERE = ("ssh", "nftables", "fail2ban", "prometheus-node-exporter", "apt-daily-upgrade.timer")


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_env("lab")


def can_connect(lab: Lab, source: str, address: str, port: int) -> bool:
    """Whether ``source`` opens a TCP connection to ``address:port`` within 3 s."""
    code = (f"import socket; socket.create_connection(('{address}', {port}), 3)")
    done = remote(lab.server(source), lab.paths, f'python3 -c "{code}"', timeout=30)
    return done.returncode == 0


def test_deploy_converges_without_error(deployed: Deployment) -> None:
    assert deployed.first.returncode == 0
    assert deployed.first.errors() == []


def test_second_deploy_changes_nothing(deployed: Deployment) -> None:
    second = deployed.second
    assert second.returncode == 0, second.stderr
    assert second.results["results"]["totals"]["error"] == 0
    assert second.changed() == [], "operations that changed on the second run"
    assert second.results["results"]["totals"]["success"] == 0


def test_services_are_active(deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    for server in inv.servers:
        units = list(EVERYWHERE)
        for role, extra in SERVICES.items():
            if server.has(role):
                units += extra
        if server.has(Role.WEB):
            units += [php.fpm_service for php in server.php]
        if any(c.server.name == server.name for c in _clients(inv)):
            units.append("koumbit-backup.timer")
        if server.has(Role.BACKUP):  # retention and proven restores run on the backup side
            units += ["koumbit-backup-prune.timer", "koumbit-backup-verify.timer"]
        states = lab.run(server.name, f"systemctl is-active {' '.join(units)}").split()
        assert dict(zip(units, states, strict=True)) == dict.fromkeys(units, "active")
        assert lab.run(server.name, "systemctl is-system-running || true").strip() == "running"


def _clients(inv: Inventory) -> tuple[object, ...]:
    from koumbit_infra.serverconf.backup import backup_clients

    return backup_clients(inv)


def _listening(lab: Lab, name: str) -> set[str]:
    out = lab.run(name, "ss -Hltn")
    return {line.split()[3] for line in out.splitlines() if line.strip()}


def test_listening_sockets_are_exactly_the_intended_ones(
    deployed: Deployment, lab: Lab, inv: Inventory
) -> None:
    for server in inv.servers:
        want = {"0.0.0.0:22", "[::]:22", f"{server.address}:9100"}
        if server.has(Role.WEB):
            want |= {"0.0.0.0:80", "[::]:80", "0.0.0.0:443", "[::]:443"}
        if server.has(Role.DB):
            want.add("127.0.0.1:3306")
        if server.has(Role.MONITOR):  # Alertmanager and exim, loopback only (no :9094)
            want |= {"127.0.0.1:9093", "127.0.0.1:25"}
        # The koumbit exporter, once its deploy has installed it, on its own address only.
        # Prometheus and the site prober on the monitoring server, loopback only.
        optional = {f"{server.address}:{firewall.KOUMBIT_EXPORTER_PORT}"}
        if server.has(Role.MONITOR):
            optional |= {"127.0.0.1:9090", BLACKBOX_LISTEN}
        assert want <= _listening(lab, server.name) <= want | optional, server.name


def test_nftables_ruleset_is_exactly_the_rendered_one(
    deployed: Deployment, lab: Lab, inv: Inventory, tmp_path: Path
) -> None:
    for server in inv.servers:
        cfg = next(c for c in base_files(inv, server) if c.concern == "firewall")
        path = tmp_path / f"{server.name}.nft"
        path.write_text(render(cfg.template, **cfg.context))
        # nft's own listing of the intended file, loaded in a throw-away network namespace.
        expected = subprocess.run(
            ["unshare", "--net", "sh", "-c", f"nft -f {path} && nft list table inet koumbit"],
            capture_output=True, text=True, check=True).stdout
        live = lab.run(server.name, "nft list table inet koumbit")
        assert _normalise(live) == _normalise(expected), server.name
        tables = set(lab.run(server.name, "nft list tables").split("\n")) - {""}
        assert tables <= {"table inet koumbit", "table inet f2b-table"}, tables


def _normalise(ruleset: str) -> list[str]:
    # Counters and handles are runtime state, not intent. Debian 13's nft also lists the
    # default burst of a limit (5 packets) that Debian 12's leaves out: the same rule.
    lines = [re.sub(r"\s+", " ", line).strip() for line in ruleset.splitlines() if line.strip()]
    return [line.replace(" burst 5 packets", "") for line in lines]


def test_ports_not_opened_are_unreachable_from_other_servers(
    deployed: Deployment, lab: Lab
) -> None:
    assert not can_connect(lab, "mon1", "10.77.0.11", 3306)
    assert can_connect(lab, "mon1", "10.77.0.11", firewall.NODE_EXPORTER_PORT)
    assert not can_connect(lab, "web2", "10.77.0.11", firewall.NODE_EXPORTER_PORT)
    assert can_connect(lab, "web2", "10.77.0.11", 80)


def test_sshd_refuses_passwords(deployed: Deployment, lab: Lab) -> None:
    effective = lab.run("web2", "sshd -T")
    for line in ("passwordauthentication no", "kbdinteractiveauthentication no",
                 "authenticationmethods publickey", "permitrootlogin without-password"):
        assert line in effective
    # Ask the live daemon from another server which methods it offers. One
    # failed login per run; unban first so reruns are never blocked by fail2ban.
    lab.run("web2", "fail2ban-client set sshd unbanip 10.77.0.31 >/dev/null 2>&1 || true")
    done = remote(lab.server("mon1"), lab.paths,
                  "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                  " -o PreferredAuthentications=password,keyboard-interactive"
                  " -o PubkeyAuthentication=no -o ConnectTimeout=5 root@10.77.0.12 true",
                  timeout=30)
    assert done.returncode == 255
    assert "Permission denied (publickey)" in done.stderr, done.stderr


def test_a_backup_reaches_every_target_and_restic_check_passes(deployed: Deployment,
                                                               lab: Lab) -> None:
    lab.run("web1", "systemctl start koumbit-backup.service", timeout=900)
    for target in ("backup1", "mon1"):
        env = f"KOUMBIT_BACKUP_TARGET={target}"
        snapshots = lab.run("web1", f"{env} koumbit-restic snapshots --json")
        assert snapshots.strip().startswith("[") and '"hostname":"web1"' in snapshots
        assert '"daily"' in snapshots and '"koumbit"' in snapshots  # each site, the system
        assert "no errors were found" in lab.run("web1", f"{env} koumbit-restic check",
                                                 timeout=600)
    # The password file is root's alone, and no process argv carries it.
    assert lab.run("web1", "stat -c %a:%U /etc/koumbit/backup/password").strip() == "600:root"


def test_the_backup_key_runs_nothing_but_the_append_only_server(deployed: Deployment,
                                                                 lab: Lab) -> None:
    # rclone runs instead, on no input (it writes HTTP/2 bytes, not text: count lines only).
    done = remote(lab.server("web1"), lab.paths,
                  "ssh -F /etc/koumbit/backup/ssh_config koumbit-backup-backup1 id </dev/null"
                  " 2>/dev/null | grep -ac 'uid='; true", timeout=30)
    assert done.stdout.split() == ["0"]


def test_pebbles_cas_are_trusted_everywhere(deployed: Deployment, lab: Lab,
                                            inv: Inventory) -> None:
    # The lab's acme_ca_bundle: Pebble's API CA (certbot talks to it) and its roots (what
    # the sites' certificates chain to), in each server's own trust store.
    wanted = bundle_certificates(inv.settings.acme_ca_bundle)
    assert len(wanted) >= 2
    for server in inv.servers:
        for cert in wanted:
            out = lab.run(server.name, f"openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt"
                                       f" {cert.file}")
            assert out.strip().endswith(": OK"), (server.name, cert.subject)
        assert lab.run(server.name, "test ! -e /usr/local/share/ca-certificates/"
                                    "koumbit-lab-ca.crt && echo gone").strip() == "gone"


def test_a_unit_systemd_did_not_reload_is_reloaded_by_the_next_run(deployed: Deployment,
                                                                    lab: Lab) -> None:
    # As after a run cut off between writing the unit and `systemctl daemon-reload`:
    # the file is newer than what systemd loaded, and its content is already right.
    unit = "koumbit-exporter.service"
    stale = lab.run("web1", f"touch /etc/systemd/system/{unit};"
                             f" systemctl show -p NeedDaemonReload --value {unit}")
    assert stale.strip() == "yes"
    again = deploy_lab("--limit", "web1", "--deploy-file",
                       str(Path(__file__).parents[2] / "deploys" / "monitoring.py"))
    assert again.returncode == 0, again.stderr[-3000:]
    # systemd reads the unit again, and the service, older than its unit file, restarts
    # on it; nothing else is redone.
    prefix = "Monitoring | Monitoring: koumbit exporter | Koumbit exporter: "
    assert again.changed() == [f"{prefix}systemd reload: web1",
                               f"{prefix}restart for new code or settings: web1"]
    assert lab.run("web1", f"systemctl show -p NeedDaemonReload --value {unit}").strip() == "no"
    # A further run changes nothing.
    assert deploy_lab("--limit", "web1", "--deploy-file", str(
        Path(__file__).parents[2] / "deploys" / "monitoring.py")).changed() == []
