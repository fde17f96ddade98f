"""``koumbit-infra server recover``: escrow decrypted by the real ``age`` with an admin's SSH
key, the password reaching the server only on stdin, sites restored newest first, each on
its own, and a run that can be started again. Servers are fakes: the recovery's own shell
lines run for real in a scratch folder; restic's answers are scripted."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner

from koumbit_infra import cli
from koumbit_infra.inventory import Inventory, load_inventory
from koumbit_infra.recover import escrow, plan, steps
from koumbit_infra.recover.errors import RecoverError
from koumbit_infra.recover.steps import Seams, recover
from koumbit_infra.serverconf.backup import CLIENT_DIR
from koumbit_infra.sites.backups import Snapshot, parse_snapshots
from koumbit_infra.sites.errors import SiteCommandError
from koumbit_infra.sites.files import layouts
from koumbit_infra.sites.variant import add_admin, write_variant

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory" / "lab")
WEB1 = tuple(s.name for s in layouts(INV, INV.server("web1")))  # by domain, none absent
PASSWORD = "c2VjcmV0LXJlcG9zaXRvcnktcGFzc3dvcmQtb2Ytd2ViMQ=="
# Snapshots are dated from now: the recovery compares them with the time it began.
NOW = datetime.now(UTC).replace(microsecond=0)
needs_age = pytest.mark.skipif(shutil.which("age") is None, reason="apt-get install age")


@dataclass
class Done:
    ok: bool
    exited: int
    stdout: str
    stderr: str


Handler = Callable[[str, str | None], tuple[int, str]]


@dataclass
class FakeServer:
    """A fabric Connection to a fake server: answers only the commands it was given (any
    other fails the test); records every command line and what came on stdin."""

    host: str
    answers: list[tuple[str, Handler]] = field(default_factory=list)
    down: bool = False
    log: list[tuple[str, str | None]] = field(default_factory=list)

    def open(self) -> None:
        if self.down:
            raise OSError(f"[Errno 113] No route to host: {self.host}")

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, command: str, *, hide: bool, warn: bool, in_stream: IO[str] | bool,
            timeout: float | None) -> Done:
        stdin = in_stream.read() if not isinstance(in_stream, bool) else None
        self.log.append((command, stdin))
        for needle, handler in self.answers:
            if needle in command:
                code, out = handler(command, stdin)
                return Done(code == 0, code, out if code == 0 else "", "" if code == 0 else out)
        raise AssertionError(f"{self.host}: unexpected command {command!r}")

    def commands(self) -> str:
        return "\n".join(c for c, _ in self.log)


def local_shell(root: Path) -> Handler:
    """Run the recovery's own shell line for real, its server paths moved under ``root``."""

    def handler(command: str, stdin: str | None) -> tuple[int, str]:
        for path in (steps.STATE_DIR, "/etc/koumbit"):  # CLIENT_DIR is under the latter
            command = command.replace(path, f"{root}{path}")
        command = command.replace("-o root -g root ", "")
        done = subprocess.run(["sh", "-c", command], input=stdin or "", capture_output=True,
                              text=True, check=False)
        return done.returncode, done.stdout if done.returncode == 0 else done.stderr
    return handler


def snapshot_json(*snaps: tuple[str, datetime, str]) -> str:
    return json.dumps([{"id": i, "time": t.isoformat(), "tags": ["koumbit-site", f"site:{n}"]}
                       for i, t, n in snaps])


@dataclass
class Repo:
    """A backup target's repository of web1, as restic lists it and restores from it."""

    snaps: list[tuple[str, datetime, str]]
    broken: set[str] = field(default_factory=set)
    restored: list[tuple[str, str]] = field(default_factory=list)

    def list_site(self, command: str, stdin: str | None) -> tuple[int, str]:
        name = command.rsplit("site:", 1)[1].strip()
        return 0, snapshot_json(*(s for s in self.snaps if s[2] == name))

    def list_all(self, command: str, stdin: str | None) -> tuple[int, str]:
        return 0, snapshot_json(*self.snaps)

    def restore(self, command: str, stdin: str | None) -> tuple[int, str]:
        name, snap = command.split()[-2:]
        if snap in self.broken:
            return 3, f"snapshot {snap} holds no /srv/sites/{name}"
        self.restored.append((name, snap))
        return 0, f"archived {'e' * 8}\nrestored {name} from {snap}\n"


@pytest.fixture
def admin_key(tmp_path: Path) -> Path:
    key = tmp_path / "admin" / "id_ed25519"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "camille",
                    "-f", str(key)], check=True)
    return key


