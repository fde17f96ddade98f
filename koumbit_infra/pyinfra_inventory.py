"""Build pyinfra inventory groups from an environment's validated inventory.

``inventory/<env>.py`` calls :func:`groups` so that plain
``pyinfra inventory/<env>.py deploys/<x>.py`` works. An invalid inventory
prints every problem and exits 2 before pyinfra contacts any host. For a lab, this is
where the lab's endpoints are wired: its SSH key, and its DNS told where each site is
(koumbit_infra/lab/sitedns.py); the deploys are the same as in production.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from koumbit_infra.inventory import Inventory, InventoryError, Role, load_inventory

HostEntry = tuple[str, dict[str, Any]]


def groups(env_dir: Path) -> dict[str, list[HostEntry]]:
    """One pyinfra group per role (web, db, backup, monitor) plus ``all_servers``."""
    try:
        inv = cached_inventory(env_dir.resolve())
    except InventoryError as exc:
        # pyinfra is not koumbit-infra's command: say it the same way here, and stop it.
        print(exc.explain(), file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    if inv.settings.lab:
        _publish_lab_dns(inv)
    hosts = {s.name: (s.name, host_data(inv, s.name)) for s in inv.servers}
    out: dict[str, list[HostEntry]] = {
        role.value: [hosts[s.name] for s in inv.servers_with(role)] for role in Role
    }
    out["all_servers"] = list(hosts.values())
    return out


def _publish_lab_dns(inv: Inventory) -> None:
    """The lab's endpoints, as production's DNS would have them: each site's domains
    answer with its server's address in the DNS the lab's ACME server asks."""
    from koumbit_infra.lab.sitedns import publish, site_records

    warning = publish(site_records(inv))
    if warning:
        print(warning, file=sys.stderr)


@lru_cache(maxsize=8)
def cached_inventory(env_dir: Path) -> Inventory:
    """The inventory at ``env_dir``, loaded once per process (deploys call this per host)."""
    return load_inventory(env_dir)


def host_data(inv: Inventory, name: str) -> dict[str, Any]:
    """JSON-friendly host data: how to reach the server, its roles and its sites."""
    server = inv.server(name)
    data: dict[str, Any] = {
        "ssh_hostname": str(server.address),
        "ssh_user": inv.settings.ssh_user,
        "koumbit_env": inv.env,
        "koumbit_inventory": str(inv.root.resolve()),
        "roles": sorted(r.value for r in server.roles),
        "sites": [
            {
                "domain": p.site.domain,
                "client": p.client.slug,
                "cms": p.site.cms.value,
                "state": p.site.state.value,
                "system_name": p.site.system_name,
            }
            for p in inv.sites_on(name)
        ],
    }
    if inv.settings.lab:
        from koumbit_infra.lab import lab_paths

        paths = lab_paths()
        data |= {
            "ssh_key": str(paths.ssh_key),
            "ssh_known_hosts_file": str(paths.known_hosts),
            "ssh_strict_host_key_checking": "yes",
            "ssh_look_for_keys": False,
            "ssh_allow_agent": False,
        }
    return data
