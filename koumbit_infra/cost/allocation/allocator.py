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
   largest remainder, top down (``charges.rounded_allocation``), so allocated + idle == total.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from koumbit_infra.cost.allocation.charges import Charge, MonthWork, rounded_allocation
from koumbit_infra.cost.allocation.demand import RESOURCES, ZERO, Demand, demand
from koumbit_infra.cost.allocation.prices import Resource, ResourcePrices
from koumbit_infra.cost.allocation.shared_weights import spread_weights
from koumbit_infra.cost.allocation.site_facts import SiteFacts
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.results import Allocation, CostLine, LineKind
from koumbit_infra.cost.usage.records import ReservedOnly, Usage, UsageSource
from koumbit_infra.inventory import Inventory, Role, Server


class Allocator:
    """Allocates the months of one inventory; what depends only on the inventory is worked
    out once (use one Allocator to allocate a whole year)."""

    def __init__(self, inv: Inventory, prices: ResourcePrices | None = None) -> None:
        self.inv = inv
        self.prices = prices or ResourcePrices()
        self.facts = SiteFacts(inv)

    def allocate(self, month: Month, source: UsageSource | None = None) -> Allocation:
        """The month's allocation, to the cent; usage from ``source`` (default: reserved only)."""
        source = source or ReservedOnly()
        return self.allocate_usage(month, source.usage(month), source.label)

    def allocate_usage(
        self, month: Month, usage: Sequence[Usage], usage_label: str
    ) -> Allocation:
        """The month's allocation given ``usage`` already read."""
        inv, facts = self.inv, self.facts
        work = MonthWork(facts, month, facts.hosted_hours(month))
        charged = demand(facts, month, work.hosted, usage, work.warnings)
        charges: list[Charge] = []
        for server in inv.servers:
            if server.has(Role.WEB):
                for charge in _server_parts(server, month, self.prices, charged):
                    charges.append(charge)
                    for target, amount in charge.targets.items():
                        if target[0] == "site":
                            work.direct[target[1]] += amount

        policy = inv.budget.shared_policy
        hosted_share = work.hosted_share
        everyone = spread_weights(policy, facts.placed, work.direct, hosted_share)
        amounts: dict[str, Decimal] = {}
        for server in inv.servers:
            amount = _in_service_cost(server, month)
            amounts[f"server:{server.name}"] = amount
            if not server.has(Role.WEB):
                tenants = facts.tenants(server)
                weights = (
                    everyone
                    if tenants is facts.placed
                    else spread_weights(policy, tenants, work.direct, hosted_share)
                )
                line = CostLine(LineKind.SHARED_SERVER, server.name, "", amount)
                charges.append(Charge(line, spread=weights))
        for budget_line in inv.budget.lines:
            line = CostLine(LineKind.BUDGET_LINE, budget_line.name, "",
                            budget_line.per_month_cad, budget_line.name_en or "")
            amounts[line.budget_key] = amounts.get(line.budget_key, ZERO) + line.amount_cad
            charges.append(Charge(line, spread=everyone))
        return rounded_allocation(work, usage_label, amounts, charges)


def allocate(
    inv: Inventory,
    month: Month,
    source: UsageSource | None = None,
    prices: ResourcePrices | None = None,
) -> Allocation:
    """The month's allocation of ``inv``'s costs, rounded to the cent; usage from ``source``.

    Without a source every site is charged its reservation (``ReservedOnly``).
    """
    return Allocator(inv, prices).allocate(month, source)


def allocate_usage(
    inv: Inventory,
    month: Month,
    usage: Sequence[Usage],
    usage_label: str,
    prices: ResourcePrices | None = None,
) -> Allocation:
    """The month's allocation of ``inv``'s costs given ``usage`` already read."""
    return Allocator(inv, prices).allocate_usage(month, usage, usage_label)


def _in_service_cost(server: Server, month: Month) -> Decimal:
    """The server's monthly cost for the hours of ``month`` it was in service."""
    return server.cost.per_month_cad * month.fraction_from(server.since)


def _capacity(server: Server, resource: Resource) -> Decimal:
    if resource is Resource.CPU:
        return Decimal(server.size.cpus)
    if resource is Resource.MEMORY:
        return Decimal(server.memory_bytes)
    return Decimal(server.disk_bytes)


def _server_parts(
    server: Server, month: Month, prices: ResourcePrices, charged: Demand
) -> Iterable[Charge]:
    """The CPU, memory and disk lines of one web server, charged to its sites and idle."""
    cost = _in_service_cost(server, month)
    service_hours = Decimal(month.hours_from(server.since))
    weights = prices.weights(server)
    on_server = charged.get(server.name, {})
    for resource in RESOURCES:
        part = cost * weights[resource]
        charge = Charge(CostLine(LineKind.SERVER_RESOURCE, server.name, resource.value, part))
        held = {site: q for (site, r), q in on_server.items() if r is resource and q > 0}
        total = sum(held.values(), ZERO)
        denominator = max(_capacity(server, resource) * service_hours, total)
        if part and denominator:
            for site, quantity in held.items():
                charge.targets[("site", site, server.name, resource.value)] = (
                    part * quantity / denominator
                )
            charge.targets[("idle", server.name)] = part * (denominator - total) / denominator
        else:
            charge.targets[("idle", server.name)] = part
        yield charge
