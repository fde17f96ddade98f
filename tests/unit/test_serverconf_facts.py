"""Custom pyinfra facts, fed recorded output (their process() is pure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from koumbit_infra.facts.backup import ResticRepository, SshPublicKey
from koumbit_infra.facts.mariadb import MariadbSecurity
from koumbit_infra.facts.services import UnitsNeedReload
from koumbit_infra.facts.system import MissingPaths, Virtualisation
from koumbit_infra.facts.tls import Certificate

ROOT = Path(__file__).resolve().parents[2]


def test_mariadb_fresh_debian_root_is_not_socket_only() -> None:
    # Debian's default root: mysql_native_password 'invalid' OR unix_socket.
    state = MariadbSecurity().process([
        "root_auth\tmysql_native_password", "root_password\t0", "remote_root\t0",
        "anonymous\t0", "test_db\t0",
    ])
    assert state is not None and not state.root_socket_only


def test_mariadb_hardened() -> None:
    state = MariadbSecurity().process([
        "root_auth\tunix_socket", "root_password\t0", "remote_root\t0", "anonymous\t0",
        "test_db\t0",
    ])
    assert state is not None and state.root_socket_only
    assert (state.remote_root, state.anonymous, state.test_db) == (0, 0, False)


def test_mariadb_not_answering_is_none() -> None:
    assert MariadbSecurity().process([]) is None


def test_public_key_fact_drops_the_comment() -> None:
    fact = SshPublicKey()
    assert fact.process(["ssh-ed25519 AAAAC3Nza restic@web1"]) == "ssh-ed25519 AAAAC3Nza"
    assert fact.process([]) is None


def test_restic_repository_states() -> None:
    fact = ResticRepository()
    assert fact.process(["initialised"]) is True
    assert fact.process(["missing"]) is False
    assert fact.process(["no-wrapper"]) is None


def test_missing_paths_and_virtualisation() -> None:
    assert MissingPaths().process(["/srv/a", ""]) == frozenset({"/srv/a"})
    assert Virtualisation().process(["systemd-nspawn"]) == "systemd-nspawn"
    assert Virtualisation().process([]) == "none"


def test_certificate_fact_reads_openssl_output() -> None:
    state = Certificate().process([
        "X509v3 Subject Alternative Name: ", "    DNS:a.test, DNS:www.a.test",
        "Certificate will not expire",
    ])
    assert state is not None and state.fresh
    assert state.domains == frozenset({"a.test", "www.a.test"})
    assert Certificate().process([]) is None


def test_deploy_refuses_an_invalid_inventory_before_any_host(tmp_path: Path) -> None:
    env = tmp_path / "broken"
    env.mkdir()
    (env / "servers.yaml").write_text("settings: {}\n")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("koumbit-infra")), "deploy", "--env", "broken"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={"KOUMBIT_INVENTORY": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2, done.stderr
    assert "no server was contacted" in done.stderr


def test_deploy_argv_uses_the_venv_pyinfra() -> None:
    from koumbit_infra.deploy_cli import pyinfra_argv

    argv = pyinfra_argv(Path("/i/lab.py"), Path("/d/all.py"), "web1", False, True)
    assert argv[0].endswith("/pyinfra") and argv[1] == "-y"
    assert argv[2:] == ["/i/lab.py", "/d/all.py", "--limit", "web1", "--json"]
    # A dry run needs pyinfra's change detection, which -y skips.
    dry = pyinfra_argv(Path("/i/lab.py"), Path("/d/all.py"), None, True, False)
    assert "-y" not in dry and dry[-1] == "--dry"
    # Several hosts (a recovery deploys the server and its backup targets): one each.
    two = pyinfra_argv(Path("/i/lab.py"), Path("/d/all.py"), ("web1", "backup1"), False, False)
    assert two[4:] == ["--limit", "web1", "--limit", "backup1"]


def test_sites_state_of_a_fresh_server_is_empty_not_none() -> None:
    # A fresh server prints nothing for this fact; pyinfra then uses default().
    from koumbit_infra.facts.sites import SitesState, SitesStateData

    empty = SitesState.default()
    assert empty == SitesStateData()
    assert empty.users == frozenset() and empty.paths == {} and not empty.mariadb
    assert SitesState().process([]) == empty


def test_units_need_reload_when_any_unit_says_yes() -> None:
    fact = UnitsNeedReload()
    # One line per unit, as `systemctl show -p NeedDaemonReload --value a b` prints.
    assert fact.process(["no", "yes"]) is True
    assert fact.process(["no", "no"]) is False
    assert fact.process([]) is False  # systemd unreachable or no such unit: nothing to do
    command = fact.command(("koumbit-backup.service", "koumbit-backup.timer"))
    assert "NeedDaemonReload" in command
    assert "'koumbit-backup.service' 'koumbit-backup.timer'" in command
