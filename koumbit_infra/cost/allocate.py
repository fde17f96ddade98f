"""A month's cost, allocated to sites, clients, servers and plans (OpenCost-style).

1. Each web server's monthly cost, pro-rated to the hours it was in service
   (``Server.since``), is split into CPU, memory and disk parts
   (``ResourcePrices``).
2. Each site is charged, per resource, for max(reserved, used) over the time
   it has usage data on a server, and for its reservation over hosted time
   with no data at all (partial data, reserved-only months). A site that
   moved mid-month has usage on two servers and is charged on each.
3. A server's resource part is charged at one price per unit-hour: its cost
   over its capacity, or over the total charged quantity when sites together
   hold more than the server has (shared hosting overcommits memory), so
   charges never exceed the server's cost. What no site holds is idle.
4. Servers hosting no site (backup, monitor, a separate database server) and
   the shared lines of ``budget.yaml`` are spread over the sites they serve
   by ``budget.shared_policy``. Idle is kept on its own line, and also spread
   the same way into each site's ``idle_share_cad`` for the full-cost view.
5. Everything is computed unrounded, then rounded once to the cent by
   largest remainder, top down (total, then lines, then sites), so every
   level adds up exactly: allocated + idle == total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from koumbit_infra.cost.accounts import client_cost
from koumbit_infra.cost.apportion import apportion, from_cents, to_cents
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.prices import Resource, ResourcePrices
from koumbit_infra.cost.reservation import Reservation, hosted_hours, reservation
from koumbit_infra.cost.results import (
    Allocation,
    CostLine,
    IdleCost,
    LineKind,
    SiteCost,
    SiteServerCost,
)
from koumbit_infra.cost.spread import spread_weights
from koumbit_infra.cost.usage import ReservedOnly, Usage, UsageSource
from koumbit_infra.inventory import Inventory, PlacedSite, Role, Server

ZERO = Decimal(0)
CAD_ZERO = Decimal("0.00")
SECONDS_PER_HOUR = 3600
RESOURCES = (Resource.CPU, Resource.MEMORY, Resource.DISK)

# Targets of unrounded amounts, before rounding:
#   ("site", domain, server, resource) a site's direct charge on a server
#   ("shared", domain)                 a site's share of a shared line
#   ("idle", server)                   unused capacity ("" : shared cost nobody bears)
Target = tuple[str, ...]


@dataclass
class _Line:
    line: CostLine  # amount_cad unrounded here
    targets: dict[Target, Decimal] = field(default_factory=dict)


@dataclass
class _Month:
    """What every step of one month's allocation needs to know about the sites."""

    inv: Inventory
    month: Month
    placed: list[PlacedSite]
    hosted: dict[str, Decimal]  # hours each site could be hosted this month, by domain
    direct: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    warnings: list[str] = field(default_factory=list)

    @property
    def hosted_share(self) -> dict[str, Decimal]:
        hours = Decimal(self.month.hours)
        return {domain: h / hours for domain, h in self.hosted.items()}


def allocate(
    inv: Inventory,
    month: Month,
    source: UsageSource | None = None,
    prices: ResourcePrices | None = None,
) -> Allocation:
    """The month's allocation of ``inv``'s costs, rounded to the cent; usage from ``source``.

    Without a source every site is charged its reservation (``ReservedOnly``).
    """
    source = source or ReservedOnly()
    return allocate_usage(inv, month, source.usage(month), source.label, prices)


def allocate_usage(
    inv: Inventory,
    month: Month,
    usage: Sequence[Usage],
    usage_label: str,
    prices: ResourcePrices | None = None,
) -> Allocation:
    """The month's allocation of ``inv``'s costs given ``usage`` already read."""
    prices = prices or ResourcePrices()
    placed = list(inv.placed_sites())
    ctx = _Month(
        inv, month, placed, {p.site.domain: Decimal(hosted_hours(inv, p, month)) for p in placed}
    )
    demand = _demand(ctx, usage)
    lines: list[_Line] = []
    direct = ctx.direct
    for server in inv.servers:
        if server.has(Role.WEB):
            for entry in _server_parts(server, month, prices, demand.get(server.name, {})):
                lines.append(entry)
                for target, amount in entry.targets.items():
                    if target[0] == "site":
                        direct[target[1]] += amount

    hosted_share = ctx.hosted_share
    policy = inv.budget.shared_policy
    everyone = spread_weights(policy, placed, direct, hosted_share)
    for server in inv.servers:
        if not server.has(Role.WEB):
            amount = _in_service_cost(server, month)
            tenants = _tenants(inv, server, placed)
            weights = (
                everyone
                if len(tenants) == len(placed)
                else spread_weights(policy, tenants, direct, hosted_share)
            )
            kind = LineKind.SHARED_SERVER
            lines.append(_shared(CostLine(kind, server.name, "", amount), weights))
    for budget_line in inv.budget.lines:
        line = CostLine(
            LineKind.BUDGET_LINE,
            budget_line.name,
            "",
            budget_line.per_month_cad,
            budget_line.name_en or "",
        )
        lines.append(_shared(line, everyone))

    # Each cost line's amount as computed from the inventory, before any split: the total
    # and each line are rounded from these, not from sums of split parts, whose Decimal
    # divisions could tip a half cent the wrong way.
    groups: dict[str, Decimal] = {}
    for server in inv.servers:
        groups[f"server:{server.name}"] = _in_service_cost(server, month)
    for budget_line in inv.budget.lines:
        key = f"line:{budget_line.name}"
        groups[key] = groups.get(key, ZERO) + budget_line.per_month_cad
    return _round(ctx, usage_label, groups, lines)


