"""What a monthly report shows: the month's allocation (closed or computed) and the budget."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from koumbit_infra.cost import (
    Allocation,
    BudgetProjection,
    CloseRecord,
    Ledger,
    Month,
    ReservedOnly,
    allocate,
    project_budget,
)
from koumbit_infra.inventory import Inventory

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class ReportData:
    """One month of one environment, with where its figures came from."""

    env: str
    month: Month
    allocation: Allocation
    budget: BudgetProjection
    record: CloseRecord | None  # the ledger's version, or None when computed on the spot
    plan_labels: dict[str, tuple[str, str]]  # plan name: (French, English)

    @property
    def closed(self) -> bool:
        return self.record is not None

    @property
    def paid_cad(self) -> Decimal:
        return sum((c.paid_cad for c in self.allocation.clients), ZERO)

    @property
    def regular_margin_cad(self) -> Decimal:
        return sum((c.margin_cad for c in self.allocation.clients if c.solidarity_share < 1),
                   ZERO)

    @property
    def solidarity_count(self) -> int:
        return sum(1 for c in self.allocation.clients if c.solidarity_share > 0)


def gather(inv: Inventory, month: Month, ledger_path: Path | None) -> ReportData:
    """Read ``month`` from the ledger if it was closed there, else compute it (reserved only).

    A missing ledger file is not created: an empty in-memory ledger stands in for it.
    """
    if ledger_path is not None and ledger_path.exists():
        ledger = Ledger.open(ledger_path)
    else:
        ledger = Ledger(sqlite3.connect(":memory:"))
    with ledger:
        allocation = ledger.allocation(inv.env, month)
        record = ledger.latest(inv.env, month) if allocation is not None else None
        budget = project_budget(inv, ledger)
    if allocation is None:
        allocation = allocate(inv, month, ReservedOnly())
    labels = {p.name: (p.label_fr, p.label_en) for p in inv.plans}
    return ReportData(inv.env, month, allocation, budget, record, labels)
