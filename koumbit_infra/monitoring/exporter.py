"""What the exporter deploy installs on one server, decided from the inventory.

The controller's side of the exporter: the configuration file's text, the
systemd unit's values and the templates they fill. The exporter on the server
reads only the file (``koumbit_infra/exporter/config.py`` parses it), so none
of this is shipped. Kept out of the deploy file so unit tests check the very
values the deploy uses.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from koumbit_infra.exporter.config import DEFAULT_CONFIG, DEFAULT_PORT, RefreshSeconds
from koumbit_infra.inventory import Inventory, PlacedSite, Role, Server, SiteState
from koumbit_infra.inventory.models import MIB
from koumbit_infra.monitoring.bundle import LAUNCHER
from koumbit_infra.monitoring.database import OPTION_FILE
from koumbit_infra.sites.layout import (
    FPM_STATUS_PATH,
    FPM_STATUS_SOCKET,
    SITE_CGROUP,
    SITE_LOG_ROOT,
    SITE_STATE_ROOT,
    SITES_ROOT,
)

CONFIG_PATH = str(DEFAULT_CONFIG)
UNIT_PATH = "/etc/systemd/system/koumbit-exporter.service"
TEMPLATE = Path("etc/systemd/system/koumbit-exporter.service.j2")
NGINX_LOG_FORMAT_TEMPLATE = Path("etc/nginx/conf.d/koumbit-log-format.conf.j2")

# The exporter's [paths]: where the site deploys put what it reads.
PATHS = {
    "sites_root": SITES_ROOT,
    "log_root": SITE_LOG_ROOT,
    "site_cgroup": SITE_CGROUP,
    "php_status_socket": FPM_STATUS_SOCKET,
    "php_status_path": FPM_STATUS_PATH,
    "site_state_root": SITE_STATE_ROOT,
}

# The lab's tests watch a file appear in a site within one refresh: disk and
# database every 15 s there, instead of every 300 s (sites are tiny in the lab).
LAB_REFRESH = RefreshSeconds(disk=15, database=15)


@dataclass(frozen=True)
class ExporterUnit:
    """The values ``koumbit-exporter.service.j2`` needs, as the deploy decides them.

    ``php_socket_group``: the group owning the pools' status sockets (the
    exporter joins it to talk FastCGI to them). ``database_defaults``: the
    root-only option file with the exporter's MariaDB credentials, handed to
    the service as the credential ``mariadb.cnf``; None on a server without
    the db role. ``allowed_scrapers``: addresses of the monitoring servers;
    when given, systemd drops packets from any other address (IPAddressAllow).
    ``php_services``: the PHP-FPM units of the server's release, started before it.
    """

    executable: str = LAUNCHER
    config_path: str = CONFIG_PATH
    php_socket_group: str = "www-data"
    database_defaults: str | None = OPTION_FILE
    sites_root: str = SITES_ROOT
    log_root: str = SITE_LOG_ROOT
    allowed_scrapers: tuple[str, ...] = ()
    php_services: tuple[str, ...] = ()

    @property
    def after(self) -> str:
        """The units it starts after: the network, MariaDB and the release's PHP-FPM."""
        return " ".join(("network-online.target", "mariadb.service", *self.php_services))


def refresh(inv: Inventory) -> RefreshSeconds:
    return LAB_REFRESH if inv.settings.lab else RefreshSeconds()


def exporter_config(inv: Inventory, server: Server) -> str:
    """/etc/koumbit/exporter.toml of ``server`` (same text on every run)."""
    return render_config(inv, server.name, refresh=refresh(inv))


def exporter_unit(inv: Inventory, server: Server) -> ExporterUnit:
    """The unit's values: launcher from the bundle, credential on db servers only."""
    scrapers = tuple(str(s.address) for s in inv.servers_with(Role.MONITOR))
    # A server without the web role has no site trees nor site logs; systemd
    # refuses to start a unit whose ReadOnlyPaths= is missing unless "-" marks
    # it optional.
    optional = "" if server.has(Role.WEB) else "-"
    defaults = ExporterUnit()
    return ExporterUnit(
        database_defaults=OPTION_FILE if server.has(Role.DB) else None,
        sites_root=optional + defaults.sites_root,
        log_root=optional + defaults.log_root,
        allowed_scrapers=scrapers,
        php_services=tuple(f"{php.fpm_service}.service" for php in server.php),
    )


def _toml(value: object) -> str:
    """A TOML scalar: JSON strings, integers and booleans are valid TOML as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def _sites_for(inventory: Inventory, server: Server) -> list[PlacedSite]:
    """Sites served by ``server``, then sites elsewhere whose database lives on it."""
    placed = [p for p in inventory.placed_sites() if p.site.state is not SiteState.ABSENT]
    local = [p for p in placed if p.site.server == server.name]
    remote = [
        p for p in placed
        if p.site.server != server.name
        and inventory.server(p.site.server).database_host == server.name
    ]
    return sorted(local, key=lambda p: p.site.domain) + sorted(remote, key=lambda p: p.site.domain)


def render_config(
    inventory: Inventory,
    server_name: str,
    *,
    listen_address: str | None = None,
    port: int = DEFAULT_PORT,
    refresh: RefreshSeconds | None = None,
) -> str:
    """The TOML configuration of the exporter on ``server_name`` (same text on every run)."""
    server = inventory.server(server_name)
    refresh = refresh or RefreshSeconds()
    lines = [
        "# Rendered from the inventory by koumbit-infra; edit the inventory, not this file.",
        f"server = {_toml(server.name)}",
        f"listen_address = {_toml(listen_address or str(server.address))}",
        f"port = {port}",
        "",
        "[capacity]",
        f"disk_bytes = {server.disk_bytes}",
        f"memory_bytes = {server.memory_bytes}",
        "",
        "[paths]",
        *(f"{k} = {_toml(v)}" for k, v in PATHS.items()),
        "",
        "[refresh_seconds]",
        *(f"{k} = {_toml(v)}" for k, v in asdict(refresh).items()),
        "",
        "[database]",
        f"enabled = {_toml(server.has(Role.DB))}",
        "",
        "[advisories]",
        f"alert_after_days = {inventory.settings.codebases.advisory_alert_days}",
    ]
    for placed in _sites_for(inventory, server):
        site, client = placed.site, placed.client
        plan = inventory.plan(client.plan)
        entry = {
            "domain": site.domain,
            "system_name": site.system_name,
            "server": site.server,
            "client": client.slug,
            "cms": site.cms.value,
            "plan": plan.name,
            "solidarity": client.is_solidarity,
            "disk_quota_bytes": inventory.disk_quota_gib(placed) * 1024**3,
            "php_workers": plan.php_workers,
            "php_memory_limit_bytes": plan.php_memory_limit_mib * MIB,
            "php_pool": site.state is SiteState.ACTIVE,
        }
        lines += ["", "[[sites]]", *(f"{k} = {_toml(v)}" for k, v in entry.items())]
    return "\n".join(lines) + "\n"
