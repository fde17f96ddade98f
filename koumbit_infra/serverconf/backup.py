"""Backups: who backs up to whom, under which names, when, and for how long.

Every server without the backup role (a *client*) backs up to every backup server
(its *targets*, in inventory order: the first is the primary, which the site tools
use). On each target a client has one restic repository, written through
``rclone serve restic --append-only`` behind a forced SSH command: the client can add
snapshots, never delete, prune nor overwrite them. Retention, pruning and the weekly
verified restores run on the target, which reads the repository password from its
own copy encrypted to its SSH host key. The same password is escrowed, encrypted to
the Infra admins' SSH keys, on every target.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from koumbit_infra.inventory import Inventory, Plan, Role, Server, SiteState
from koumbit_infra.inventory.crosscheck import ESCROW_KEY_TYPES
from koumbit_infra.sites.sftp import SFTP_ROOT

CHROOT_ROOT = "/srv/restic"
CLIENT_DIR = "/etc/koumbit/backup"
REPO_DIR_IN_CHROOT = "/repo"
# On each target: root-only age files, one per client (keys/: to the target's host key;
# escrow/: to the admins' keys).
TARGET_STATE = "/var/lib/koumbit-backup"
KEYS_DIR = f"{TARGET_STATE}/keys"
ESCROW_DIR = f"{TARGET_STATE}/escrow"
TARGET_CACHE = "/var/cache/koumbit-backup"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
RCLONE = "/usr/bin/rclone"
# The client's files for each target and for the escrow (made on the client).
ESCROW_FILE = f"{CLIENT_DIR}/escrow.age"
RECIPIENTS_FILE = f"{CLIENT_DIR}/escrow-recipients"
SEAL_TOOL = "/usr/local/sbin/koumbit-backup-seal"
PASSWORD_FILE = f"{CLIENT_DIR}/password"
# The target-side restic (koumbit_infra's helpers and the recover command call it).
TARGET_WRAPPER = "/usr/local/sbin/koumbit-backup-repo"
# Backed up on every client. /var/backups/koumbit holds the database dump the
# service writes just before restic runs, so tables are consistent.
BACKUP_PATHS = ("/etc", "/root", "/home", "/srv", "/var/backups/koumbit")
# The site tools' scratch (koumbit_infra.sites.layout.WORK_ROOT) holds transient copies.
# Sites have snapshots of their own (tree and dump of one run), so the system one skips them,
# and their SFTP chroots, which show their trees again through bind mounts.
EXCLUDES = ("/srv/restic", "/var/cache", "*.tmp", "/srv/sites", "/var/backups/koumbit/sites",
            SFTP_ROOT)
_WINDOW_START_MIN = 60  # 01:00: after most sites' evening traffic
_WINDOW_MINUTES = 240  # until 05:00


@dataclass(frozen=True)
class Retention:
    """How many daily, weekly and monthly snapshots `restic forget` keeps."""

    daily: int
    weekly: int
    monthly: int

    @property
    def forget_args(self) -> tuple[str, ...]:
        """Per group of host, paths and tags: a site's daily snapshots, its archives taken
        before a destructive step (every one of the last 7 days is kept), the system's."""
        return ("--group-by", "host,paths,tags", "--keep-within", "7d",
                "--keep-daily", str(self.daily), "--keep-weekly", str(self.weekly),
                "--keep-monthly", str(self.monthly))


