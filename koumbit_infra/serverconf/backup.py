"""Backups: who backs up to whom, under which names, when, and for how long."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from koumbit_infra.inventory import Inventory, Plan, Role, Server, SiteState

CHROOT_ROOT = "/srv/restic"
CLIENT_DIR = "/etc/koumbit/backup"
REPO_DIR_IN_CHROOT = "/repo"
# Backed up on every client. /var/backups/koumbit holds the database dump the
# service writes just before restic runs, so tables are consistent.
BACKUP_PATHS = ("/etc", "/root", "/home", "/srv", "/var/backups/koumbit")
# The site tools' scratch (koumbit_infra.sites.layout.WORK_ROOT) holds transient copies.
EXCLUDES = ("/srv/restic", "/var/cache", "*.tmp", "/srv/sites/.koumbit-work")
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
        return ("--keep-daily", str(self.daily), "--keep-weekly", str(self.weekly),
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
        return f"{CHROOT_ROOT}/{self.server.name}"

    @property
    def repository(self) -> str:
        """restic's repository URL; the host alias resolves in this client's ssh_config."""
        return f"sftp:koumbit-backup:{REPO_DIR_IN_CHROOT}"

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


def backup_server(inv: Inventory) -> Server | None:
    """The server holding the repositories: the first with the backup role."""
    found = inv.servers_with(Role.BACKUP)
    return found[0] if found else None


def backup_clients(inv: Inventory) -> tuple[BackupClient, ...]:
    """Every server that backs up: all but the backup servers themselves."""
    target = backup_server(inv)
    if target is None:
        return ()
    return tuple(
        BackupClient(s, target, retention(inv, s))
        for s in inv.servers
        if not s.has(Role.BACKUP)
    )


def client_of(inv: Inventory, server: Server) -> BackupClient | None:
    return next((c for c in backup_clients(inv) if c.server.name == server.name), None)
