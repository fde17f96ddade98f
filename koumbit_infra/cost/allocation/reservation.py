"""What a site reserves on its server, and for how much of the month it was hosted."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from koumbit_infra.cost.period import Month
from koumbit_infra.inventory import Inventory, PlacedSite, SiteState
from koumbit_infra.inventory.models import GIB

NOTHING = Decimal(0)


@dataclass(frozen=True)
class Reservation:
    """Resources held for a site whether it uses them or not."""

    cpu_cores: Decimal
    memory_bytes: Decimal
    disk_bytes: Decimal


def reservation(inv: Inventory, placed: PlacedSite) -> Reservation:
    """The plan's reservation for an active site; a disabled site keeps only its disk.

    A disabled site's PHP pool is stopped, so it holds no CPU or memory, but
    its files, database and backups stay on disk. An absent site holds nothing
    (it is charged only for usage measured before it was removed).
    """
    state = placed.site.state
    if state is SiteState.ABSENT:
        return Reservation(NOTHING, NOTHING, NOTHING)
    disk = Decimal(inv.disk_quota_gib(placed) * GIB)
    if state is SiteState.DISABLED:
        return Reservation(NOTHING, NOTHING, disk)
    plan = inv.plan(placed.client.plan)
    return Reservation(plan.cpu_cores_reserved, Decimal(plan.memory_reserved_bytes), disk)


def hosted_hours(inv: Inventory, placed: PlacedSite, month: Month) -> int:
    """Hours of ``month`` the site could be hosted: after the client and its server began."""
    starts = [d for d in (placed.client.since, inv.server(placed.site.server).since) if d]
    return month.hours_from(max(starts) if starts else None)
