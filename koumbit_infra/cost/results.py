"""A month's allocation: what each cost line cost and who it was charged to, in CAD cents.

Every amount here is already rounded to the cent (by largest remainder, see
``cents.apportion``), so sums of these amounts are exact and the invariant
``allocated + idle == total`` holds to the cent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from koumbit_infra.cost.period import Month

ZERO = Decimal("0.00")


def _sum(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, ZERO)


class LineKind(StrEnum):
    SERVER_RESOURCE = "server_resource"  # the CPU, memory or disk part of a web server
    SHARED_SERVER = "shared_server"  # a server hosting no site: backup, monitor, separate db
    BUDGET_LINE = "budget_line"  # a shared line of budget.yaml


@dataclass(frozen=True)
class CostLine:
    """One source of cost in the month and what it cost."""

    kind: LineKind
    name: str  # server name, or the budget line's (French) name
    resource: str  # "cpu", "memory" or "disk" for a web server's part; "" otherwise
    amount_cad: Decimal
    name_en: str = ""

    @property
    def budget_key(self) -> str:
        """The budget's cost line this belongs to: ``server:<name>`` or ``line:<name>``."""
        prefix = "line" if self.kind is LineKind.BUDGET_LINE else "server"
        return f"{prefix}:{self.name}"


@dataclass(frozen=True)
class SiteServerCost:
    """What one site was charged for the resources of one server (two rows if it moved)."""

    site: str
    server: str
    cpu_cad: Decimal
    memory_cad: Decimal
    disk_cad: Decimal

    @property
    def direct_cad(self) -> Decimal:
        return self.cpu_cad + self.memory_cad + self.disk_cad


@dataclass(frozen=True)
class SiteCost:
    """What one site cost in the month: direct resources, its share of shared lines and of idle."""

    site: str
    client: str
    plan: str
    servers: tuple[str, ...]
    cpu_cad: Decimal
    memory_cad: Decimal
    disk_cad: Decimal
    shared_cad: Decimal
    idle_share_cad: Decimal

    @property
    def direct_cad(self) -> Decimal:
        return self.cpu_cad + self.memory_cad + self.disk_cad

    @property
    def cost_cad(self) -> Decimal:
        """Direct plus shared: what the site is charged, idle left out."""
        return self.direct_cad + self.shared_cad

    @property
    def full_cost_cad(self) -> Decimal:
        """Cost plus this site's share of idle capacity, spread by the budget's policy."""
        return self.cost_cad + self.idle_share_cad


@dataclass(frozen=True)
class IdleCost:
    """Cost nobody used: a web server's unused capacity, or shared costs with no site to bear."""

    server: str  # "" for shared costs that had no site to be spread over
    amount_cad: Decimal


@dataclass(frozen=True)
class ClientCost:
    """A client's month: price, cost, and the solidarity subsidy or the margin.

    ``solidarity_*`` amounts cover only the part of the month the client held
    a solidarity account (all of it, usually; part of it the month the
    account started). Before ``solidarity.since`` the client is taken to have
    paid the plan's list price: the inventory keeps no price history.
    """

    client: str
    name: str
    plan: str
    is_solidarity: bool
    solidarity_share: Decimal  # share of the client's month under a solidarity account, 0..1
    list_price_cad: Decimal
    paid_cad: Decimal
    cost_cad: Decimal
    full_cost_cad: Decimal
    solidarity_cost_cad: Decimal
    solidarity_list_cad: Decimal
    solidarity_paid_cad: Decimal

    @property
    def subsidy_cost_cad(self) -> Decimal:
        """Cost-based subsidy: what solidarity time cost, minus what was paid for it."""
        return self.solidarity_cost_cad - self.solidarity_paid_cad

    @property
    def subsidy_list_cad(self) -> Decimal:
        """List-price subsidy: the discount on the catalogue price during solidarity time."""
        return self.solidarity_list_cad - self.solidarity_paid_cad

    @property
    def margin_cad(self) -> Decimal:
        """Price paid minus cost over the regular (non-solidarity) part of the month."""
        regular_paid = self.paid_cad - self.solidarity_paid_cad
        regular_cost = self.cost_cad - self.solidarity_cost_cad
        return regular_paid - regular_cost


@dataclass(frozen=True)
class PlanCost:
    """A plan's month: how many clients and sites, what they cost and paid."""

    plan: str
    clients: int
    sites: int
    list_price_cad: Decimal
    paid_cad: Decimal
    cost_cad: Decimal
    full_cost_cad: Decimal


