"""Restores proven on a schedule, on each backup target: what it needs and what it checks.

Every backup target restores, on its own, the newest snapshot of each site of
each repository it holds, into a scratch folder, and proves it
(``templates/usr/local/sbin/koumbit-backup-verify.j2``):

1. ``restic restore --verify`` (restic reads every restored file back and
   checks it against the snapshot's own blob hashes);
2. the restored tree against the snapshot's own listing (``restic ls --json``:
   path, type and size of every entry, none missing, none extra);
3. the site's database dump loaded into a throw-away MariaDB of its own
   (``mariadb-install-db`` and ``mariadbd --skip-networking`` in the scratch,
   as an unprivileged user that owns nothing else), then the CMS's own tables
   looked for;
4. per repository, ``restic check --read-data-subset``, so a damaged pack
   file is found even in a snapshot no site uses any more.

restic runs as the repository's own account through the lead's wrapper
``koumbit-backup-repo`` (the password is decrypted by root, never written);
the dump is loaded as ``koumbit-verify``, which can write neither a
repository nor the metrics: a dump from a compromised client (the mariadb
client's ``\\!`` shell escape, ``INTO OUTFILE``) reaches only its own
throw-away instance.

The timer runs every hour: each run refreshes every site's snapshot age (one
``snapshots --json`` per repository, so the 26 h rule never waits a day for
news), then proves whatever is due. Each site and each repository has its day
of the cycle (a hash of its names), so the load spreads over the interval; a
failed one is tried again the next day; one never proven is proven at once.
The script's results are kept in a root-only state file, so the metrics of
sites not proven in this run keep their last values.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from koumbit_infra.inventory import Cms, Inventory, Role, Server, SiteState
from koumbit_infra.serverconf import backup
from koumbit_infra.serverconf.files import ConfigFile
from koumbit_infra.sites.layout import DUMP_ROOT

SCRIPT = "/usr/local/sbin/koumbit-backup-verify"
# The target-side restic: on /srv/restic/<client>/repo as restic-<client>.
REPO_WRAPPER = backup.TARGET_WRAPPER
STATE_DIR = backup.TARGET_STATE
STATE_FILE = f"{STATE_DIR}/verify.state"
# Root's (0711), on the repositories' disk (where the room is); no client's name starts
# with a dot. Each site gets a fresh folder in it, made by root and handed over.
SCRATCH_ROOT = f"{backup.CHROOT_ROOT}/.koumbit-verify"
LOCK_FILE = f"{STATE_DIR}/verify.lock"
# Debian's node_exporter reads *.prom files here (its --collector.textfile.directory).
TEXTFILE = "/var/lib/prometheus/node-exporter/koumbit_backup.prom"
# Runs the throw-away MariaDB; owns nothing but what each run hands it.
VERIFY_USER = "koumbit-verify"
UNIT = "koumbit-backup-verify"
# The server packages without their service: mariadb-server-core has mariadbd and
# mariadb-install-db but no systemd unit, so no MariaDB runs on a backup server.
PACKAGES = ("restic", "age", "python3", "mariadb-server-core", "mariadb-client-core")
# The table prefix deploys/sites.py writes into every wp-config.php.
WORDPRESS_TABLE_PREFIX = "wp_"
# Tables a standard install of each CMS always has.
DRUPAL_TABLES = ("users", "node", "config")
WORDPRESS_TABLES = ("posts", "options", "users")
# The lab's Drupal stand-in (koumbit_infra/lab/codebases/drupal-wiring) makes only this one.
LAB_DRUPAL_TABLES = ("koumbit_wiring",)
# Bounds of one run's steps, seconds: a stuck step fails its site, never the timer.
TIMEOUTS = {
    "listing": 600,  # snapshots, ls
    "restore": 4 * 3600,
    "database": 2 * 3600,  # install, start, load, query
    "check": 8 * 3600,
}
# A verification day starts at this hour (local time), after the clients' nightly
# backups (serverconf/backup.py spreads them over 01:00-05:00): what is due runs then.
DAY_START_HOUR = 6
# Free space kept beside a restore: the database's files take about twice its dump.
SCRATCH_MARGIN_BYTES = 256 * 1024 * 1024
# Waits for a lock another restic holds (a client's backup, the target's pruning).
LOCK_RETRIES = 12
LOCK_WAIT_SECONDS = 300
# What may appear in the script's data section: names, domains, tables (no blank, no quote).
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:,-]*")


def _safe(value: str) -> str:
    """``value`` if it can sit in the script's data as one word, else ValueError.

    The inventory validates every name and domain already; this keeps a
    future field, or a validation bug, from ever reaching the shell.
    """
    if not _SAFE.fullmatch(value):
        raise ValueError(f"{value!r} cannot be written into {SCRIPT}")
    return value


def _slot(key: str, days: int) -> int:
    """The day of the cycle (0 to ``days`` - 1) of one site or repository: stable, spread."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % days


