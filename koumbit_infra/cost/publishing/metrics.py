"""Cost and budget metrics for Prometheus, read from the ledger and the inventory.

Currency and period are in every name: amounts are CAD, either for the last
closed month (``..._last_closed_month_cad``) or for the fiscal year
(``..._fiscal_year_cad``). Labels: ``client``, ``line``; never environments.
Produces::

    # HELP koumbit_client_cost_last_closed_month_cad What each client cost in the last closed month.
    # TYPE koumbit_client_cost_last_closed_month_cad gauge
    # HELP koumbit_budget_projected_fiscal_year_cad Projection of the year's spending to its end.
    # TYPE koumbit_budget_projected_fiscal_year_cad gauge

The ledger is read again only when its file changed, so a scrape costs
almost nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from koumbit_infra.cost.ledger.budget_projection import BudgetProjection, project_budget
from koumbit_infra.cost.ledger.store import Ledger, is_database_url
from koumbit_infra.cost.results import Allocation
from koumbit_infra.inventory import Inventory


@dataclass(frozen=True)
class _Snapshot:
    allocation: Allocation | None
    budget: BudgetProjection


class CostCollector(Collector):
    """Per-client cost, subsidy and margin of the last closed month; the fiscal year's budget."""

    def __init__(self, inv: Inventory, ledger_path: Path | str) -> None:
        self.inv = inv
        self.ledger_path = ledger_path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._snapshot: _Snapshot | None = None

    def _read(self) -> _Snapshot:
        stamp = _file_stamp(self.ledger_path)
        with self._lock:
            if self._snapshot is None or stamp is None or stamp != self._stamp:
                with Ledger.open(self.ledger_path) as ledger:
                    closed = ledger.closed_months(self.inv.env)
                    last = max(closed) if closed else None
                    allocation = ledger.allocation(self.inv.env, last) if last else None
                    self._snapshot = _Snapshot(allocation, project_budget(self.inv, ledger))
                self._stamp = stamp
            return self._snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self._read()
        yield from _budget_metrics(snapshot.budget)
        if snapshot.allocation is not None:
            yield from _client_metrics(snapshot.allocation, self.inv.budget.zone)


def _file_stamp(where: Path | str) -> tuple[int, int] | None:
    """A SQLite file's modification time and size; None for a database (read every time)."""
    if is_database_url(where):
        return None
    stat = Path(where).stat()
    return (stat.st_mtime_ns, stat.st_size)


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _budget_metrics(budget: BudgetProjection) -> Iterator[Metric]:
    allocated = _gauge("koumbit_budget_allocated_fiscal_year_cad",
                       "Amount the Conseil de Travail allocated to Infra for the fiscal year.")
    allocated.add_metric([], float(budget.allocated_cad))
    spent = _gauge("koumbit_budget_spent_fiscal_year_cad",
                   "Spent so far in the fiscal year (closed months), per cost line.", ("line",))
    projected = _gauge("koumbit_budget_projected_fiscal_year_cad",
                       "Projection of the year's spending to its end, per cost line.", ("line",))
    run_rate = _gauge("koumbit_budget_run_rate_month_cad",
                      "Average spending per closed month, per cost line.", ("line",))
    for line in budget.lines:
        spent.add_metric([line.key], float(line.spent_cad))
        projected.add_metric([line.key], float(line.projected_cad))
        run_rate.add_metric([line.key], float(line.run_rate_per_month_cad))
    closed = _gauge("koumbit_budget_closed_months", "Months of the fiscal year closed so far.")
    closed.add_metric([], len(budget.closed))
    yield from (allocated, spent, projected, run_rate, closed)


def _client_metrics(alloc: Allocation, zone: tzinfo) -> Iterator[Metric]:
    month = _gauge("koumbit_ledger_last_closed_month_timestamp_seconds",
                   "Start of the last closed month (its first midnight in the budget's zone).")
    month.add_metric([], alloc.month.start_time(zone).timestamp())
    families = {
        "cost": _gauge("koumbit_client_cost_last_closed_month_cad",
                       "What each client cost in the last closed month.", ("client",)),
        "paid": _gauge("koumbit_client_paid_last_closed_month_cad",
                       "What each client paid for the last closed month.", ("client",)),
        "subsidy": _gauge("koumbit_client_subsidy_last_closed_month_cad",
                          "Cost-based subsidy of each solidarity account, last closed month.",
                          ("client",)),
        "margin": _gauge("koumbit_client_margin_last_closed_month_cad",
                         "Margin of each client's regular time, last closed month.", ("client",)),
    }
    for c in alloc.clients:
        families["cost"].add_metric([c.client], float(c.cost_cad))
        families["paid"].add_metric([c.client], float(c.paid_cad))
        families["subsidy"].add_metric([c.client], float(c.subsidy_cost_cad))
        families["margin"].add_metric([c.client], float(c.margin_cad))
    idle = _gauge("koumbit_idle_last_closed_month_cad", "Cost no site used, last closed month.")
    idle.add_metric([], float(alloc.idle_cad))
    yield from (month, *families.values(), idle)
