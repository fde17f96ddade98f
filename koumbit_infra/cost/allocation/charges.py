"""Rounding a month's unrounded charges once, top down, and gathering them into results.

Total, then each cost line (a server, a budget line), then a web server's
CPU, memory and disk parts, then each part's sites and idle: each level is
apportioned from the level above by largest remainder, so every level adds
up exactly and allocated + idle == total to the cent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from koumbit_infra.cost.allocation.client_cost import client_cost
from koumbit_infra.cost.allocation.shared_weights import spread_weights
from koumbit_infra.cost.allocation.site_facts import SiteFacts
from koumbit_infra.cost.cents import apportion, from_cents, to_cents
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.results import (
    Allocation,
    CostLine,
    IdleCost,
    SiteCost,
    SiteServerCost,
)
from koumbit_infra.inventory import PlacedSite

ZERO = Decimal(0)
CAD_ZERO = Decimal("0.00")

# Where a web server's resource part goes: ("site", domain, server, resource) or ("idle", server).
Target = tuple[str, ...]


@dataclass
class Charge:
    """One cost line's unrounded amount and where it goes: named targets, or spread weights."""

    line: CostLine
    targets: dict[Target, Decimal] = field(default_factory=dict)
    # Shared lines: weight per domain. Lines spread by the same weights are rounded together
    # over the sites, which is both faster and exact (the sites' shares add up to the lines).
    spread: dict[str, Decimal] | None = None


@dataclass
class MonthWork:
    """One month being allocated: its sites, hours hosted, direct costs so far, warnings."""

    facts: SiteFacts
    month: Month
    hosted: dict[str, Decimal]
    direct: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    warnings: list[str] = field(default_factory=list)

    @property
    def hosted_share(self) -> dict[str, Decimal]:
        hours = Decimal(self.month.hours)
        return {domain: h / hours for domain, h in self.hosted.items()}


def rounded_allocation(
    work: MonthWork, usage_label: str, amounts: dict[str, Decimal], charges: list[Charge]
) -> Allocation:
    """The month's allocation, to the cent, from each cost line's amount and its charges.

    ``amounts`` holds each cost line (``budget_key``) as computed from the
    inventory, before any split: the total and the lines are rounded from
    these, not from sums of split parts whose Decimal divisions could tip a
    half cent the wrong way.
    """
    line_cents = _line_cents(amounts, charges)
    cells: dict[tuple[str, str, str], int] = defaultdict(int)  # (site, server, resource)
    idle: dict[str, int] = defaultdict(int)
    pools: dict[int, tuple[dict[str, Decimal], int]] = {}
    rounded: list[CostLine] = []
    for index, charge in enumerate(charges):
        cents = line_cents[index]
        line = charge.line
        rounded.append(CostLine(line.kind, line.name, line.resource, from_cents(cents),
                                line.name_en))
        if charge.spread is not None:
            weights, pooled = pools.get(id(charge.spread), (charge.spread, 0))
            pools[id(charge.spread)] = (weights, pooled + cents)
            continue
        for target, part in apportion(cents, charge.targets).items():
            if target[0] == "site":
                cells[(target[1], target[2], target[3])] += part
            else:
                idle[target[1]] += part
    shared: dict[str, int] = defaultdict(int)
    for weights, cents in pools.values():
        positive = _positive(weights)
        if positive:
            for domain, part in apportion(cents, positive).items():
                shared[domain] += part
        elif cents:
            idle[""] += cents  # nobody to bear it: shown as idle

    idle_share = _spread_idle(work, idle, cells)
    site_servers = _site_server_rows(cells)
    sites, per_client = _site_rows(work.facts.placed, site_servers, shared, idle_share)
    inv = work.facts.inv
    clients = tuple(
        client_cost(inv, c, work.month, *per_client.get(c.slug, (CAD_ZERO, CAD_ZERO)))
        for c in inv.clients
    )
    allocation = Allocation(
        month=work.month,
        usage_label=usage_label,
        lines=tuple(rounded),
        site_servers=site_servers,
        sites=sites,
        idle=tuple(IdleCost(server, from_cents(c)) for server, c in sorted(idle.items()) if c),
        clients=clients,
        warnings=tuple(work.warnings),
    )
    allocation.check()
    return allocation


