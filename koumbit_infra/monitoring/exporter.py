"""What the exporter deploy installs on one server, decided from the inventory.

Kept out of the deploy file so unit tests check the very values the deploy
uses: the configuration text, the unit's settings, the lab's refresh times.
"""

from __future__ import annotations

from koumbit_infra.exporter.config import RefreshSeconds
from koumbit_infra.exporter.render import render_config
from koumbit_infra.exporter.unit import ExporterUnit
from koumbit_infra.inventory import Inventory, Role, Server
from koumbit_infra.monitoring.bundle import LAUNCHER
from koumbit_infra.monitoring.database import OPTION_FILE

CONFIG_PATH = "/etc/koumbit/exporter.toml"
UNIT_PATH = "/etc/systemd/system/koumbit-exporter.service"

# The lab's tests watch a file appear in a site within one refresh: disk and
# database every 15 s there, instead of every 300 s (sites are tiny in the lab).
LAB_REFRESH = RefreshSeconds(disk=15, database=15)


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
        executable=LAUNCHER,
        config_path=CONFIG_PATH,
        database_defaults=OPTION_FILE if server.has(Role.DB) else None,
        sites_root=optional + defaults.sites_root,
        log_root=optional + defaults.log_root,
        allowed_scrapers=scrapers,
        php_services=tuple(f"{php.fpm_service}.service" for php in server.php),
    )