@dataclass(frozen=True)
class ServerSummary:
    """A server's month: its cost, the part charged to sites, and idle."""

    server: str
    cost_cad: Decimal
    cpu_cad: Decimal  # resource parts; zero for a server that hosts no site
    memory_cad: Decimal
    disk_cad: Decimal
    charged_cad: Decimal  # to sites: directly for a web server, spread for a shared one
    idle_cad: Decimal
    sites: int


class InvariantBroken(AssertionError):
    """Allocations and idle do not add up to the total: a bug, never a user error."""


@dataclass(frozen=True)
class Allocation:
    """Everything a month cost, per line, site, client, server and plan, to the cent."""

    month: Month
    usage_label: str
    lines: tuple[CostLine, ...]
    site_servers: tuple[SiteServerCost, ...]
    sites: tuple[SiteCost, ...]
    idle: tuple[IdleCost, ...]
    clients: tuple[ClientCost, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def total_cad(self) -> Decimal:
        return _sum(line.amount_cad for line in self.lines)

    @property
    def idle_cad(self) -> Decimal:
        return _sum(i.amount_cad for i in self.idle)

    @property
    def allocated_cad(self) -> Decimal:
        """Charged to sites (direct plus shared), idle left out."""
        return _sum(s.cost_cad for s in self.sites)

    def check(self) -> None:
        """Raise InvariantBroken unless every view adds up to the total, to the cent."""
        total = self.total_cad
        if self.allocated_cad + self.idle_cad != total:
            raise InvariantBroken(
                f"{self.month}: allocated {self.allocated_cad} + idle {self.idle_cad}"
                f" != total {total}"
            )
        spread = _sum(s.idle_share_cad for s in self.sites)
        if self.sites and spread != self.idle_cad:
            raise InvariantBroken(f"{self.month}: idle spread {spread} != idle {self.idle_cad}")
        direct = _sum(s.direct_cad for s in self.site_servers)
        if direct != _sum(s.direct_cad for s in self.sites):
            raise InvariantBroken(f"{self.month}: per-server rows do not add up per site")
        clients = _sum(c.cost_cad for c in self.clients)
        if clients != self.allocated_cad:
            raise InvariantBroken(f"{self.month}: clients {clients} != sites {self.allocated_cad}")

    def servers(self) -> tuple[ServerSummary, ...]:
        """Per server: its cost, its resource parts, what sites were charged, and idle."""
        cost: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
        for line in self.lines:
            if line.kind is not LineKind.BUDGET_LINE:
                cost[line.name]["cost"] += line.amount_cad
                if line.resource:
                    cost[line.name][line.resource] += line.amount_cad
        idle = {i.server: i.amount_cad for i in self.idle}
        sites: dict[str, set[str]] = defaultdict(set)
        for row in self.site_servers:
            sites[row.server].add(row.site)
        return tuple(
            ServerSummary(
                server=name,
                cost_cad=parts["cost"],
                cpu_cad=parts["cpu"],
                memory_cad=parts["memory"],
                disk_cad=parts["disk"],
                charged_cad=parts["cost"] - idle.get(name, ZERO),
                idle_cad=idle.get(name, ZERO),
                sites=len(sites[name]),
            )
            for name, parts in sorted(cost.items())
        )

    def plans(self) -> tuple[PlanCost, ...]:
        """Per plan: clients, sites, list price, price paid, cost and full cost."""
        found: dict[str, list[ClientCost]] = defaultdict(list)
        for client in self.clients:
            found[client.plan].append(client)
        site_count: dict[str, int] = defaultdict(int)
        for site in self.sites:
            site_count[site.plan] += 1
        return tuple(
            PlanCost(
                plan=plan,
                clients=len(members),
                sites=site_count[plan],
                list_price_cad=_sum(c.list_price_cad for c in members),
                paid_cad=_sum(c.paid_cad for c in members),
                cost_cad=_sum(c.cost_cad for c in members),
                full_cost_cad=_sum(c.full_cost_cad for c in members),
            )
            for plan, members in sorted(found.items())
        )

    def budget_lines(self) -> dict[str, Decimal]:
        """Amount per budget cost line (``server:<name>``, ``line:<name>``), in line order."""
        found: dict[str, Decimal] = {}
        for line in self.lines:
            found[line.budget_key] = found.get(line.budget_key, ZERO) + line.amount_cad
        return found

    def solidarity_totals(self) -> tuple[Decimal, Decimal]:
        """Total subsidy of all solidarity accounts: (cost-based, list-price-based)."""
        return (
            _sum(c.subsidy_cost_cad for c in self.clients),
            _sum(c.subsidy_list_cad for c in self.clients),
        )
