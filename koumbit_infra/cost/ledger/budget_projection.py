"""The Infra budget over the fiscal year: spent, run-rate, projection and variance.

Spent to date is the sum of the closed months of the fiscal year (latest
version of each) in the ledger. The run-rate of a cost line is its average
over the closed months; the projection adds that run-rate for every month
not closed yet. With no closed month, the projection is the plan: what the
inventory says each line costs over the year. Each line is rounded once;
totals are sums of the lines, so they add up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from koumbit_infra.cost.cents import CENT
from koumbit_infra.cost.ledger.store import Ledger
from koumbit_infra.cost.period import Month, months_between
from koumbit_infra.inventory import Budget, Inventory

ZERO = Decimal("0.00")


def _cad(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class LineProjection:
    """One cost line (a server or a budget line) over the fiscal year."""

    key: str  # "server:<name>" or "line:<name>"
    name: str
    name_en: str
    planned_cad: Decimal
    spent_cad: Decimal
    run_rate_per_month_cad: Decimal
    projected_cad: Decimal

    @property
    def variance_cad(self) -> Decimal:
        """Planned minus projected: negative when the line will cost more than planned."""
        return self.planned_cad - self.projected_cad


@dataclass(frozen=True)
class BudgetProjection:
    """The fiscal year: the allocation, what was spent, and where the year is heading."""

    fiscal_year: str
    months: tuple[Month, ...]
    closed: tuple[Month, ...]
    allocated_cad: Decimal
    lines: tuple[LineProjection, ...]

    @property
    def spent_cad(self) -> Decimal:
        return sum((line.spent_cad for line in self.lines), ZERO)

    @property
    def run_rate_per_month_cad(self) -> Decimal:
        return sum((line.run_rate_per_month_cad for line in self.lines), ZERO)

    @property
    def projected_cad(self) -> Decimal:
        return sum((line.projected_cad for line in self.lines), ZERO)

    @property
    def planned_cad(self) -> Decimal:
        return sum((line.planned_cad for line in self.lines), ZERO)

    @property
    def variance_cad(self) -> Decimal:
        """Allocated minus projected: negative when the year will overrun the allocation."""
        return self.allocated_cad - self.projected_cad

    @property
    def over_allocation(self) -> bool:
        """True when the projection to year end exceeds what the Conseil de Travail allocated."""
        return self.projected_cad > self.allocated_cad


def fiscal_months(budget: Budget) -> tuple[Month, ...]:
    """The twelve months of the budget's fiscal year."""
    return tuple(months_between(budget.start, budget.end))


def planned_lines(inv: Inventory) -> dict[str, tuple[str, str, Decimal]]:
    """Per cost line, (name, English name, unrounded cost over the fiscal year) from the inventory.

    Servers count from the day they entered service; every budget line for
    all twelve months.
    """
    months = fiscal_months(inv.budget)
    found: dict[str, tuple[str, str, Decimal]] = {}
    for server in inv.servers:
        total = sum(
            (server.cost.per_month_cad * m.fraction_from(server.since) for m in months),
            Decimal(0),
        )
        found[f"server:{server.name}"] = (server.name, server.name, total)
    for line in inv.budget.lines:
        found[f"line:{line.name}"] = (line.name, line.name_en or line.name,
                                      line.per_month_cad * len(months))
    return found


def project(
    budget: Budget,
    planned: Mapping[str, tuple[str, str, Decimal]],
    closed: Mapping[Month, Mapping[str, Decimal]],
) -> BudgetProjection:
    """The projection from the plan and the closed months' amounts per line (pure)."""
    months = fiscal_months(budget)
    done = tuple(m for m in months if m in closed)
    remaining = len(months) - len(done)
    keys = list(planned)
    for month in done:
        keys.extend(k for k in closed[month] if k not in keys)
    lines = []
    for key in keys:
        name, name_en, plan = planned.get(key, (key.split(":", 1)[1], "", Decimal(0)))
        spent = sum((closed[m].get(key, ZERO) for m in done), ZERO)
        rate = spent / len(done) if done else plan / len(months)
        projected = spent + rate * remaining
        lines.append(LineProjection(
            key=key,
            name=name,
            name_en=name_en or name,
            planned_cad=_cad(plan),
            spent_cad=spent,
            run_rate_per_month_cad=_cad(rate),
            projected_cad=_cad(projected),
        ))
    return BudgetProjection(
        fiscal_year=budget.fiscal_year,
        months=months,
        closed=done,
        allocated_cad=budget.allocated_cad,
        lines=tuple(lines),
    )


def project_budget(inv: Inventory, ledger: Ledger) -> BudgetProjection:
    """The fiscal year of ``inv``'s budget, from its plan and the months closed in ``ledger``."""
    return project(inv.budget, planned_lines(inv), ledger.line_amounts(inv.env))

