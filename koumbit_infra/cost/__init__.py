"""The cost model: servers' and shared costs allocated to sites and clients, month by month.

This package's root is its one entry point: the report and the budget request import from
``koumbit_infra.cost`` only, never from its layers, which are (each may import only those
before it, and the shared ``period``, ``cents`` and ``results``):

- ``usage/``: what sites used, and where it is read from (Prometheus, directly or by SSH);
- ``allocation/``: a month's costs split over sites and clients, to the cent;
- ``ledger/``: closed months, kept and checked, and the fiscal year projected from them;
- ``publishing/``: what leaves: a period's costs for reports, metrics for Prometheus.

The main calls:

- ``period_costs(inventory, months, ledger_path)`` -> ``PeriodCosts``: what a report shows
  (each month closed or computed, added up, and the fiscal year's budget);
- ``allocate(inventory, month, source)`` -> ``Allocation`` (per line, site, client,
  server, plan; solidarity subsidy and margin; to the cent);
- ``Ledger.open(path)`` then ``close_month(inventory, month, ledger, source=...)``, and
  ``ledger.allocation(env, month)`` to read a closed month back;
- ``project_budget(inventory, ledger)`` -> ``BudgetProjection`` for the fiscal year.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from koumbit_infra.cost.allocation.allocator import Allocator, allocate, allocate_usage
from koumbit_infra.cost.allocation.prices import Resource, ResourcePrices
from koumbit_infra.cost.cents import CENT
from koumbit_infra.cost.ledger.budget_projection import (
    BudgetProjection,
    LineProjection,
    planned_lines,
    project,
    project_budget,
)
from koumbit_infra.cost.ledger.closing import close_month
from koumbit_infra.cost.ledger.store import (
    DEFAULT_LEDGER,
    CloseRecord,
    CloseResult,
    Ledger,
    LedgerError,
    LedgerTampered,
    ledger_exists,
    ledger_label,
)
from koumbit_infra.cost.period import Month, months_between
from koumbit_infra.cost.publishing.period_costs import PeriodCosts, period_costs
from koumbit_infra.cost.results import (
    Allocation,
    ClientCost,
    CostLine,
    IdleCost,
    InvariantBroken,
    LineKind,
    PlanCost,
    ServerSummary,
    SiteCost,
    SiteServerCost,
)
from koumbit_infra.cost.usage.prometheus import PrometheusUsage, Series
from koumbit_infra.cost.usage.records import (
    RecordedUsage,
    ReservedOnly,
    Usage,
    UsageSource,
    UsageSourceError,
)
from koumbit_infra.inventory import Inventory


# Reading Prometheus through SSH pulls in the monitoring configuration and SSH: loaded on
# first call, so every other user of the cost model starts without them.
def monitoring_server(inv: Inventory, name: str | None) -> str:
    """``name`` if it monitors ``inv``, else the first monitoring server; error if none."""
    from koumbit_infra.cost.usage import prometheus_ssh

    return prometheus_ssh.monitoring_server(inv, name)


def prometheus_over_ssh(
    inv: Inventory, server: str
) -> AbstractContextManager[PrometheusUsage]:
    """A usage source asking ``server``'s own Prometheus through SSH, for a ``with`` block."""
    from koumbit_infra.cost.usage import prometheus_ssh

    return prometheus_ssh.prometheus_over_ssh(inv, server)


__all__ = [
    "CENT",
    "DEFAULT_LEDGER",
    "Allocation",
    "Allocator",
    "BudgetProjection",
    "ClientCost",
    "CloseRecord",
    "CloseResult",
    "CostLine",
    "IdleCost",
    "InvariantBroken",
    "Ledger",
    "LedgerError",
    "LedgerTampered",
    "LineKind",
    "LineProjection",
    "Month",
    "PeriodCosts",
    "PlanCost",
    "PrometheusUsage",
    "RecordedUsage",
    "ReservedOnly",
    "Resource",
    "ResourcePrices",
    "Series",
    "ServerSummary",
    "SiteCost",
    "SiteServerCost",
    "Usage",
    "UsageSource",
    "UsageSourceError",
    "allocate",
    "allocate_usage",
    "close_month",
    "ledger_exists",
    "ledger_label",
    "monitoring_server",
    "months_between",
    "period_costs",
    "planned_lines",
    "project",
    "project_budget",
    "prometheus_over_ssh",
]
