"""A short picture of an inventory, for ``koumbit-infra check``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from koumbit_infra.inventory import Inventory, Role, SiteState


def summarise(inv: Inventory) -> dict[str, Any]:
    """Counts and per-server committed quota, JSON-ready and in a stable order."""
    placed = list(inv.placed_sites())
    by_cms = Counter(p.site.cms.value for p in placed)
    by_state = Counter(p.site.state.value for p in placed)
    return {
        "env": inv.env,
        "servers": len(inv.servers),
        "clients": len(inv.clients),
        "solidarity_accounts": sum(c.is_solidarity for c in inv.clients),
        "sites": len(placed),
        "staging_copies": sum(p.is_staging for p in placed),
        "sites_by_cms": dict(sorted(by_cms.items())),
        "sites_by_state": dict(sorted(by_state.items())),
        "per_server": [
            {
                "server": s.name,
                "roles": sorted(r.value for r in s.roles),
                "sites": sum(p.site.state is not SiteState.ABSENT for p in inv.sites_on(s.name)),
                "committed_quota_gib": inv.committed_quota_gib(s.name),
                "disk_gib": s.size.disk_gib,
            }
            for s in inv.servers
        ],
        "warnings": [str(w) for w in inv.warnings],
    }


def render_text(summary: dict[str, Any]) -> str:
    cms = ", ".join(f"{n} {k}" for k, n in summary["sites_by_cms"].items()) or "none"
    lines = [
        f"inventory '{summary['env']}' is valid",
        f"  servers: {summary['servers']}   clients: {summary['clients']} "
        f"(solidarity accounts: {summary['solidarity_accounts']})",
        f"  sites: {summary['sites']} ({cms}; staging copies among them:"
        f" {summary['staging_copies']})",
        "  committed quota per server:",
    ]
    for s in summary["per_server"]:
        if Role.WEB.value in s["roles"]:
            lines.append(
                f"    {s['server']:<12} {s['sites']:>4} sites  "
                f"{s['committed_quota_gib']:>6} / {s['disk_gib']} GiB"
            )
    return "\n".join(lines)
