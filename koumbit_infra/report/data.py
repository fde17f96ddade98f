"""What a report shows: a period's allocation (closed or computed) and the budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from koumbit_infra.cost import Allocation, BudgetProjection, CloseRecord, Month, period_costs
from koumbit_infra.inventory import Inventory, Role, SiteState
from koumbit_infra.inventory.models import GIB

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class ReportData:
    """One period (a month, or the months of a fiscal year so far) of one environment."""

    env: str
    months: tuple[Month, ...]
    allocation: Allocation  # the period's months added up
    budget: BudgetProjection
    records: tuple[CloseRecord | None, ...]  # per month: the ledger's version, or None
    plan_labels: dict[str, tuple[str, str]]  # plan name: (French, English)
    fiscal_year: str | None = None  # set for a fiscal-year report
    # server: (committed quota GiB, disk GiB, committed PHP memory GiB, memory GiB)
    capacity: dict[str, tuple[int, int, Decimal, int]] = field(default_factory=dict)
    per_month: tuple[Allocation, ...] = ()  # each month's own allocation (the FOCUS export)
    timezone: str = "UTC"  # the budget's: where each month starts and ends

    @property
    def month(self) -> Month:
        """The first month of the period."""
        return self.months[0]

    @property
    def last_month(self) -> Month:
        return self.months[-1]

    @property
    def record(self) -> CloseRecord | None:
        """The ledger's version of a one-month report."""
        return self.records[0] if len(self.records) == 1 else None

    @property
    def revised(self) -> tuple[CloseRecord, ...]:
        """The months shown from a later version than their first close, in month order."""
        return tuple(r for r in self.records if r is not None and r.version > 1)

    @property
    def closed_count(self) -> int:
        return sum(r is not None for r in self.records)

    @property
    def closed(self) -> bool:
        return self.closed_count == len(self.months)

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


def report_data(
    inv: Inventory, months: Month | Sequence[Month], ledger_path: Path | str | None,
    *, fiscal_year: str | None = None,
) -> ReportData:
    """What a report of ``months`` shows, its costs read through ``cost.period_costs``: each
    month from the ledger if it was closed there, else computed (reserved only).

    A missing ledger file is not created; ``ledger_path`` may also be a PostgreSQL URL.
    """
    costs = period_costs(inv, months, ledger_path)
    labels = {p.name: (p.label_fr, p.label_en) for p in inv.plans}
    return ReportData(inv.env, costs.months, costs.allocation, costs.budget, costs.records,
                      labels, fiscal_year, capacity(inv), costs.per_month, inv.budget.timezone)


def capacity(inv: Inventory) -> dict[str, tuple[int, int, Decimal, int]]:
    """Per web server, what its sites were promised against what it has (from the inventory)."""
    web = inv.servers_with(Role.WEB)
    quota, memory = dict.fromkeys((s.name for s in web), 0), dict.fromkeys((s.name for s in web), 0)
    for placed in inv.placed_sites():  # one pass: sites_on() per server reads them all each time
        server = placed.site.server
        if server in quota and placed.site.state is not SiteState.ABSENT:
            quota[server] += inv.disk_quota_gib(placed)  # as inv.committed_quota_gib counts
            memory[server] += inv.plan(placed.client.plan).memory_reserved_bytes
    return {s.name: (quota[s.name], s.size.disk_gib, Decimal(memory[s.name]) / GIB,
                     s.size.memory_gib) for s in web}
