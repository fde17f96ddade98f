"""Clients' SFTP on the lab's web2, with the real ``sftp`` and ``ssh`` clients and a person's
key, as a client's web developer would use them.

A scratch copy of the lab inventory gives a client two sites (OWN, reached by the person,
and SECOND, not given to them) and another client a site (NEIGHBOUR). The person's key
pair is made here, for this run only. The person uploads a theme file and sees it served;
tries the neighbour's files, /etc, the site's own secrets, a shell and every kind of
forwarding, each refused; what they upload is the site's own (its PHP reads it, the
neighbour's cannot); removing their key from the inventory ends their access.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, Run, deployed, timed_json
from test_sites_commands import get
from test_sites_lifecycle import sites_deploy

from koumbit_infra.inventory import load_inventory
from koumbit_infra.sites.layout import SITE_LOGROTATE, SiteLayout
from koumbit_infra.sites.sftp import SftpSite, sftp_sites
from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
SERVER, ADDRESS = "web2", "10.77.0.12"
OWN, SECOND, NEIGHBOUR = "sftp.essai.test", "sftp-autre.essai.test", "voisin-sftp.essai.test"
THEME = "/web/wp-content/themes/essai-sftp"
CSS = "/* feuille de style envoyée par SFTP 4b7e */\nbody { color: #2a2a2a; }\n"


@dataclass(frozen=True)
class Key:
    private: Path
    public: str


def _edit(key: Key | None, state: str = "active") -> Any:
    def edit(clients: Clients) -> None:
        clients["essai-sftp"] = scratch_client("essai-sftp", [
            {"domain": OWN, "cms": "wordpress", "server": SERVER, "state": state,
             "title": "Essai SFTP"},
            {"domain": SECOND, "cms": "wordpress", "server": SERVER, "state": state,
             "title": "Autre site du client"}])
        clients["essai-voisin"] = scratch_client("essai-voisin", [
            {"domain": NEIGHBOUR, "cms": "wordpress", "server": SERVER, "state": state,
             "title": "Site d'un autre client"}])
        if key is not None:
            clients["essai-sftp"]["people"] = [
                {"name": "dev", "full_name": "Développeuse d'essai", "ssh_keys": [key.public],
                 "sites": [OWN]}]
    return edit


def sftp_deploy(env_file: Path) -> Run:
    """deploys/sftp.py alone on web2, with a scratch inventory."""
    pyinfra = str(Path(sys.executable).with_name("pyinfra"))
    return timed_json([pyinfra, "-y", str(env_file), "deploys/sftp.py", "--limit", SERVER,
                       "--json"], timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})


@dataclass(frozen=True)
class Setup:
    scratch: Path
    env_file: Path
    key: Key
    first: Run
    second: Run
    # Read once, from the inventory that gives the person access: a test that removes the
    # person rewrites the scratch inventory, and still reaches the same login.
    sftp: SftpSite

    def layout(self, domain: str) -> SiteLayout:
        inv = load_inventory(self.scratch / "lab")
        return SiteLayout.of(inv, inv.site(domain))


def _deploy(env_file: Path) -> Run:
    sites = sites_deploy(env_file, SERVER)
    assert sites.returncode == 0, sites.output[-3000:]
    return sftp_deploy(env_file)


@pytest.fixture(scope="module")
def setup(deployed: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    keys = tmp_path_factory.mktemp("sftp-key")
    private = keys / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dev@essai-sftp",
                    "-f", str(private)], check=True)
    key = Key(private, (keys / "id_ed25519.pub").read_text().strip())
    scratch = tmp_path_factory.mktemp("inventory-sftp")
    # Whatever an interrupted earlier run left is archived and removed first.
    gone = _deploy(write_variant(ROOT / "inventory" / "lab", scratch, _edit(None, "absent")))
    assert gone.returncode == 0, gone.output[-3000:]
    env_file = write_variant(ROOT / "inventory" / "lab", scratch, _edit(key))
    first = _deploy(env_file)
    second = sftp_deploy(env_file)
    inv = load_inventory(scratch / "lab")
    own = next(s for s in sftp_sites(inv, inv.server(SERVER)) if s.site.domain == OWN)
    yield Setup(scratch, env_file, key, first, second, own)
    gone = _deploy(write_variant(ROOT / "inventory" / "lab", scratch, _edit(None, "absent")))
    assert gone.returncode == 0, gone.output[-3000:]


# --- the client's tools, with the person's key ------------------------------------------------


def _client_options(setup: Setup, lab: Lab, key: Path | None = None) -> list[str]:
    """No ssh_config, this key alone (the person's by default), web2's pinned host key."""
    return ["-F", "/dev/null", "-i", str(key or setup.key.private), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={lab.paths.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]


def sftp(setup: Setup, lab: Lab, *commands: str) -> subprocess.CompletedProcess[str]:
    """``sftp -b -``: the commands, one a line; the first that fails ends the session."""
    return subprocess.run(["sftp", *_client_options(setup, lab), "-b", "-",
                           f"{setup.sftp.login}@{ADDRESS}"],
                          input="\n".join(commands) + "\n", capture_output=True, text=True,
                          timeout=120, check=False)


def ssh(setup: Setup, lab: Lab, *args: str, timeout: float = 60,
        ) -> subprocess.CompletedProcess[str]:
    argv = ["ssh", *_client_options(setup, lab), *args, f"{setup.sftp.login}@{ADDRESS}"]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return subprocess.CompletedProcess(argv, 124, out, err)


def _as(user: str, script: str) -> str:
    return f"runuser -u {user} -- sh -c {shlex.quote('umask 022 && ' + script)}"


# --- the deploy ---------------------------------------------------------------------------


def test_the_deploy_gives_access_and_a_second_run_changes_nothing(setup: Setup,
                                                                  lab: Lab) -> None:
    assert setup.first.returncode == 0, setup.first.output[-5000:]
    assert setup.second.returncode == 0, setup.second.output[-5000:]
    assert setup.second.changed() == []
    site = setup.sftp
    listing = lab.run(SERVER, f"stat -c '%U:%G %a' {site.chroot} {site.keys_file}; sshd -T"
                              f" -C user={site.login},host=x,addr=192.0.2.1 | grep -i"
                              " '^chrootdirectory'")
    assert listing.split("\n")[:2] == ["root:root 755", f"root:{site.login} 640"]
    assert f"chrootdirectory {site.chroot}" in listing


# --- what the person can do ---------------------------------------------------------------


@pytest.fixture(scope="module")
def uploaded(setup: Setup, lab: Lab, tmp_path_factory: pytest.TempPathFactory,
             ) -> subprocess.CompletedProcess[str]:
    """A theme file and a PHP probe, put by the person; the PHP reads the file back."""
    local = tmp_path_factory.mktemp("sftp-upload")
    (local / "style.css").write_text(CSS)
    (local / "lecture.php").write_text(
        "<?php header('Content-Type: text/plain');\n"
        "$f = __DIR__ . '/wp-content/themes/essai-sftp/style.css';\n"
        "echo is_readable($f) ? 'readable' : 'unreadable', ' ',"
        " is_writable($f) ? 'writable' : 'read-only', \"\\n\", file_get_contents($f);\n")
    for path in local.iterdir():  # sftp keeps the local mode, less the server's umask
        path.chmod(0o644)
    return sftp(setup, lab, f"-mkdir {THEME}", f"put {local / 'style.css'} {THEME}/style.css",
                f"put {local / 'lecture.php'} /web/lecture.php")


def test_an_uploaded_theme_file_is_served_over_https(uploaded: Any, setup: Setup) -> None:
    assert uploaded.returncode == 0, uploaded.stderr
    answer = get(SERVER, OWN, "/wp-content/themes/essai-sftp/style.css")
    assert answer.status == 200, answer.text[:500]
    assert answer.text == CSS


def test_what_the_person_writes_is_the_sites_own(uploaded: Any, setup: Setup,
                                                 lab: Lab) -> None:
    assert uploaded.returncode == 0, uploaded.stderr
    site = setup.layout(OWN)
    owners = lab.run(SERVER, f"stat -c '%U %a' {site.web}/wp-content/themes/essai-sftp"
                             f" {site.web}/wp-content/themes/essai-sftp/style.css")
    assert owners.split("\n")[:2] == [f"{site.name} 755", f"{site.name} 644"]
    answer = get(SERVER, OWN, "/lecture.php")
    assert answer.status == 200, answer.text[:500]
    assert answer.text == "readable writable\n" + CSS


def test_the_neighbours_php_and_user_cannot_read_it(uploaded: Any, setup: Setup,
                                                    lab: Lab) -> None:
    assert uploaded.returncode == 0, uploaded.stderr
    own, neighbour = setup.layout(OWN), setup.layout(NEIGHBOUR)
    target = f"{own.web}/wp-content/themes/essai-sftp/style.css"
    probe = (f"<?php header('Content-Type: text/plain');"
             f" echo @file_get_contents('{target}') === false ? 'refused' : 'READ';\n")
    lab.run(SERVER, _as(neighbour.name, f"cat > {neighbour.web}/voisin.php <<'EOF'\n"
                                        f"{probe}EOF"))
    answer = get(SERVER, NEIGHBOUR, "/voisin.php")
    assert answer.status == 200 and answer.text == "refused", answer.text[:500]
    # Nor through the person's chroot: its views are the site's own, its logs its group's.
    chroot = setup.sftp.chroot
    for path in (target, f"{chroot}/web/wp-content/themes/essai-sftp/style.css",
                 f"{chroot}/logs/access.log", f"{chroot}/logs/error.log",
                 setup.sftp.keys_file):
        direct = lab.run(SERVER, _as(neighbour.name, f"cat {path} >/dev/null 2>&1"
                                                     " && echo READ || echo refused"))
        assert direct.strip() == "refused", path


def test_the_chroot_shows_the_sites_views_and_nothing_else(setup: Setup, lab: Lab) -> None:
    done = sftp(setup, lab, "ls -1 /", "ls -1 /logs", "cd ..", "pwd")
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines() if not line.startswith("sftp>")]
    names = {line.rsplit("/", 1)[-1] for line in lines}
    assert {"web", "files", "logs", "site", "access.log", "error.log"} <= names
    assert not names & {"secrets", "wp-config.php", "tmp", "sessions", "etc", "srv"}
    assert "Remote working directory: /" in done.stdout


def _own_lines(setup: Setup, lab: Lab, local: Path) -> list[str]:
    """The lines of the access log the person reads, each checked to be of their site."""
    done = sftp(setup, lab, f"get /logs/access.log {local}")
    assert done.returncode == 0, done.stderr
    lines = local.read_text().splitlines()
    assert all(f'"host":"{OWN}"' in line for line in lines), lines[:5]
    return lines


def test_the_site_logs_are_readable_and_read_only(uploaded: Any, setup: Setup, lab: Lab,
                                                  tmp_path: Path) -> None:
    """Its nginx access log, live (three requests more, three lines more) and its own."""
    assert uploaded.returncode == 0, uploaded.stderr
    before = _own_lines(setup, lab, tmp_path / "before.log")
    for _ in range(3):
        assert get(SERVER, OWN, "/wp-content/themes/essai-sftp/style.css").status == 200
    get(SERVER, NEIGHBOUR, "/")  # in the neighbour's log, never in this one
    time.sleep(1)  # nginx writes a request's line once it has answered
    after = _own_lines(setup, lab, tmp_path / "after.log")
    assert len(after) >= len(before) + 3
    listing = sftp(setup, lab, "ls -1 /logs/site", "get /logs/error.log"
                   f" {tmp_path / 'error.log'}")
    assert listing.returncode == 0, listing.stderr
    (tmp_path / "note.txt").write_text("x\n")
    for target in ("/logs/note.txt", "/logs/site/note.txt", "/logs/access.log"):
        refused = sftp(setup, lab, f"put {tmp_path / 'note.txt'} {target}")
        assert refused.returncode != 0, target


def test_after_a_rotation_the_view_shows_the_live_log(uploaded: Any, setup: Setup, lab: Lab,
                                                    tmp_path: Path) -> None:
    """logrotate (copytruncate) keeps the log's inode and mode: the person's view, a bind
    mount of that file, still shows what nginx writes now."""
    assert uploaded.returncode == 0, uploaded.stderr
    log = setup.layout(OWN).access_log
    stat = f"stat -c '%i %U:%G %a' {log}"
    before = lab.run(SERVER, stat)
    lab.run(SERVER, f"logrotate -f {SITE_LOGROTATE}")
    assert lab.run(SERVER, stat) == before
    rotated = _own_lines(setup, lab, tmp_path / "rotated.log")
    for _ in range(3):
        assert get(SERVER, OWN, "/wp-content/themes/essai-sftp/style.css").status == 200
    time.sleep(1)
    live = _own_lines(setup, lab, tmp_path / "live.log")
    assert len(live) >= len(rotated) + 3
    assert before.split()[1:] == [f"root:{setup.layout(OWN).name}", "640"], before


@pytest.mark.parametrize("attempt", [
    "ls /srv/sites", "ls /etc", "get /etc/passwd", "get /etc/shadow",
    "get /srv/sites/{own}/secrets/site.ini", "get /srv/sites/{own}/wp-config.php",
    "get /web/../../secrets/site.ini", "get /web/../../wp-config.php",
    "ls /srv/sites/{neighbour}/web", "get /srv/sites/{neighbour}/web/wp-config.php",
    "ls /srv/sftp/{neighbour}", "ls /srv/sites/{second}/web",
    "get /etc/ssh/koumbit-sftp/{own}", "put /etc/hostname /etc/hostname",
    "put /etc/hostname /hostname", "mkdir /secrets", "rm /logs/access.log",
    "rename /web /ailleurs", "symlink /web /lien",
])
def test_reaching_outside_its_own_views_is_refused(attempt: str, setup: Setup, lab: Lab,
                                                   tmp_path: Path) -> None:
    command = attempt.format(own=setup.layout(OWN).name, second=setup.layout(SECOND).name,
                             neighbour=setup.layout(NEIGHBOUR).name)
    if command.startswith("get "):
        command += f" {tmp_path / 'copy'}"
    done = sftp(setup, lab, command)
    assert done.returncode != 0, (command, done.stdout)
    assert not (tmp_path / "copy").exists()


def test_no_shell_and_no_command(setup: Setup, lab: Lab) -> None:
    command = ssh(setup, lab, "id; cat /etc/passwd", timeout=30)
    assert "uid=" not in command.stdout and "root:" not in command.stdout
    tty = ssh(setup, lab, "-tt", timeout=30)
    assert "uid=" not in tty.stdout and "$ " not in tty.stdout
    assert "PTY allocation request failed" in tty.stderr


def test_no_forwarding_of_any_kind(setup: Setup, lab: Lab) -> None:
    # Through the server to its own sshd, to MariaDB, to the web server: each refused.
    for target in ("127.0.0.1:22", "127.0.0.1:3306", f"{ADDRESS}:443"):
        stdio = ssh(setup, lab, "-W", target, timeout=30)
        assert stdio.returncode != 0, target
        assert "SSH-" not in stdio.stdout, target
    remote = ssh(setup, lab, "-N", "-o", "ExitOnForwardFailure=yes",
                 "-R", "127.0.0.1:18022:127.0.0.1:22", timeout=30)
    assert remote.returncode != 0 and "forwarding failed" in remote.stderr, remote.stderr
    unix = ssh(setup, lab, "-N", "-o", "ExitOnForwardFailure=yes",
               "-R", "/tmp/koumbit-sftp-essai.sock:127.0.0.1:22", timeout=30)
    assert unix.returncode != 0, unix.stderr


def test_a_local_forward_carries_nothing(setup: Setup, lab: Lab) -> None:
    port = _free_port()
    argv = ["ssh", *_client_options(setup, lab), "-N", "-L", f"127.0.0.1:{port}:127.0.0.1:22",
            f"{setup.sftp.login}@{ADDRESS}"]
    tunnel = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        greeting = b""
        for _ in range(50):  # the client listens once it is logged in
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                    conn.settimeout(5)
                    greeting = conn.recv(16)
                break
            except ConnectionRefusedError:
                time.sleep(0.2)
            except TimeoutError:
                break
        assert not greeting.startswith(b"SSH-"), greeting
    finally:
        tunnel.terminate()
        _, err = tunnel.communicate(timeout=30)
    assert "administratively prohibited" in err or "open failed" in err, err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_failed_logins_reach_fail2bans_sshd_jail(setup: Setup, lab: Lab,
                                                  tmp_path: Path) -> None:
    """A key the inventory does not give, tried on the site's login: the sshd jail's own
    filter (the one fail2ban bans with) matches sshd's lines about it. The lab host is a
    trusted source, never banned: the filter is checked, not a ban."""
    wrong = tmp_path / "id_wrong"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)],
                   check=True)
    for _ in range(2):
        done = subprocess.run(["sftp", *_client_options(setup, lab, wrong), "-b", "-",
                               f"{setup.sftp.login}@{ADDRESS}"],
                              input="pwd\n", capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode != 0
    matched = lab.run(SERVER, "fail2ban-regex --print-all-matched"
                              " 'systemd-journal[journalflags=1]' 'sshd[mode=aggressive]'"
                              f" 2>&1 | grep -c {shlex.quote(setup.sftp.login)} || true")
    assert int(matched.split()[-1]) >= 1, matched


# --- removing the key -----------------------------------------------------------------------


def test_removing_the_key_from_the_inventory_ends_the_access(setup: Setup, lab: Lab) -> None:
    site = setup.sftp
    before = sftp(setup, lab, "pwd")
    assert before.returncode == 0, before.stderr
    revoked = write_variant(ROOT / "inventory" / "lab", setup.scratch, _edit(None))
    try:
        run = sftp_deploy(revoked)
        assert run.returncode == 0, run.output[-5000:]
        after = sftp(setup, lab, "pwd")
        assert after.returncode != 0
        assert "Permission denied" in after.stderr, after.stderr
        left = lab.run(SERVER, f"ls {site.keys_file} {site.chroot} 2>&1;"
                              f" grep -c 'Match User {site.login}$' /etc/ssh/sshd_config;"
                              f" findmnt -rn -o TARGET | grep -c '^{site.chroot}/' || true")
        assert "No such file" in left and left.split()[-2:] == ["0", "0"], left
        # The site itself is untouched: what the person uploaded is still served.
        assert get(SERVER, OWN, "/wp-content/themes/essai-sftp/style.css").status == 200
    finally:
        again = sftp_deploy(write_variant(ROOT / "inventory" / "lab", setup.scratch,
                                          _edit(setup.key)))
        assert again.returncode == 0, again.output[-5000:]
