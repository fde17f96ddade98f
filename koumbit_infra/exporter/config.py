"""The exporter's configuration file: what it measures, where, and how often.

The deploy renders this file from the inventory
(``koumbit_infra.monitoring.exporter.render_config``),
so the exporter never reads the inventory itself. Format: TOML, read with the
standard library. Every key is listed in ``EXAMPLE`` below; an unknown or
invalid key stops the exporter with the file and the key named (exit 2).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import field, fields
from enum import StrEnum
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic.dataclasses import dataclass

DEFAULT_CONFIG = Path("/etc/koumbit/exporter.toml")

# Outside 9100-9999, the range the Prometheus "default port allocations" wiki
# reserved for exporters (now fully allocated), and outside its continuation
# just above 10000; below the Linux ephemeral range (32768-60999).
DEFAULT_PORT = 19100

_T = TypeVar("_T")

_SYSTEM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

EXAMPLE = """\
# /etc/koumbit/exporter.toml: rendered by the deploy from the inventory.
server = "web1"                  # the inventory's server name (label `server`)
listen_address = "10.77.0.11"    # the address the monitoring server scrapes
port = 19100

[capacity]                       # the server's declared size (inventory `size`)
disk_bytes = 85899345920
memory_bytes = 4294967296

[paths]                          # {system_name} is replaced by each site's
sites_root = "/srv/sites"
log_root = "/var/log/nginx/sites"
proc_root = "/proc"
cgroup_root = "/sys/fs/cgroup"
site_cgroup = "koumbit.slice/koumbit-sites.slice/koumbit-sites-{system_name}.slice"
php_status_socket = "/run/php/{system_name}.status.sock"
php_status_path = "/fpm-status"

[refresh_seconds]                # how often each background measurement runs
disk = 300
database = 300
cpu = 15
traffic = 15
php = 15

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


def _system_name(value: str) -> str:
    if not _SYSTEM_NAME.match(value):
        raise ValueError(f"'{value}' is not a system name ([a-z][a-z0-9_]*, at most 32)")
    return value


def _address(value: str) -> str:
    ip_address(value)  # ValueError names the bad address
    return value


def _template(value: str) -> str:
    if "{system_name}" not in value:
        raise ValueError(f"'{value}' must contain {{system_name}}")
    return value


SystemName = Annotated[StrictStr, AfterValidator(_system_name)]
Template = Annotated[str, AfterValidator(_template)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class DiskMethod(StrEnum):
    SCAN = "scan"
    USER_QUOTA = "user_quota"
    PROJECT_QUOTA = "project_quota"


class Capacity(_Model):
    disk_bytes: int = Field(gt=0)
    memory_bytes: int = Field(gt=0)


class Paths(_Model):
    sites_root: Path = Path("/srv/sites")
    log_root: Path = Path("/var/log/nginx/sites")
    proc_root: Path = Path("/proc")
    cgroup_root: Path = Path("/sys/fs/cgroup")
    site_cgroup: Template = "koumbit.slice/koumbit-sites.slice/koumbit-sites-{system_name}.slice"
    php_status_socket: Template = "/run/php/{system_name}.status.sock"
    php_status_path: str = Field("/fpm-status", pattern=r"^/[A-Za-z0-9_./-]*$")

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)  # str -> Path


class RefreshSeconds(_Model):
    disk: float = Field(300, gt=0)
    database: float = Field(300, gt=0)
    cpu: float = Field(15, gt=0)
    traffic: float = Field(15, gt=0)
    php: float = Field(15, gt=0)

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)  # int -> float


class Disk(_Model):
    method: DiskMethod = DiskMethod.SCAN
    site_budget_seconds: float = Field(30, gt=0)
    quota_filesystem: str = "/srv"
    repquota: str = "/usr/sbin/repquota"

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)  # str -> enum


class Database(_Model):
    enabled: bool = False
    client: str = "/usr/bin/mariadb"
    defaults_file: str = "mariadb.cnf"
    timeout_seconds: float = Field(60, gt=0)

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


_shared: dict[object, object] = {}