def sealed(password: str, *public_keys: Path) -> str:
    """The escrow as the targets hold it, base64 as the fetch prints it."""
    argv = ["age", "--encrypt"]
    for key in public_keys:
        argv += ["-R", str(key)]
    done = subprocess.run(argv, input=password.encode(), capture_output=True, check=True)
    return base64.b64encode(done.stdout).decode()


def target(name: str, escrow_b64: str | None, repo: Repo) -> FakeServer:
    def fetch(command: str, stdin: str | None) -> tuple[int, str]:
        return (0, escrow_b64) if escrow_b64 is not None else (3, "")
    return FakeServer(name, [("/var/lib/koumbit-backup/escrow/", fetch),
                             (f"{steps.REPO_TOOL} web1 snapshots", repo.list_all)])


def web1(root: Path, repo: Repo) -> FakeServer:
    shell = local_shell(root)
    return FakeServer("web1", [("koumbit-restic snapshots", repo.list_site),
                               ("koumbit-site-restore", repo.restore),
                               (steps.STATE_DIR, shell)])


@dataclass
class World:
    servers: dict[str, FakeServer]
    said: list[str] = field(default_factory=list)
    deploys: list[tuple[str, ...]] = field(default_factory=list)
    deploy_status: int = 0

    def seams(self) -> Seams:
        @contextmanager
        def connect(name: str) -> Iterator[Any]:
            if name not in self.servers:
                raise AssertionError(f"{name} must not be contacted")
            yield self.servers[name]

        def deploy(limits: tuple[str, ...]) -> int:
            self.deploys.append(limits)
            return self.deploy_status
        return Seams(connect, deploy, self.said.append, lambda: NOW)

    @property
    def output(self) -> str:
        return "\n".join(self.said)


def day(n: float) -> datetime:
    return NOW - timedelta(days=n)


def full_repo() -> Repo:
    return Repo([(f"{i:x}" * 8, day(d), name) for i, (d, name) in enumerate(
        [(3, WEB1[0]), (1, WEB1[0]), (1, WEB1[1]), (2, WEB1[2]), (0.5, WEB1[2]),
         (1, WEB1[3])], start=1)])


def world(tmp_path: Path, key: Path, repo: Repo,
          inv_servers: tuple[str, ...] = ("backup1", "mon1"),
          escrow_b64: str | None = "sealed") -> World:
    payload = sealed(PASSWORD, key.with_suffix(".pub")) if escrow_b64 == "sealed" else escrow_b64
    servers = {name: target(name, payload, repo) for name in inv_servers}
    servers["web1"] = web1(tmp_path / "web1", repo)
    return World(servers)


def password_file(tmp_path: Path) -> Path:
    return tmp_path / "web1" / CLIENT_DIR.lstrip("/") / "password"


# --- escrow -------------------------------------------------------------------------------

@needs_age
def test_the_escrow_opens_with_the_real_age_and_an_admins_ssh_key(admin_key: Path,
                                                                  tmp_path: Path) -> None:
    other = tmp_path / "other" / "id_ed25519"
    other.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    b64 = sealed(PASSWORD, admin_key.with_suffix(".pub"), other.with_suffix(".pub"))
    conn = target("backup1", b64, Repo([]))
    ciphertext = escrow.fetch(conn, "web1", "backup1")
    # Either admin's key opens it; the password comes back byte for byte.
    assert escrow.decrypt(ciphertext, admin_key, "web1") == PASSWORD
    assert escrow.decrypt(ciphertext, other, "web1") == PASSWORD
    assert "base64 -w0 /var/lib/koumbit-backup/escrow/web1.age" in conn.commands()


@needs_age
def test_a_key_the_escrow_was_not_made_for_is_told_so(admin_key: Path, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                   check=True)
    ciphertext = base64.b64decode(sealed(PASSWORD, admin_key.with_suffix(".pub")))
    with pytest.raises(RecoverError) as err:
        escrow.decrypt(ciphertext, stranger, "web1")
    assert str(stranger) in err.value.message
    assert "not one of the admins' keys" in err.value.message
    assert PASSWORD not in err.value.message


def test_no_escrow_on_the_target_says_to_deploy_the_targets_first() -> None:
    with pytest.raises(RecoverError) as err:
        escrow.fetch(target("backup1", None, Repo([])), "web1", "backup1")
    assert "backup1 holds no escrow of web1" in err.value.message
    assert "run a deploy of the backup targets first" in err.value.message