@dataclass(frozen=True)
class BackupClient:
    """One server backing up to one backup server: names, paths and schedule."""

    server: Server
    target: Server
    retention: Retention

    @property
    def repo_user(self) -> str:
        """The SFTP-only account of this server on the backup server (32 chars at most)."""
        name = f"restic-{self.server.name}"
        if len(name) <= 32:
            return name
        digest = hashlib.sha256(self.server.name.encode()).hexdigest()[:8]
        return f"restic-{self.server.name[:16]}-{digest}"

    @property
    def chroot(self) -> str:
        """The account's home on the target, root's (it held an SFTP chroot once)."""
        return f"{CHROOT_ROOT}/{self.server.name}"

    @property
    def repo_path(self) -> str:
        """The repository's folder on the target."""
        return f"{self.chroot}{REPO_DIR_IN_CHROOT}"

    @property
    def ssh_alias(self) -> str:
        """The Host of this target in the client's ssh_config."""
        return f"koumbit-backup-{self.target.name}"

    @property
    def serve_command(self) -> str:
        """The only command the client's key may run on the target: append-only."""
        return (f"{RCLONE} serve restic --stdio --append-only --config /dev/null"
                f" {self.repo_path}")

    @property
    def key_name(self) -> str:
        """On the client: the password encrypted to this target's SSH host key."""
        return f"key-{self.target.name}.age"

    @property
    def key_file(self) -> str:
        return f"{CLIENT_DIR}/{self.key_name}"

    @property
    def target_pub_file(self) -> str:
        """On the client: this target's SSH host key, the recipient of ``key_file``."""
        return f"{CLIENT_DIR}/target-{self.target.name}.pub"

    @property
    def target_key_file(self) -> str:
        """On the target: the same file, read by the target's own restic wrapper."""
        return f"{KEYS_DIR}/{self.server.name}.age"

    @property
    def target_escrow_file(self) -> str:
        """On the target: the client's password encrypted to the admins' keys."""
        return f"{ESCROW_DIR}/{self.server.name}.age"

    @property
    def on_calendar(self) -> str:
        """Daily time spread over 01:00-05:00 by a hash of the server name (stable, no random)."""
        digest = int(hashlib.sha256(self.server.name.encode()).hexdigest(), 16)
        minute = _WINDOW_START_MIN + digest % _WINDOW_MINUTES
        return f"*-*-* {minute // 60:02d}:{minute % 60:02d}:00"


def _default_retention() -> Retention:
    fields = Plan.model_fields
    return Retention(
        int(fields["backups_kept_daily"].default),
        int(fields["backups_kept_weekly"].default),
        int(fields["backups_kept_monthly"].default),
    )


def retention(inv: Inventory, server: Server) -> Retention:
    """The longest retention any site on ``server`` is promised (a repository is per server).

    A server without sites keeps the plans' default retention.
    """
    sites = [p for p in inv.sites_on(server.name) if p.site.state is not SiteState.ABSENT]
    if not sites:
        return _default_retention()
    plans = [inv.plan(p.client.plan) for p in sites]
    daily = max(p.site.backups_kept_daily or inv.plan(p.client.plan).backups_kept_daily
                for p in sites)
    return Retention(daily, max(p.backups_kept_weekly for p in plans),
                     max(p.backups_kept_monthly for p in plans))


def escrow_recipients(inv: Inventory) -> tuple[str, ...]:
    """Every admin's key age can encrypt to (``type base64``, comment dropped), in order."""
    found: list[str] = []
    for admin in inv.admins:
        for line in admin.ssh_keys:
            kind, blob = line.split()[:2]
            if kind in ESCROW_KEY_TYPES and f"{kind} {blob}" not in found:
                found.append(f"{kind} {blob}")
    return tuple(found)


def targets_of(inv: Inventory, server: Server) -> tuple[Server, ...]:
    """The backup servers ``server`` backs up to, the primary first (none for a target)."""
    if server.has(Role.BACKUP):
        return ()
    return tuple(inv.servers_with(Role.BACKUP))


def backup_clients(inv: Inventory) -> tuple[BackupClient, ...]:
    """One pair per client and target: every server but the backup servers, to each."""
    return tuple(BackupClient(s, t, retention(inv, s))
                 for s in inv.servers for t in targets_of(inv, s))


def clients_of(inv: Inventory, server: Server) -> tuple[BackupClient, ...]:
    """``server``'s pairs, the primary target first (empty for a backup server)."""
    return tuple(c for c in backup_clients(inv) if c.server.name == server.name)


def stored_on(inv: Inventory, target: Server) -> tuple[BackupClient, ...]:
    """The pairs whose repository lives on ``target``."""
    return tuple(c for c in backup_clients(inv) if c.target.name == target.name)