def _in_service_cost(server: Server, month: Month) -> Decimal:
    """The server's monthly cost for the hours of ``month`` it was in service."""
    return server.cost.per_month_cad * month.fraction_from(server.since)


def _demand(
    ctx: _Month, usage: Sequence[Usage]
) -> dict[str, dict[tuple[str, Resource], Decimal]]:
    """Unit-hours each site is charged for, per server, site and resource.

    Units: core-hours, byte-hours, byte-hours. Covered time is charged
    max(reserved, used); hosted time with no data is charged the reservation
    on the site's server in the inventory.
    """
    inv, month, hosted = ctx.inv, ctx.month, ctx.hosted
    by_domain = {p.site.domain: p for p in ctx.placed}
    reserved = {p.site.domain: reservation(inv, p) for p in ctx.placed}
    web = {s.name for s in inv.servers if s.has(Role.WEB)}
    found: dict[str, dict[tuple[str, Resource], Decimal]] = defaultdict(
        lambda: defaultdict(lambda: ZERO)
    )
    covered: dict[str, Decimal] = defaultdict(lambda: ZERO)
    unknown_sites: set[str] = set()
    elsewhere: dict[str, int] = defaultdict(int)
    # The exporter labels a site by its domain; its system name is accepted too.
    by_label = {p.site.system_name: p for p in by_domain.values()} | by_domain
    for record in usage:
        placed = by_label.get(record.site)
        if placed is None:
            unknown_sites.add(record.site)
            continue
        if record.server not in web:
            elsewhere[record.server] += 1
            continue
        domain = placed.site.domain
        span = record.covered_hours(month)
        covered[domain] += span
        held = reserved[domain]
        used = {
            Resource.CPU: _per_hour(record.cpu_core_seconds),
            Resource.MEMORY: _per_hour(record.memory_byte_seconds),
            Resource.DISK: None
            if record.disk_bytes_average is None
            else record.disk_bytes_average * span,
        }
        on_server = found[record.server]
        for resource in RESOURCES:
            floor = _held(held, resource) * span
            measured = used[resource]
            key = (domain, resource)
            on_server[key] += floor if measured is None else max(floor, measured)
    for domain, placed in by_domain.items():
        gap = hosted[domain] - covered[domain]
        if gap > 0:
            held = reserved[domain]
            on_server = found[placed.site.server]
            for resource in RESOURCES:
                on_server[(domain, resource)] += _held(held, resource) * gap
    if unknown_sites:
        sample = ", ".join(sorted(unknown_sites)[:5])
        ctx.warnings.append(f"usage of {len(unknown_sites)} site(s) not in the inventory ignored"
                        f" ({sample})")
    for server, count in sorted(elsewhere.items()):
        ctx.warnings.append(f"{count} usage record(s) on {server}, which hosts no site, ignored"
                        " (its cost is spread as a shared line)")
    return found


def _per_hour(seconds: Decimal | None) -> Decimal | None:
    return None if seconds is None else seconds / SECONDS_PER_HOUR


def _held(held: Reservation, resource: Resource) -> Decimal:
    if resource is Resource.CPU:
        return held.cpu_cores
    if resource is Resource.MEMORY:
        return held.memory_bytes
    return held.disk_bytes


def _capacity(server: Server, resource: Resource) -> Decimal:
    if resource is Resource.CPU:
        return Decimal(server.size.cpus)
    if resource is Resource.MEMORY:
        return Decimal(server.memory_bytes)
    return Decimal(server.disk_bytes)


def _server_parts(
    server: Server,
    month: Month,
    prices: ResourcePrices,
    demand: dict[tuple[str, Resource], Decimal],
) -> Iterable[_Line]:
    """The CPU, memory and disk lines of one web server, charged to its sites and idle."""
    cost = _in_service_cost(server, month)
    service_hours = Decimal(month.hours_from(server.since))
    weights = prices.weights(server)
    for resource in RESOURCES:
        part = cost * weights[resource]
        entry = _Line(CostLine(LineKind.SERVER_RESOURCE, server.name, resource.value, part))
        held = {site: q for (site, r), q in demand.items() if r is resource and q > 0}
        charged = sum(held.values(), ZERO)
        denominator = max(_capacity(server, resource) * service_hours, charged)
        if part and denominator:
            for site, quantity in held.items():
                entry.targets[("site", site, server.name, resource.value)] = (
                    part * quantity / denominator
                )
            entry.targets[("idle", server.name)] = part * (denominator - charged) / denominator
        else:
            entry.targets[("idle", server.name)] = part
        yield entry


