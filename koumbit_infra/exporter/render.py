"""The exporter's configuration file of one server, rendered from the inventory.

The deploy calls ``render_config`` and installs the result as
/etc/koumbit/exporter.toml; the exporter on the server reads only that file.
"""

from __future__ import annotations

import json

from koumbit_infra.exporter.config import DEFAULT_PORT, RefreshSeconds
from koumbit_infra.inventory import Inventory, PlacedSite, Role, SiteState
from koumbit_infra.inventory.models import MIB, Server


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
        "[refresh_seconds]",
        *(f"{k} = {_toml(v)}" for k, v in refresh.model_dump().items()),
        "",
        "[database]",
        f"enabled = {_toml(server.has(Role.DB))}",
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
