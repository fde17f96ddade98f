"""A period's costs as reports read them: each month closed or computed, added up.

``period_costs`` is the one way reports (and anything else outside the cost model) read
cost results: each month from the ledger when it was closed there, else allocated from
the inventory (reservations only), the months added up, and the fiscal year's budget.
Amounts are already to the cent in each month, so the sums are exact and the
invariant (allocated + idle == total) still holds for the whole period.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from koumbit_infra.cost.allocation.allocator import allocate
from koumbit_infra.cost.ledger.budget_projection import BudgetProjection, project_budget
from koumbit_infra.cost.ledger.store import CloseRecord, Ledger
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.results import Allocation
from koumbit_infra.cost.usage.records import ReservedOnly
from koumbit_infra.inventory import Inventory

T = TypeVar("T")


@dataclass(frozen=True)
class PeriodCosts:
    """One period of one environment: its months' allocations, their sum, and the budget."""

    months: tuple[Month, ...]
    allocation: Allocation  # the period's months added up
    per_month: tuple[Allocation, ...]  # each month's own allocation
    records: tuple[CloseRecord | None, ...]  # per month: the ledger's version, or None
    budget: BudgetProjection


def period_costs(
    inv: Inventory, months: Month | Sequence[Month], ledger_path: Path | str | None
) -> PeriodCosts:
    """Each month from the ledger if it was closed there, else computed (reserved only).

    A missing ledger file is not created: an empty in-memory ledger stands in for it.
    ``ledger_path`` may also be a PostgreSQL URL. LedgerTampered if a closed month's rows
    were changed.
    """
    wanted = (months,) if isinstance(months, Month) else tuple(months)
    if not wanted:
        raise ValueError("a report needs at least one month")
    allocations: list[Allocation] = []
    records: list[CloseRecord | None] = []
    with Ledger.open_existing(ledger_path) as ledger:
        for month in wanted:
            closed = ledger.read(inv.env, month)  # LedgerTampered if its rows were changed
            records.append(closed.record if closed else None)
            allocations.append(closed.allocation if closed else allocate(inv, month,
                                                                         ReservedOnly()))
        budget = project_budget(inv, ledger)
    return PeriodCosts(wanted, combine(allocations), tuple(allocations), tuple(records), budget)


def combine(allocations: Sequence[Allocation]) -> Allocation:
    """One allocation for all of ``allocations`` (its ``month`` is the first month's)."""
    if not allocations:
        raise ValueError("no month to combine")
    if len(allocations) == 1:
        return allocations[0]
    months = len(allocations)
    labels = sorted({a.usage_label for a in allocations})
    return Allocation(
        month=allocations[0].month,
        usage_label=" + ".join(labels),
        lines=_merge((x for a in allocations for x in a.lines),
                     lambda x: (x.kind, x.name, x.resource)),
        site_servers=_merge((x for a in allocations for x in a.site_servers),
                            lambda x: (x.site, x.server)),
        sites=_merge((x for a in allocations for x in a.sites), lambda x: x.site),
        idle=_merge((x for a in allocations for x in a.idle), lambda x: x.server),
        clients=_merge((x for a in allocations for x in a.clients), lambda x: x.client,
                       averaged=("solidarity_share",), months=months),
        warnings=tuple(w for a in allocations for w in a.warnings),
    )


def _merge(
    items: Iterable[T], key: Callable[[T], Hashable], *,
    averaged: tuple[str, ...] = (), months: int = 1,
) -> tuple[T, ...]:
    """Items with the same key become one: numbers added (or averaged), tuples united."""
    merged: dict[Hashable, dict[str, Any]] = {}
    first: dict[Hashable, T] = {}
    for item in items:
        k = key(item)
        # Shallow on purpose: asdict() deep-copies, ten times slower over 5,000 sites x 12.
        values = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}  # type: ignore[arg-type]
        if k not in merged:
            merged[k], first[k] = values, item
            continue
        into = merged[k]
        for name, value in values.items():
            if isinstance(value, Decimal | int) and not isinstance(value, bool):
                into[name] += value
            elif isinstance(value, tuple):
                into[name] = tuple(sorted(set(into[name]) | set(value)))
    out = []
    for k, values in merged.items():
        for name in averaged:
            values[name] = values[name] / months
        out.append(dataclasses.replace(first[k], **values))  # type: ignore[type-var]
    return tuple(out)
