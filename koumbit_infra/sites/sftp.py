"""Clients' SFTP to their sites: who reaches which site, and the chroot each one lands in.

A person of the client file's ``people:`` logs in as the site's own Unix user
(``sftp <site user>@<server>``) with one of their keys. The keys of every person
given the site are in ``/etc/ssh/koumbit-sftp/<site user>``, root's file, which
sshd reads for that user only (its ``Match User`` block in sshd_config); sshd
forces ``internal-sftp`` there, chrooted, with no TTY and no forwarding of any
kind. Files written land owned by the site's user, with the umask below, so
the site's PHP reads and writes them and nginx serves them.

The chroot is ``/srv/sftp/<site user>``, root's folder (sshd refuses any other),
outside the site's tree: the site's root holds its secrets, readable by its
user, so the chroot may not be that root. In it, read-only bind mounts and
read-write ones show what the person may see (:attr:`SftpSite.views`)::

    web/                  the code (read-write)          /srv/sites/<n>/web
    files/                the uploads (read-write)       /srv/sites/<n>/files
    logs/site/            PHP's error log (read-only)    /srv/sites/<n>/logs
    logs/access.log       nginx's access log (read-only) /var/log/nginx/sites/<n>.access.log
    logs/error.log        nginx's error log (read-only)  /var/log/nginx/sites/<n>.error.log

No root-run step follows a path the site can change: each mount's source is an
entry of a root-owned folder (the site cannot rename or replace ``web`` in
``/srv/sites/<n>``, nor anything in nginx's log folder), each target an entry
of the root-owned chroot; systemd mounts them by those paths. Nothing ever
removes recursively under the chroot root (a bind mount there is the site's own
tree): a chroot no longer wanted is unmounted, then its empty folders ``rmdir``-ed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from koumbit_infra.inventory import Inventory, Person, Role, Server, SiteState
from koumbit_infra.inventory.sshkeys import parse_public_key
from koumbit_infra.sites.layout import Directory, SiteLayout

SFTP_ROOT = "/srv/sftp"
KEYS_DIR = "/etc/ssh/koumbit-sftp"
UNIT_DIR = "/etc/systemd/system"
# What a person writes: rw-r--r-- files and rwxr-xr-x folders. nginx (www-data) serves a
# file under web/ by its "other" bits (web/ itself lets www-data in by its group, and no
# other site's user at all); in the setgid uploads folder, by its group www-data.
UMASK = "0022"
# Where a session starts, inside the chroot.
START_DIR = "/web"
# Mount points inside a chroot: the folders first, then the files (each a mount of one log).
CHROOT_DIRS = ("logs",)
MOUNT_POINTS = ("web", "files", "logs/site", "logs/access.log", "logs/error.log")
_UNIT_PATH = re.compile(r"(?:/[a-z0-9_][a-z0-9_.]*)+")


def mount_unit(path: str) -> str:
    """The systemd unit that mounts at ``path``, as ``systemd-escape --path`` names it.

    Only for the paths built here (lower-case letters, digits, ``_`` and dots),
    which escape to themselves with ``/`` as ``-``; anything else is refused
    rather than escaped wrongly.
    """
    if not _UNIT_PATH.fullmatch(path):
        raise ValueError(f"{path}: not a path this module names mount units for")
    return path.strip("/").replace("/", "-") + ".mount"


UNIT_PREFIX = mount_unit(SFTP_ROOT).removesuffix(".mount") + "-"


@dataclass(frozen=True)
class View:
    """One bind mount of the chroot: ``source`` shown at ``target``."""

    source: str
    target: str
    read_only: bool
    what: str
    is_file: bool = False  # a log shown alone, mounted on an empty file

    @property
    def unit(self) -> str:
        return mount_unit(self.target)

    @property
    def unit_file(self) -> str:
        return f"{UNIT_DIR}/{self.unit}"

    @property
    def options(self) -> str:
        """No device, no set-user-ID, nothing executable through the view; ``ro`` where it
        is one (mount(8) remounts a bind read-only by itself)."""
        return "bind,nosuid,nodev,noexec" + (",ro" if self.read_only else "")


@dataclass(frozen=True)
class KeyLine:
    """One line of a site's key file: the person's key, with ``restrict`` before it."""

    person: str
    full_name: str
    identity: str

    @property
    def line(self) -> str:
        # restrict: no TTY, no forwarding, no ~/.ssh/rc, whatever sshd_config says.
        # The key's own comment is not copied: the person's name stands in its place.
        return f"restrict {self.identity} {self.person}"


@dataclass(frozen=True)
class ChrootPlan:
    """One site's chroot as the operations make it: plain paths and views."""

    login: str
    chroot: str
    directories: tuple[Directory, ...]
    views: tuple[View, ...]

    @property
    def mount_points(self) -> tuple[str, ...]:
        return tuple(v.target for v in self.views)


@dataclass(frozen=True)
class SftpSite:
    """One site that people reach by SFTP: its login, chroot, key file and views."""

    site: SiteLayout
    client: str
    people: tuple[Person, ...]

    @property
    def people_names(self) -> str:
        return ", ".join(p.name for p in self.people)

    @property
    def login(self) -> str:
        """What people type before ``@``: the site's own Unix user."""
        return self.site.name

    @property
    def chroot(self) -> str:
        return f"{SFTP_ROOT}/{self.site.name}"

    @property
    def keys_file(self) -> str:
        return f"{KEYS_DIR}/{self.site.name}"

    @property
    def force_command(self) -> str:
        return f"internal-sftp -u {UMASK} -d {START_DIR}"

    @property
    def directories(self) -> tuple[Directory, ...]:
        """root's own folders of the chroot, parents first. The chroot is root:root 0755, as
        sshd demands; ``logs/`` lets the site's group alone through: the nginx logs mounted
        in it are world-readable files, which nginx's own folder keeps from other sites."""
        return (Directory(self.chroot, "root", "root", "755"),
                *(Directory(f"{self.chroot}/{d}", "root", self.site.name, "750")
                  for d in CHROOT_DIRS))

    @property
    def views(self) -> tuple[View, ...]:
        s, at = self.site, self.chroot
        return (
            View(s.web, f"{at}/web", False, "code"),
            View(s.files, f"{at}/files", False, "uploads"),
            View(s.logs, f"{at}/logs/site", True, "PHP's error log"),
            View(s.access_log, f"{at}/logs/access.log", True, "nginx's access log", True),
            View(s.error_log, f"{at}/logs/error.log", True, "nginx's error log", True),
        )

    @property
    def plan(self) -> ChrootPlan:
        return ChrootPlan(self.login, self.chroot, self.directories, self.views)

    @property
    def key_lines(self) -> tuple[KeyLine, ...]:
        return tuple(KeyLine(p.name, p.full_name, parse_public_key(k).identity)
                     for p in self.people for k in p.ssh_keys)


def sftp_sites(inv: Inventory, server: Server) -> tuple[SftpSite, ...]:
    """The sites of ``server`` that people reach by SFTP, by domain (none off web servers)."""
    if not server.has(Role.WEB):
        return ()
    out = []
    for placed in inv.sites_on(server.name):
        if placed.site.state is SiteState.ABSENT:
            continue
        people = tuple(p for p in placed.client.people if placed.site.domain in p.sites)
        if people:
            out.append(SftpSite(SiteLayout.of(inv, placed), placed.client.slug, people))
    return tuple(out)