def test_the_identity_is_the_given_key_else_ed25519_else_rsa(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    with pytest.raises(RecoverError) as err:
        escrow.identity_file(None, home)
    assert err.value.exit_code == 2
    (home / ".ssh" / "id_rsa").write_text("k")
    assert escrow.identity_file(None, home) == home / ".ssh" / "id_rsa"
    (home / ".ssh" / "id_ed25519").write_text("k")
    assert escrow.identity_file(None, home) == home / ".ssh" / "id_ed25519"
    with pytest.raises(RecoverError) as err:
        escrow.identity_file(tmp_path / "missing", home)
    assert err.value.exit_code == 2


# --- refused before anything is touched ----------------------------------------------------

def _two_targets(tmp_path: Path) -> Inventory:
    """The lab's inventory: backup1 is the primary, mon1 the second backup server."""
    return load_inventory(ROOT / "inventory" / "lab")


@pytest.mark.parametrize(("name", "source", "words"), [
    ("web9", None, "no server 'web9' in inventory 'lab'"),
    ("backup1", None, "backup1 is a backup target"),
    ("web1", "web2", "--from web2: not a backup target"),
    ("web1; rm -rf /", None, "no server 'web1; rm -rf /'"),
])
def test_refused_before_any_server_is_contacted(name: str, source: str | None,
                                                words: str, tmp_path: Path) -> None:
    w = World({})  # any connection or deploy fails the test
    with pytest.raises(RecoverError) as err:
        recover(INV, name, identity=tmp_path, source=source, dry=False, seams=w.seams())
    assert err.value.exit_code == 2
    assert words in err.value.message
    assert w.deploys == []


def test_the_command_refuses_a_backup_target_with_exit_2(tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text("k")
    result = CliRunner().invoke(cli.main, ["server", "recover", "backup1",
                                           "--identity", str(key)])
    assert result.exit_code == 2
    assert "backup1 is a backup target" in result.output


# --- --dry ---------------------------------------------------------------------------------

@needs_age
def test_dry_lists_each_sites_newest_snapshot_and_its_age_without_touching_the_server(
        admin_key: Path, tmp_path: Path) -> None:
    w = world(tmp_path, admin_key, full_repo())
    del w.servers["web1"]  # contacting it fails the test
    assert recover(INV, "web1", identity=admin_key, source=None, dry=True,
                   seams=w.seams()) == []
    assert f"centre-femmes.test: snapshot {'2' * 8} of {day(1).isoformat()}" in w.output
    assert "(24 h 00 min old): would be restored" in w.output
    assert f"erables.test: snapshot {'5' * 8}" in w.output
    assert "(12 h 00 min old)" in w.output
    assert w.deploys == []


@needs_age
def test_dry_fails_when_a_site_has_no_snapshot(admin_key: Path, tmp_path: Path) -> None:
    repo = full_repo()
    repo.snaps = [s for s in repo.snaps if s[2] != WEB1[3]]
    w = world(tmp_path, admin_key, repo)
    with pytest.raises(RecoverError) as err:
        recover(INV, "web1", identity=admin_key, source=None, dry=True, seams=w.seams())
    assert "journal-alternatif.test: NO snapshot on backup1" in w.output
    assert "1 site(s) of web1 have no snapshot" in err.value.message


# --- the recovery ----------------------------------------------------------------------------

@needs_age
def test_recover_puts_the_password_by_stdin_deploys_then_restores_every_site(
        admin_key: Path, tmp_path: Path) -> None:
    repo = full_repo()
    w = world(tmp_path, admin_key, repo)
    outcomes = recover(INV, "web1", identity=admin_key, source=None, dry=False,
                       seams=w.seams())
    assert [o.restored for o in outcomes] == [True] * 4
    written = password_file(tmp_path)
    assert written.read_text() == PASSWORD
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    assert w.deploys == [("web1", "backup1", "mon1")]
    # The newest snapshot of each site, from the primary (no target variable).
    assert repo.restored == [(WEB1[0], "2" * 8), (WEB1[1], "3" * 8), (WEB1[2], "5" * 8),
                             (WEB1[3], "6" * 8)]
    commands = "\n".join(s.commands() for s in w.servers.values())
    assert PASSWORD not in commands  # never on a command line
    assert "KOUMBIT_BACKUP_TARGET" not in commands
    assert f"journal-alternatif.test: snapshot {'6' * 8} of" in w.output
    # The password went only into the commands that need it, on web1.
    fed = [c for s in w.servers.values() for c, stdin in s.log if stdin == PASSWORD]
    assert fed and all(steps.STATE_DIR in c for c in fed)


@needs_age
def test_a_failed_restore_tries_older_snapshots_and_sites_are_independent(
        admin_key: Path, tmp_path: Path) -> None:
    repo = full_repo()
    repo.broken = {"2" * 8, "3" * 8}  # centre-femmes' newest; droits-humains' only one
    repo.snaps = [s for s in repo.snaps if s[2] != WEB1[3]]  # journal-alternatif: none
    w = world(tmp_path, admin_key, repo)
    outcomes = {o.domain: o for o in recover(INV, "web1", identity=admin_key, source=None,
                                             dry=False, seams=w.seams())}
    assert outcomes["centre-femmes.test"].restored
    assert outcomes["centre-femmes.test"].snapshot == Snapshot(
        "1" * 8, day(3), ("koumbit-site", f"site:{WEB1[0]}"))
    assert "after 1 newer snapshot(s) failed" in outcomes["centre-femmes.test"].note
    assert f"the restore from {'2' * 8} failed" in w.output
    assert "trying the next older snapshot" in w.output
    assert not outcomes["droits-humains.test"].restored
    assert outcomes["erables.test"].restored  # after two failures, the others go on
    assert not outcomes["journal-alternatif.test"].restored
    assert "journal-alternatif.test: NOT restored: no snapshot" in w.output


@needs_age
def test_the_command_exits_1_naming_the_sites_not_restored(
        admin_key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = full_repo()
    repo.broken = {"6" * 8}
    w = world(tmp_path, admin_key, repo)
    monkeypatch.setattr("koumbit_infra.recover.steps.Seams", lambda *a: w.seams())
    monkeypatch.setattr("koumbit_infra.remote.connect", lambda inv, name: None)
    result = CliRunner().invoke(cli.main, ["server", "recover", "web1",
                                           "--identity", str(admin_key)])
    assert result.exit_code == 1, result.output
    assert "1 site(s) NOT restored: journal-alternatif.test" in result.output


@needs_age
def test_a_second_run_skips_restored_sites_and_never_restores_what_the_recovery_made(
        admin_key: Path, tmp_path: Path) -> None:
    repo = full_repo()
    repo.broken = {"6" * 8}
    first = world(tmp_path, admin_key, repo)
    recover(INV, "web1", identity=admin_key, source=None, dry=False, seams=first.seams())
    # Meanwhile the restores archived the empty sites they replaced: newer snapshots.
    started = int((tmp_path / "web1" / steps.STATE_DIR.lstrip("/") / "started").read_text())
    after = datetime.fromtimestamp(started + 5, UTC)
    repo.snaps += [("a" * 8, after, WEB1[3]), ("b" * 8, after, WEB1[0])]
    repo.broken = set()
    repo.restored = []
    second = world(tmp_path, admin_key, repo)
    outcomes = recover(INV, "web1", identity=admin_key, source=None, dry=False,
                       seams=second.seams())
    assert all(o.restored for o in outcomes)
    assert repo.restored == [(WEB1[3], "6" * 8)]  # only the one left, from before the start
    assert f"centre-femmes.test: already restored from {'2' * 8}" in second.output
    assert second.deploys == [("web1", "backup1", "mon1")]


@needs_age
def test_a_server_that_was_not_lost_is_refused_and_left_alone(admin_key: Path,
                                                              tmp_path: Path) -> None:
    pw = password_file(tmp_path)
    pw.parent.mkdir(parents=True)
    pw.write_text("its own password")
    w = world(tmp_path, admin_key, full_repo())
    with pytest.raises(RecoverError) as err:
        recover(INV, "web1", identity=admin_key, source=None, dry=False, seams=w.seams())
    assert err.value.exit_code == 2
    assert "it is not an empty server" in err.value.message
    assert pw.read_text() == "its own password"
    assert not (tmp_path / "web1" / steps.STATE_DIR.lstrip("/")).exists()
    assert w.deploys == []


@needs_age
def test_a_failed_deploy_stops_before_any_restore_and_says_to_run_again(
        admin_key: Path, tmp_path: Path) -> None:
    repo = full_repo()
    w = world(tmp_path, admin_key, repo)
    w.deploy_status = 1
    with pytest.raises(RecoverError) as err:
        recover(INV, "web1", identity=admin_key, source=None, dry=False, seams=w.seams())
    assert "run recover again" in err.value.message
    assert repo.restored == []
    assert password_file(tmp_path).read_text() == PASSWORD  # kept for the next run


@needs_age
def test_a_primary_that_does_not_answer_gives_way_to_the_next_target(
        admin_key: Path, tmp_path: Path) -> None:
    inv = _two_targets(tmp_path)
    repo = full_repo()
    w = world(tmp_path, admin_key, repo, ("backup1", "mon1"))
    w.servers["backup1"].down = True
    recover(inv, "web1", identity=admin_key, source=None, dry=False, seams=w.seams())
    assert "backup1: cannot reach it over SSH" in w.output
    assert "of mon1 with" in w.output
    assert w.deploys == [("web1", "backup1", "mon1")]
    lists = [c for c, _ in w.servers["web1"].log if "koumbit-site-restore" in c]
    assert lists and all(c.startswith("env KOUMBIT_BACKUP_TARGET=mon1 ") for c in lists)


@needs_age
def test_from_picks_the_target_and_deploys_only_it(admin_key: Path, tmp_path: Path) -> None:
    inv = _two_targets(tmp_path)
    w = world(tmp_path, admin_key, full_repo(), ("mon1",))
    recover(inv, "web1", identity=admin_key, source="mon1", dry=False, seams=w.seams())
    assert w.deploys == [("web1", "mon1")]
    assert "env KOUMBIT_BACKUP_TARGET=mon1 /usr/local/sbin/koumbit-restic" in (
        w.servers["web1"].commands())


# --- pure parts ------------------------------------------------------------------------------

def test_candidates_are_newest_first_bounded_and_older_than_the_start() -> None:
    snaps = [Snapshot(f"{i:x}" * 8, day(i)) for i in range(1, 6)]
    assert [s.id for s in plan.candidates(snaps, None)] == ["1" * 8, "2" * 8, "3" * 8]
    assert [s.id for s in plan.candidates(snaps, day(2))] == ["3" * 8, "4" * 8, "5" * 8]
    assert plan.candidates(snaps, day(9)) == []


def test_ages_read_easily() -> None:
    assert plan.age_text(NOW - timedelta(minutes=42), NOW) == "42 min"
    assert plan.age_text(NOW - timedelta(hours=5, minutes=3), NOW) == "5 h 03 min"
    assert plan.age_text(NOW - timedelta(days=3, hours=4), NOW) == "3 d 4 h"
    assert plan.age_text(NOW + timedelta(minutes=5), NOW) == "0 min"  # clocks a bit apart


def test_a_hostile_repository_cannot_smuggle_a_command_through_snapshot_ids() -> None:
    evil = json.dumps([{"id": "abcdef12; rm -rf /", "time": NOW.isoformat()}])
    with pytest.raises(SiteCommandError) as err:
        parse_snapshots(evil, "web1's repository")
    assert "not restic's" in err.value.message
    with pytest.raises(SiteCommandError):
        parse_snapshots('{"not": "a list"}', "web1's repository")


def test_state_lines_that_are_not_a_site_and_an_id_are_ignored() -> None:
    state = plan.parse_state("now=100\nstarted=50\npassword=same\n"
                             f"restored {WEB1[2]} abcdef12\n"
                             "restored ../x abcdef12\nrestored a_b $(reboot)\n", "web1")
    assert state.restored == {WEB1[2]: "abcdef12"}
    assert state.cutoff == datetime.fromtimestamp(50, UTC)
    with pytest.raises(RecoverError):
        plan.parse_state("now=1\npassword=maybe\n", "web1")


def test_the_recovery_shell_lines_are_valid_sh() -> None:
    for script in (steps.STATE, steps.BEGIN, escrow.fetch_command("web1")):
        assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0
    assert os.path.isabs(steps.PASSWORD_FILE)


def test_the_drills_inventory_adds_an_admin_and_stays_valid(admin_key: Path,
                                                            tmp_path: Path) -> None:
    env_file = write_variant(ROOT / "inventory" / "lab", tmp_path, lambda clients: None)
    public = admin_key.with_suffix(".pub").read_text()
    add_admin(env_file.with_suffix(""), "reprise", "Exercice de reprise", public)
    add_admin(env_file.with_suffix(""), "reprise", "Exercice de reprise", public)  # once only
    inv = load_inventory(env_file.with_suffix(""))
    assert [a.name for a in inv.admins] == [*(a.name for a in INV.admins), "reprise"]
    assert inv.admins[-1].ssh_keys == (public.strip(),)
    assert [s.name for s in inv.servers] == [s.name for s in INV.servers]
