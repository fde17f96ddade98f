"""How much of each server's resources each site is charged for: max(reserved, used)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from koumbit_infra.cost.allocation.prices import Resource
from koumbit_infra.cost.allocation.reservation import Reservation
from koumbit_infra.cost.allocation.site_facts import SiteFacts
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.usage.records import Usage

ZERO = Decimal(0)
SECONDS_PER_HOUR = 3600
RESOURCES = (Resource.CPU, Resource.MEMORY, Resource.DISK)

# server -> (domain, resource) -> unit-hours (core-hours, byte-hours, byte-hours)
Demand = dict[str, dict[tuple[str, Resource], Decimal]]


def demand(
    facts: SiteFacts,
    month: Month,
    hosted: dict[str, Decimal],
    usage: Sequence[Usage],
    warnings: list[str],
) -> Demand:
    """Unit-hours each site is charged for, per server, site and resource.

    Covered time is charged max(reserved, used) on the server the usage was
    measured on; hosted time with no data at all is charged the reservation
    on the site's server in the inventory. Usage of unknown sites, or on
    servers that host no site, is left out with a warning.
    """
    found: Demand = defaultdict(lambda: defaultdict(lambda: ZERO))
    covered: dict[str, Decimal] = defaultdict(lambda: ZERO)
    unknown_sites: set[str] = set()
    elsewhere: dict[str, int] = defaultdict(int)
    for record in usage:
        placed = facts.find(record.site)
        if placed is None:
            unknown_sites.add(record.site)
            continue
        if record.server not in facts.web:
            elsewhere[record.server] += 1
            continue
        domain = placed.site.domain
        span = record.covered_hours(month)
        covered[domain] += span
        held = facts.reserved[domain]
        disk = record.disk_bytes_average
        used = (
            _per_hour(record.cpu_core_seconds),
            _per_hour(record.memory_byte_seconds),
            None if disk is None else disk * span,
        )
        on_server = found[record.server]
        for resource, floor_per_hour, measured in zip(RESOURCES, _held(held), used, strict=True):
            floor = floor_per_hour * span
            on_server[(domain, resource)] += floor if measured is None else max(floor, measured)
    for domain, placed in facts.by_domain.items():
        gap = hosted[domain] - covered[domain]
        if gap > 0:
            on_server = found[placed.site.server]
            for resource, per_hour in zip(RESOURCES, _held(facts.reserved[domain]), strict=True):
                on_server[(domain, resource)] += per_hour * gap
    if unknown_sites:
        sample = ", ".join(sorted(unknown_sites)[:5])
        warnings.append(f"usage of {len(unknown_sites)} site(s) not in the inventory ignored"
                        f" ({sample})")
    for server, count in sorted(elsewhere.items()):
        warnings.append(f"{count} usage record(s) on {server}, which hosts no site, ignored"
                        " (its cost is spread as a shared line)")
    return found


def _per_hour(seconds: Decimal | None) -> Decimal | None:
    return None if seconds is None else seconds / SECONDS_PER_HOUR


def _held(held: Reservation) -> tuple[Decimal, Decimal, Decimal]:
    return (held.cpu_cores, held.memory_bytes, held.disk_bytes)
