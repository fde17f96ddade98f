"""The exporter's configuration file: what it measures, where, and how often.

The deploy renders this file from the inventory
(``koumbit_infra.monitoring.exporter.render_config``),
so the exporter never reads the inventory itself. Format: TOML, read and
validated with the standard library (each field's check is in its annotation,
see validation.py). Every key is listed in ``EXAMPLE`` below; an unknown or
invalid key stops the exporter with the file and the key named (exit 2), every
problem at once.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

from koumbit_infra.exporter.validation import (
    Problems,
    Tables,
    above_zero,
    absolute_path,
    address,
    choice,
    flag,
    read,
    string,
    then,
    whole,
)

DEFAULT_CONFIG = Path("/etc/koumbit/exporter.toml")

# Outside 9100-9999, the range the Prometheus "default port allocations" wiki
# reserved for exporters (now fully allocated), and outside its continuation
# just above 10000; below the Linux ephemeral range (32768-60999).
DEFAULT_PORT = 19100

_T = TypeVar("_T")

_SYSTEM_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

EXAMPLE = """\
# /etc/koumbit/exporter.toml: rendered by the deploy from the inventory.
server = "web1"                  # the inventory's server name (label `server`)
listen_address = "10.77.0.11"    # the address the monitoring server scrapes
port = 19100

[capacity]                       # the server's declared size (inventory `size`)
disk_bytes = 85899345920
memory_bytes = 4294967296

[paths]                          # from sites/layout.py; {system_name}: each site's
sites_root = "/srv/sites"
log_root = "/var/log/nginx/sites"
site_cgroup = "koumbit.slice/koumbit-sites.slice/koumbit-sites-{system_name}.slice"
php_status_socket = "/run/php/{system_name}.status.sock"
php_status_path = "/fpm-status"
site_state_root = "/var/lib/koumbit/sites"  # {system_name}/audit.json, update.json
proc_root = "/proc"              # optional, as here
cgroup_root = "/sys/fs/cgroup"   # optional, as here

[refresh_seconds]                # how often each background measurement runs
disk = 300
database = 300
cpu = 15
traffic = 15
php = 15
audit = 60

[disk]
method = "scan"                  # scan | user_quota | project_quota
site_budget_seconds = 30         # scan: walk time per site and refresh; goes on at the next
quota_filesystem = "/srv"
repquota = "/usr/sbin/repquota"

[database]                       # only on a server with the db role
enabled = true
client = "/usr/bin/mariadb"
defaults_file = "mariadb.cnf"    # relative: under $CREDENTIALS_DIRECTORY
timeout_seconds = 60

[advisories]                     # settings.codebases of the inventory
alert_after_days = 7             # a critical or unrated advisory open longer alerts

[[sites]]
domain = "centre-femmes.test"
system_name = "centre_femmes_test_d33127a7"
server = "web1"                  # a site of another web server whose database lives here
client = "centre-femmes"
cms = "drupal"
plan = "standard"
solidarity = false
disk_quota_bytes = 10737418240
php_workers = 6
php_memory_limit_bytes = 268435456
# project_id = 1001              # only with disk.method = "project_quota"
"""


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names file and key."""

    exit_code = 2


def _template(value: object) -> str:
    if not isinstance(value, str) or "{system_name}" not in value:
        raise ValueError(f"'{value}' must contain {{system_name}}")
    return value


class DiskMethod(StrEnum):
    SCAN = "scan"
    USER_QUOTA = "user_quota"
    PROJECT_QUOTA = "project_quota"


@dataclass(frozen=True, kw_only=True)
class Capacity:
    disk_bytes: Annotated[int, whole(1)]
    memory_bytes: Annotated[int, whole(1)]


@dataclass(frozen=True, kw_only=True)
class Paths:
    """Where the server keeps what the exporter reads.

    The site layout has no default here: the deploy writes it from the one
    place that defines it (koumbit_infra/sites/layout.py), so the exporter
    cannot drift from where the sites really are. The kernel's own files
    keep their usual places unless a test points them at a fixture tree.
    """

    sites_root: Annotated[Path, absolute_path]
    log_root: Annotated[Path, absolute_path]
    site_cgroup: Annotated[str, _template]
    php_status_socket: Annotated[str, _template]
    php_status_path: Annotated[str, string(pattern=r"/[A-Za-z0-9_./-]*",
                                         what="a path such as /fpm-status")]
    site_state_root: Annotated[Path, absolute_path]
    proc_root: Annotated[Path, absolute_path] = Path("/proc")
    cgroup_root: Annotated[Path, absolute_path] = Path("/sys/fs/cgroup")


@dataclass(frozen=True, kw_only=True)
class RefreshSeconds:
    disk: Annotated[float, above_zero] = 300.0
    database: Annotated[float, above_zero] = 300.0
    cpu: Annotated[float, above_zero] = 15.0
    traffic: Annotated[float, above_zero] = 15.0
    php: Annotated[float, above_zero] = 15.0
    # audit.json changes every few hours; reading it is cheap.
    audit: Annotated[float, above_zero] = 60.0