def _tenants(inv: Inventory, server: Server, placed: list[PlacedSite]) -> list[PlacedSite]:
    """Sites a server with no site of its own serves: all, or those whose databases it holds."""
    users = {s.name for s in inv.servers if s.has(Role.WEB) and s.database_host == server.name}
    if not users:
        return placed
    return [p for p in placed if p.site.server in users]


def _shared(line: CostLine, weights: dict[str, Decimal]) -> _Line:
    entry = _Line(line)
    total = sum(weights.values(), ZERO)
    if total > 0:
        for domain, weight in weights.items():
            if weight:
                entry.targets[("shared", domain)] = line.amount_cad * weight / total
    else:
        entry.targets[("idle", "")] = line.amount_cad
    return entry


def _round(
    ctx: _Month, usage_label: str, groups: dict[str, Decimal], lines: list[_Line]
) -> Allocation:
    """Round top down by largest remainder and gather the results per site, client, server.

    Total, then each cost line (a server, a budget line), then a web server's
    CPU, memory and disk parts, then each part's sites and idle: every level
    adds up exactly to the level above.
    """
    total_cents = to_cents(sum(groups.values(), ZERO))
    group_cents = apportion(total_cents, groups)
    members: dict[str, dict[int, Decimal]] = defaultdict(dict)
    for index, entry in enumerate(lines):
        members[entry.line.budget_key][index] = entry.line.amount_cad
    line_cents: dict[int, int] = {}
    for key, cents in group_cents.items():
        line_cents.update(apportion(cents, members[key]))
    cells: dict[tuple[str, str, str], int] = defaultdict(int)  # (site, server, resource)
    shared: dict[str, int] = defaultdict(int)
    idle: dict[str, int] = defaultdict(int)
    rounded_lines: list[CostLine] = []
    for index, entry in enumerate(lines):
        cents = line_cents[index]
        rounded_lines.append(_with_amount(entry.line, cents))
        for target, part in _apportion_targets(cents, entry.targets).items():
            if target[0] == "site":
                cells[(target[1], target[2], target[3])] += part
            elif target[0] == "shared":
                shared[target[1]] += part
            else:
                idle[target[1]] += part

    idle_share = _spread_idle(ctx, idle, cells)
    site_servers = _site_server_rows(cells)
    sites, per_client = _site_rows(ctx.placed, site_servers, shared, idle_share)
    clients = tuple(
        client_cost(ctx.inv, c, ctx.month, *per_client.get(c.slug, (CAD_ZERO, CAD_ZERO)))
        for c in ctx.inv.clients
    )
    allocation = Allocation(
        month=ctx.month,
        usage_label=usage_label,
        lines=tuple(rounded_lines),
        site_servers=site_servers,
        sites=sites,
        idle=tuple(IdleCost(server, from_cents(c)) for server, c in sorted(idle.items()) if c),
        clients=clients,
        warnings=tuple(ctx.warnings),
    )
    allocation.check()
    return allocation


def _apportion_targets(cents: int, targets: dict[Target, Decimal]) -> dict[Target, int]:
    if not targets:
        return {("idle", ""): cents} if cents else {}
    return apportion(cents, targets)


def _with_amount(line: CostLine, cents: int) -> CostLine:
    return CostLine(line.kind, line.name, line.resource, from_cents(cents), line.name_en)


def _spread_idle(
    ctx: _Month, idle: dict[str, int], cells: dict[tuple[str, str, str], int]
) -> dict[str, int]:
    """Each site's share of idle, by the budget's policy among the sites of the idle server.

    Idle of a server nobody used, and shared costs nobody could bear, are
    spread over every site.
    """
    on_server: dict[str, set[str]] = defaultdict(set)
    for site, server, _ in cells:
        on_server[server].add(site)
    policy, placed = ctx.inv.budget.shared_policy, ctx.placed
    direct, hosted_share = ctx.direct, ctx.hosted_share
    share: dict[str, int] = defaultdict(int)
    for server, cents in sorted(idle.items()):
        if not cents:
            continue
        tenants = [p for p in placed if p.site.domain in on_server.get(server, set())]
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
    """One row per site of the inventory, and each client's (cost, full cost)."""
    per_site: dict[str, list[SiteServerCost]] = defaultdict(list)
    for row in site_servers:
        per_site[row.site].append(row)
    sites: list[SiteCost] = []
    per_client: dict[str, tuple[Decimal, Decimal]] = {}
    for p in sorted(placed, key=lambda p: p.site.domain):
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
        cost, full = per_client.get(p.client.slug, (ZERO, ZERO))
        per_client[p.client.slug] = (cost + site.cost_cad, full + site.full_cost_cad)
    return tuple(sites), per_client


def _total(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal("0.00"))
