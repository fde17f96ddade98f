"""Clients' SFTP as the inventory makes it: who reaches which site, the chroot's views, the
key files, and sshd's own reading of the rendered configuration for each Debian release."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from releasecheck import sshd_text_for_host

from koumbit_infra.cli import main
from koumbit_infra.inventory import Inventory, load_inventory
from koumbit_infra.operations.sftp import take_apart
from koumbit_infra.releases import Debian
from koumbit_infra.serverconf.backup import EXCLUDES
from koumbit_infra.serverconf.files import base_config, sftp_config
from koumbit_infra.sites.files import server_files
from koumbit_infra.sites.layout import REMOVE, SITE_LIB, SITE_LOG_ROOT, SiteLayout
from koumbit_infra.sites.sftp import (
    MOUNT_POINTS,
    SFTP_ROOT,
    UMASK,
    UNIT_PREFIX,
    SftpSite,
    mount_unit,
    sftp_sites,
)
from koumbit_infra.sites.variant import Clients, write_variant
from koumbit_infra.templating import render

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "inventory" / "lab"
SITE = "banque-rosemont.test"
BRUNO_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAK+hhe+mdA1U42ZtnZPpfu96EHRc/knO1cigBZB5JX"
# A key's comment is free text after the key: options written there are only words.
OTHER_KEY = BRUNO_KEY + ' command="/bin/sh",permitopen="*:*"'


def _lab() -> Inventory:
    return load_inventory(LAB)


def _variant(tmp: Path, edit: Any) -> Inventory:
    return load_inventory(write_variant(LAB, tmp, edit).with_suffix(""))


def _only(inv: Inventory, server: str) -> SftpSite:
    [found] = sftp_sites(inv, inv.server(server))
    return found


def test_a_person_reaches_the_sites_named_for_them_and_no_other() -> None:
    inv = _lab()
    site = _only(inv, "web2")
    assert site.site.domain == SITE and [p.name for p in site.people] == ["amelie"]
    # The client's other site, and every other server's sites, have no SFTP.
    assert sftp_sites(inv, inv.server("web1")) == ()
    assert sftp_sites(inv, inv.server("backup1")) == ()
    assert site.login == site.site.name and site.chroot == f"{SFTP_ROOT}/{site.site.name}"


def test_every_view_shows_an_entry_of_a_folder_root_owns() -> None:
    """The site may plant links anywhere in its own folders: no view's source or target is
    reached through one (the site cannot rename or replace an entry of root's folder)."""
    site = _only(_lab(), "web2")
    layout = site.site
    root_owned = {d.path for d in layout.directories if d.owner == "root"}
    assert layout.root in root_owned
    for view in site.views:
        parent = os.path.dirname(view.source)
        assert parent in root_owned or parent == SITE_LOG_ROOT, view
        assert view.target.startswith(site.chroot + "/"), view
        assert os.path.dirname(view.target) in {d.path for d in site.directories}, view
    assert [v.target.removeprefix(site.chroot + "/") for v in site.views] == list(MOUNT_POINTS)
    assert layout.secrets_dir not in {v.source for v in site.views}
    assert not any(v.source in (layout.root, layout.drupal_dir, layout.config_file)
                   for v in site.views)


def test_no_other_site_may_enter_the_chroots_logs() -> None:
    """nginx's logs are world-readable files in a folder only root and adm enter; shown in
    the chroot, the folder around them keeps every other site's user out."""
    site = _only(_lab(), "web2")
    chroot, logs = site.directories
    assert (chroot.owner, chroot.group, chroot.mode) == ("root", "root", "755")
    assert (logs.path, logs.owner, logs.group, logs.mode) == (
        f"{site.chroot}/logs", "root", site.login, "750")
    assert {os.path.dirname(v.target) for v in site.views if v.is_file} == {logs.path}


def test_code_and_uploads_are_writable_and_logs_read_only() -> None:
    site = _only(_lab(), "web2")
    writable = {v.target.rsplit("/", 1)[1] for v in site.views if not v.read_only}
    assert writable == {"web", "files"}
    for view in site.views:
        options = view.options.split(",")
        assert {"bind", "nosuid", "nodev", "noexec"} <= set(options)
        assert ("ro" in options) is view.read_only


def test_mount_units_are_named_as_systemd_names_them() -> None:
    tool = shutil.which("systemd-escape")
    if tool is None:
        pytest.fail("systemd-escape is missing: run scripts/bootstrap")
    for env in ("lab", "example"):
        inv = load_inventory(ROOT / "inventory" / env)
        for server in inv.servers:
            for site in sftp_sites(inv, server):
                for view in site.views:
                    done = subprocess.run([tool, "--path", "--suffix=mount", view.target],
                                          check=True, capture_output=True, text=True)
                    assert view.unit == done.stdout.strip()
                    assert view.unit.startswith(f"{UNIT_PREFIX}{site.login}-")


@pytest.mark.parametrize("path", ["/srv/sftp/a-b/web", "/srv/sftp/../etc", "srv/sftp/x",
                                  "/srv/sftp/x y", "/srv/sftp/.hidden"])
def test_a_path_whose_unit_name_needs_escapes_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not a path"):
        mount_unit(path)


def test_the_key_file_restricts_every_key_and_copies_no_comment(tmp_path: Path) -> None:
    """A key's comment is free text: a ``command=`` there must not reach the file."""
    def edit(clients: Clients) -> None:
        clients["banque-alimentaire"]["people"].append(
            {"name": "bruno", "full_name": "Bruno Caron", "ssh_keys": [OTHER_KEY],
             "sites": [SITE]})

    inv = _variant(tmp_path, edit)
    [keys] = sftp_config(inv, inv.server("web2")).keys
    text = render(keys.template, **keys.context)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert [line.split()[0] for line in lines] == ["restrict", "restrict"]
    assert [line.split()[-1] for line in lines] == ["amelie", "bruno"]
    assert "command=" not in text and "permitopen" not in text
    assert keys.dest == f"/etc/ssh/koumbit-sftp/{_only(inv, 'web2').login}"
    # sshd reads it as the site's user; only root writes it, no other site reads it.
    assert (keys.mode, keys.group) == ("640", _only(inv, "web2").login)


def test_removing_people_removes_their_keys_then_the_whole_access(tmp_path: Path) -> None:
    def two(clients: Clients) -> None:
        clients["banque-alimentaire"]["people"].append(
            {"name": "bruno", "full_name": "Bruno Caron", "ssh_keys": [BRUNO_KEY],
             "sites": [SITE]})

    def none(clients: Clients) -> None:
        del clients["banque-alimentaire"]["people"]

    both = _variant(tmp_path / "two", two)
    assert [k.person for k in _only(both, "web2").key_lines] == ["amelie", "bruno"]
    one = _lab()
    assert [k.person for k in _only(one, "web2").key_lines] == ["amelie"]
    gone = _variant(tmp_path / "none", none)
    web2 = gone.server("web2")
    assert sftp_sites(gone, web2) == () and sftp_config(gone, web2).all() == ()
    sshd = base_config(gone, web2).sshd
    assert "Match User" not in render(sshd.template, **sshd.context)


# --- sshd's own reading of the rendered configuration --------------------------------------


def _sshd() -> str:
    if os.geteuid() != 0:
        pytest.skip("sshd -T needs root (CI runs as root)")
    path = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(path):
        pytest.fail("sshd is missing: run scripts/bootstrap (scripts/host-packages.txt)")
    return path


def _effective(text: str, tmp: Path, user: str) -> dict[str, str]:
    """What sshd applies to a connection of ``user``, as ``sshd -T -C`` prints it."""
    for kind in ("ed25519", "rsa"):
        key = tmp / f"host_{kind}"
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)],
                           check=True)
        text = text.replace(f"/etc/ssh/ssh_host_{kind}_key", str(key))
    conf = tmp / "sshd_config"
    conf.write_text(sshd_text_for_host(text))
    Path("/run/sshd").mkdir(exist_ok=True)
    done = subprocess.run([_sshd(), "-T", "-f", str(conf), "-C",
                           f"user={user},host=client.test,addr=192.0.2.10"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)


RELEASE_SERVERS = {Debian.BOOKWORM: ("example", "web1"), Debian.TRIXIE: ("lab", "web2")}


@pytest.mark.parametrize("debian", list(RELEASE_SERVERS), ids=lambda d: f"debian-{d.value}")
def test_sshd_gives_the_site_user_sftp_only_in_its_chroot(debian: Debian,
                                                         tmp_path: Path) -> None:
    env, name = RELEASE_SERVERS[debian]
    inv = load_inventory(ROOT / "inventory" / env)
    server = inv.server(name)
    assert server.debian is debian
    sshd = base_config(inv, server).sshd
    text = render(sshd.template, **sshd.context)
    for site in sftp_sites(inv, server):
        seen = _effective(text, tmp_path, site.login)
        assert seen["chrootdirectory"] == site.chroot
        assert seen["forcecommand"] == f"internal-sftp -u {UMASK} -d /web"
        assert seen["authorizedkeysfile"] == site.keys_file
        for key in ("permittty", "allowagentforwarding", "x11forwarding", "permituserrc",
                    "passwordauthentication", "kbdinteractiveauthentication"):
            assert seen[key] == "no", key
        for key in ("allowtcpforwarding", "allowstreamlocalforwarding", "permittunnel"):
            assert seen[key] == "no", key
        assert seen["disableforwarding"] == "yes"
        assert seen["authenticationmethods"] == "publickey"


def test_sshd_applies_no_sftp_block_to_any_other_account(tmp_path: Path) -> None:
    inv = _lab()
    server = inv.server("web2")
    sshd = base_config(inv, server).sshd
    text = render(sshd.template, **sshd.context)
    not_sftp = SiteLayout.of(inv, inv.site("benevoles.banque-rosemont.test")).name
    for user in ("camille", "root", not_sftp):
        seen = _effective(text, tmp_path, user)
        assert seen["chrootdirectory"] == "none", user
        assert seen["forcecommand"] == "none", user
        assert seen["authorizedkeysfile"] == ".ssh/authorized_keys .ssh/authorized_keys2", user


# --- what the rest of the toolkit does about the chroots ------------------------------------


def test_the_system_backup_skips_the_chroots() -> None:
    """They show the sites' trees again: the sites have snapshots of their own."""
    assert SFTP_ROOT in EXCLUDES


def _tool(dest: str) -> str:
    inv = _lab()
    return next(f for f in server_files(inv, inv.server("web2")) if f.dest == dest).content


def test_a_swapped_tree_is_shown_again_and_a_removed_site_loses_its_keys_first() -> None:
    lib = _tool(SITE_LIB)
    start = lib[lib.index("pool_start() {"):]
    assert f'systemctl try-restart "{UNIT_PREFIX}$1-*.mount"' in start[:start.index("\n}")]
    remove = _tool(REMOVE)
    keys = remove.index('rm -f "/etc/ssh/koumbit-sftp/$name"')
    stop = remove.index('pool_stop "$name"')
    unmount = remove.index(f'systemctl stop "{UNIT_PREFIX}$name-*.mount"')
    assert keys < stop < unmount < remove.index('rm -rf "$root"')


# --- taking a chroot apart, for real, over a bind mount of a site's folder ----------------


def _chroot_over(tmp: Path) -> tuple[Path, Path]:
    """A site's code folder with a file, and a chroot whose web/ is a bind mount of it."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root (CI runs as root)")
    web = tmp / "site" / "web"
    web.mkdir(parents=True)
    (web / "index.php").write_text("<?php echo 'le site';\n")
    chroot = tmp / "chroot"
    for point in MOUNT_POINTS:
        path = chroot / point
        if point.endswith(".log"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True)
    done = subprocess.run(["mount", "--bind", str(web), str(chroot / "web")],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"this machine cannot bind-mount here: {done.stderr.strip()}")
    return web, chroot


def test_a_chroot_is_taken_apart_without_touching_the_sites_files(tmp_path: Path) -> None:
    web, chroot = _chroot_over(tmp_path)
    done = subprocess.run(["sh", "-c", take_apart(str(chroot))], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert not chroot.exists()
    assert (web / "index.php").read_text() == "<?php echo 'le site';\n"


def test_a_chroot_holding_anything_unexpected_is_left_alone(tmp_path: Path) -> None:
    """Only what the deploy made is removed: a file it did not write stops it there."""
    web, chroot = _chroot_over(tmp_path)
    (chroot / "logs" / "note.txt").write_text("laissé par un admin\n")
    done = subprocess.run(["sh", "-c", take_apart(str(chroot))], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert (chroot / "logs" / "note.txt").exists()
    assert (web / "index.php").exists()
    assert not os.path.ismount(chroot / "web")  # unmounted first, then the stop


# --- what the Infra team sends a developer ----------------------------------------------------


def test_site_sftp_names_the_login_and_each_key_as_ssh_keygen_shows_it(tmp_path: Path) -> None:
    inv = _lab()
    site = _only(inv, "web2")
    [key] = site.people[0].ssh_keys
    (tmp_path / "key.pub").write_text(key + "\n")
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "key.pub")], check=True,
                            capture_output=True, text=True).stdout.split()[1]
    result = CliRunner().invoke(main, ["site", "sftp", SITE, "--env", "lab"])
    assert result.exit_code == 0, result.output
    assert f"sftp {site.login}@{inv.server('web2').address}" in result.output
    assert f"amelie (Amélie Bergeron): ssh-ed25519 {listed}" in result.output


def test_site_sftp_says_when_nobody_reaches_a_site() -> None:
    result = CliRunner().invoke(main, ["site", "sftp", "erables.test", "--env", "lab"])
    assert result.exit_code == 0, result.output
    assert "nobody reaches it by SFTP" in result.output
    assert "clients/cooperative-erables.yaml" in result.output