@dataclass(frozen=True, kw_only=True)
class Disk:
    method: Annotated[DiskMethod, choice(DiskMethod)] = DiskMethod.SCAN
    site_budget_seconds: Annotated[float, above_zero] = 30.0
    quota_filesystem: Annotated[str, string()] = "/srv"
    repquota: Annotated[str, string()] = "/usr/sbin/repquota"


@dataclass(frozen=True, kw_only=True)
class Database:
    enabled: Annotated[bool, flag] = False
    client: Annotated[str, string()] = "/usr/bin/mariadb"
    defaults_file: Annotated[str, string()] = "mariadb.cnf"
    timeout_seconds: Annotated[float, above_zero] = 60.0


@dataclass(frozen=True, kw_only=True)
class Advisories:
    alert_after_days: Annotated[int, whole(1, 90)] = 7


_shared: dict[object, object] = {}


def _share(value: _T) -> _T:
    """One object for every equal value (servers, clients, plans, quotas repeat across sites)."""
    return _shared.setdefault(value, value)  # type: ignore[return-value]


def _system_name(value: object) -> str:
    if not isinstance(value, str) or not _SYSTEM_NAME.fullmatch(value):
        raise ValueError(f"'{value}' is not a system name ([a-z][a-z0-9_]*, at most 32)")
    return value


_shared_text = then(string(), _share)
_shared_count = then(whole(1), _share)


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteEntry:
    """One site of the configuration, as compact as Python allows.

    A server holds up to ~10,000 of these for the life of the exporter: a
    slotted dataclass (no per-instance dict, about 140 bytes) with repeated
    strings and integers shared, and the label tuple every collector keys its
    snapshot by made once here.
    """

    domain: Annotated[str, string(min_length=3)]
    system_name: Annotated[str, _system_name]
    server: Annotated[str, _shared_text]
    client: Annotated[str, _shared_text]
    cms: Annotated[str, _shared_text]
    plan: Annotated[str, _shared_text]
    solidarity: Annotated[bool, flag]
    disk_quota_bytes: Annotated[int, _shared_count]
    php_workers: Annotated[int, _shared_count]
    php_memory_limit_bytes: Annotated[int, _shared_count]
    project_id: Annotated[int | None, whole(1)] = None
    # A disabled site keeps its files and database (still measured) but has no pool.
    php_pool: Annotated[bool, flag] = True
    # Values of the (server, site, client) labels every per-site metric carries.
    labels: tuple[str, str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", (self.server, self.domain, self.client))

    @property
    def php_memory_committed_bytes(self) -> int:
        return self.php_workers * self.php_memory_limit_bytes


@dataclass(frozen=True, kw_only=True)
class ExporterConfig:
    server: Annotated[str, string()]
    listen_address: Annotated[str, address] = "127.0.0.1"
    port: Annotated[int, whole(1, 65535)] = DEFAULT_PORT
    capacity: Capacity
    paths: Paths
    refresh_seconds: RefreshSeconds = RefreshSeconds()
    disk: Disk = Disk()
    database: Database = Database()
    advisories: Advisories = Advisories()
    sites: Annotated[tuple[SiteEntry, ...], Tables(SiteEntry, "a site's keys", "domain")] = ()

    @property
    def local_sites(self) -> tuple[SiteEntry, ...]:
        """Sites served by this server (others are listed only for their database)."""
        return tuple(s for s in self.sites if s.server == self.server)


def _check_sites(config: ExporterConfig, problems: Problems) -> None:
    """What no single site shows: names used twice, project quotas without project ids."""
    for key in ("domain", "system_name"):
        seen: set[str] = set()
        for index, site in enumerate(config.sites):
            value = getattr(site, key)
            if value in seen:
                problems.add(f"sites[{index}].{key} ({site.domain})",
                             f"two sites share {key} '{value}'")
            seen.add(value)
    if config.disk.method is DiskMethod.PROJECT_QUOTA:
        for index, site in enumerate(config.sites):
            if site.server == config.server and site.project_id is None:
                problems.add(f"sites[{index}].project_id ({site.domain})",
                             "missing: disk.method project_quota needs each local site's")


def parse_config(text: str, source: str) -> ExporterConfig:
    """The configuration in ``text``; ConfigError naming ``source`` and every bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    problems = Problems()
    config = read(ExporterConfig, data, "", problems, keys="top-level keys")
    if config is not None:
        _check_sites(config, problems)
    if config is None or problems.lines:
        raise ConfigError("\n".join(f"{source}: {line}" for line in problems.lines))
    return config


def load_config(path: Path) -> ExporterConfig:
    """Read and validate the configuration file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(text, str(path))