def _line_cents(amounts: dict[str, Decimal], charges: list[Charge]) -> dict[int, int]:
    """Cents of each charge: the total rounded, then each cost line, then its parts."""
    total_cents = to_cents(sum(amounts.values(), ZERO))
    members: dict[str, dict[int, Decimal]] = defaultdict(dict)
    for index, charge in enumerate(charges):
        members[charge.line.budget_key][index] = charge.line.amount_cad
    found: dict[int, int] = {}
    for key, cents in apportion(total_cents, amounts).items():
        found.update(apportion(cents, members[key]))
    return found


def _spread_idle(
    work: MonthWork, idle: dict[str, int], cells: dict[tuple[str, str, str], int]
) -> dict[str, int]:
    """Each site's share of idle, by the budget's policy among the sites of the idle server.

    Idle of a server nobody used, and shared costs nobody could bear, are
    spread over every site.
    """
    facts = work.facts
    policy, placed = facts.inv.budget.shared_policy, facts.placed
    on_server: dict[str, dict[str, PlacedSite]] = defaultdict(dict)
    for site, server, _ in cells:
        on_server[server][site] = facts.by_domain[site]
    direct, hosted_share = work.direct, work.hosted_share
    share: dict[str, int] = defaultdict(int)
    for server, cents in sorted(idle.items()):
        if not cents:
            continue
        tenants = list(on_server.get(server, {}).values())
        weights = spread_weights(policy, tenants, direct, hosted_share) if tenants else {}
        if not any(weights.values()):
            weights = spread_weights(policy, placed, direct, hosted_share)
        if not any(weights.values()):
            # Only absent sites are left: they share it evenly, so full costs still add up.
            weights = {p.site.domain: Decimal(1) for p in placed}
        if not weights:
            continue  # no site at all: idle stays idle
        for site, part in apportion(cents, _positive(weights)).items():
            share[site] += part
    return share


def _positive(weights: dict[str, Decimal]) -> dict[str, Decimal]:
    return {k: v for k, v in weights.items() if v > 0}


def _site_server_rows(cells: dict[tuple[str, str, str], int]) -> tuple[SiteServerCost, ...]:
    rows: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (site, server, resource), cents in cells.items():
        rows[(site, server)][resource] += cents
    return tuple(
        SiteServerCost(
            site,
            server,
            from_cents(parts["cpu"]),
            from_cents(parts["memory"]),
            from_cents(parts["disk"]),
        )
        for (site, server), parts in sorted(rows.items())
    )


def _site_rows(
    placed: list[PlacedSite],
    site_servers: tuple[SiteServerCost, ...],
    shared: dict[str, int],
    idle_share: dict[str, int],
) -> tuple[tuple[SiteCost, ...], dict[str, tuple[Decimal, Decimal]]]:
    """One row per site of the inventory (``placed`` is sorted by domain), and each
    client's (cost, full cost)."""
    per_site: dict[str, list[SiteServerCost]] = defaultdict(list)
    for row in site_servers:
        per_site[row.site].append(row)
    sites: list[SiteCost] = []
    per_client: dict[str, tuple[Decimal, Decimal]] = {}
    for p in placed:
        rows = per_site.get(p.site.domain, [])
        site = SiteCost(
            site=p.site.domain,
            client=p.client.slug,
            plan=p.client.plan,
            servers=tuple(r.server for r in rows),
            cpu_cad=_total(r.cpu_cad for r in rows),
            memory_cad=_total(r.memory_cad for r in rows),
            disk_cad=_total(r.disk_cad for r in rows),
            shared_cad=from_cents(shared.get(p.site.domain, 0)),
            idle_share_cad=from_cents(idle_share.get(p.site.domain, 0)),
        )
        sites.append(site)
        cost, full = per_client.get(p.client.slug, (CAD_ZERO, CAD_ZERO))
        per_client[p.client.slug] = (cost + site.cost_cad, full + site.full_cost_cad)
    return tuple(sites), per_client


def _total(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, CAD_ZERO)