def _share(value: _T) -> _T:
    """One object for every equal value (servers, clients, plans, quotas repeat across sites)."""
    return _shared.setdefault(value, value)  # type: ignore[return-value]


Shared = Annotated[StrictStr, Field(min_length=1), AfterValidator(_share)]
SharedInt = Annotated[StrictInt, Field(gt=0), AfterValidator(_share)]


@dataclass(frozen=True, slots=True, kw_only=True, config=ConfigDict(extra="forbid"))
class SiteEntry:
    """One site of the configuration, as compact as Python allows.

    A server holds up to ~10,000 of these for the life of the exporter: a
    slotted dataclass (no per-instance dict, about 140 bytes) validated by
    pydantic like a model, with repeated strings and integers shared, and the
    label tuple every collector keys its snapshot by made once here.
    """

    domain: Annotated[StrictStr, Field(min_length=3)]
    system_name: SystemName
    server: Shared
    client: Shared
    cms: Shared
    plan: Shared
    solidarity: StrictBool
    disk_quota_bytes: SharedInt
    php_workers: SharedInt
    php_memory_limit_bytes: SharedInt
    project_id: Annotated[StrictInt, Field(gt=0)] | None = None
    # A disabled site keeps its files and database (still measured) but has no pool.
    php_pool: StrictBool = True
    # Values of the (server, site, client) labels every per-site metric carries.
    labels: tuple[str, str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", (self.server, self.domain, self.client))

    @property
    def php_memory_committed_bytes(self) -> int:
        return self.php_workers * self.php_memory_limit_bytes


class ExporterConfig(_Model):
    server: str = Field(min_length=1)
    listen_address: Annotated[str, AfterValidator(_address)] = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    capacity: Capacity
    paths: Paths = Paths()
    refresh_seconds: RefreshSeconds = RefreshSeconds()
    disk: Disk = Disk()
    database: Database = Database()
    sites: tuple[SiteEntry, ...] = ()

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    @model_validator(mode="after")
    def _unique(self) -> ExporterConfig:
        for key in ("domain", "system_name"):
            seen: set[str] = set()
            for site in self.sites:
                value = getattr(site, key)
                if value in seen:
                    raise ValueError(f"two sites share {key} '{value}'")
                seen.add(value)
        if self.disk.method is DiskMethod.PROJECT_QUOTA:
            missing = [s.domain for s in self.local_sites if s.project_id is None]
            if missing:
                raise ValueError(f"disk.method project_quota needs sites.project_id: {missing}")
        return self

    @property
    def local_sites(self) -> tuple[SiteEntry, ...]:
        """Sites served by this server (others are listed only for their database)."""
        return tuple(s for s in self.sites if s.server == self.server)


def _key(loc: tuple[int | str, ...], data: object) -> str:
    """A dotted key such as ``sites[3].php_workers (example.org)``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
        else:
            parts.append(str(item))
    key = ".".join(parts) or "(top level)"
    if len(loc) >= 2 and loc[0] == "sites" and isinstance(loc[1], int) and isinstance(data, dict):
        sites = data.get("sites")
        if isinstance(sites, list) and loc[1] < len(sites) and isinstance(sites[loc[1]], dict):
            key += f" ({sites[loc[1]].get('domain', '?')})"
    return key


def parse_config(text: str, source: str) -> ExporterConfig:
    """The configuration in ``text``; ConfigError naming ``source`` and every bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return ExporterConfig.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{source}: {_key(err['loc'], data)}: {_message(err)}" for err in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None


def _message(err: Any) -> str:
    """pydantic's message, said plainly where it speaks of Python rather than the file."""
    if err["type"] not in ("extra_forbidden", "unexpected_keyword_argument"):
        return str(err["msg"])
    loc = err["loc"]
    if loc[:1] == ("sites",):
        return "unknown key (a site's keys: " + ", ".join(
            f.name for f in fields(SiteEntry) if f.init) + ")"
    if len(loc) == 1:
        return "unknown key (top-level keys: " + ", ".join(ExporterConfig.model_fields) + ")"
    return "unknown key"


def load_config(path: Path) -> ExporterConfig:
    """Read and validate the configuration file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(text, str(path))