@dataclass(frozen=True)
class VerifiedSite:
    """One site whose newest snapshot a target restores and proves."""

    name: str  # system name: its tag site:<name>, its tree, its database
    domain: str  # the metrics' ``site`` label, as the koumbit exporter's
    cms: Cms
    tables: tuple[str, ...]
    slot: int

    @property
    def dump(self) -> str:
        return f"{DUMP_ROOT}/{self.name}/db.sql"

    @property
    def data_line(self) -> str:
        """Its line of the script's data: name domain cms slot tables (comma-separated)."""
        fields = (self.name, self.domain, self.cms.value, str(self.slot), ",".join(self.tables))
        return " ".join(_safe(f) for f in fields)


@dataclass(frozen=True)
class VerifiedRepository:
    """One client's repository on the target, and the sites it must hold."""

    client: backup.BackupClient
    sites: tuple[VerifiedSite, ...]
    slot: int

    @property
    def data_line(self) -> str:
        """Its line of the script's data: client account slot."""
        return " ".join(_safe(f) for f in (self.client.server.name, self.client.repo_user,
                                           str(self.slot)))


@dataclass(frozen=True)
class Verification:
    """Everything the verification script of one target is told."""

    target: Server
    repositories: tuple[VerifiedRepository, ...]
    interval_days: int
    read_data_percent: int

    @property
    def repository_lines(self) -> tuple[str, ...]:
        """The script's data on repositories: client account slot."""
        return tuple(r.data_line for r in self.repositories)

    @property
    def site_lines(self) -> tuple[str, ...]:
        """The script's data on sites: client name domain cms slot tables."""
        return tuple(f"{_safe(r.client.server.name)} {s.data_line}"
                     for r in self.repositories for s in r.sites)

    @property
    def target_name(self) -> str:
        return _safe(self.target.name)

    @property
    def on_calendar(self) -> str:
        """Every hour, at a minute of its own (a hash of the target's name, never random)."""
        return f"*-*-* *:{_slot(self.target.name, 60):02d}:00"


def expected_tables(inv: Inventory, cms: Cms) -> tuple[str, ...]:
    """Tables a site's restored database must have: those its CMS always makes."""
    if cms is Cms.WORDPRESS:
        return tuple(WORDPRESS_TABLE_PREFIX + t for t in WORDPRESS_TABLES)
    return LAB_DRUPAL_TABLES if inv.settings.lab else DRUPAL_TABLES


def verification(inv: Inventory, target: Server) -> Verification | None:
    """What ``target`` proves: every repository it holds and its present sites."""
    if not target.has(Role.BACKUP):
        return None
    days = inv.settings.backup_verify_interval_days
    repos = []
    for client in backup.backup_clients(inv):
        if client.target.name != target.name:
            continue
        server = client.server.name
        sites = tuple(
            VerifiedSite(p.site.system_name, p.site.domain, p.site.cms,
                         expected_tables(inv, p.site.cms),
                         _slot(f"{server}/{p.site.system_name}", days))
            for p in inv.sites_on(server) if p.site.state is not SiteState.ABSENT)
        repos.append(VerifiedRepository(client, sites, _slot(server, days)))
    return Verification(target, tuple(repos), days, inv.settings.backup_check_read_data_percent)


def verify_files(inv: Inventory, server: Server) -> tuple[ConfigFile, ...]:
    """The script, its service and its timer on a backup target (none elsewhere)."""
    found = verification(inv, server)
    if found is None:
        return ()
    ctx = {
        "v": found,
        "paths": {"wrapper": REPO_WRAPPER, "state": STATE_FILE, "scratch": SCRATCH_ROOT,
                  "textfile": TEXTFILE, "lock": LOCK_FILE,
                  "dump_root": DUMP_ROOT},
        "verify_user": VERIFY_USER,
        "timeouts": TIMEOUTS,
        "margin": SCRATCH_MARGIN_BYTES,
        "day_start_hour": DAY_START_HOUR,
        "lock_retries": LOCK_RETRIES,
        "lock_wait": LOCK_WAIT_SECONDS,
        "script": SCRIPT,
        "read_write": (STATE_DIR, backup.CHROOT_ROOT, backup.TARGET_CACHE,
                       TEXTFILE.rsplit("/", 1)[0]),
    }
    return (
        ConfigFile("backup-verify", "usr/local/sbin/koumbit-backup-verify.j2", SCRIPT, "700",
                   ctx),
        ConfigFile("backup-verify", "etc/systemd/system/koumbit-backup-verify.service.j2",
                   f"/etc/systemd/system/{UNIT}.service", "644", ctx),
        ConfigFile("backup-verify", "etc/systemd/system/koumbit-backup-verify.timer.j2",
                   f"/etc/systemd/system/{UNIT}.timer", "644", ctx),
    )
