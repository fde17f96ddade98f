"""The cost model: servers' and shared costs allocated to sites and clients, month by month.

Entry points for the report and the exporter:

- ``allocate(inventory, month, source)`` -> ``Allocation`` (per line, site, client,
  server, plan; solidarity subsidy and margin; to the cent);
- ``Ledger.open(path)`` then ``close_month(inventory, month, ledger, source=...)``, and
  ``ledger.allocation(env, month)`` to read a closed month back;
- ``project_budget(inventory, ledger)`` -> ``BudgetProjection`` for the fiscal year.
"""

from koumbit_infra.cost.allocate import Allocator, allocate, allocate_usage
from koumbit_infra.cost.budget import BudgetProjection, LineProjection, project, project_budget
from koumbit_infra.cost.closing import close_month
from koumbit_infra.cost.ledger import DEFAULT_LEDGER, CloseRecord, CloseResult, Ledger
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.prices import Resource, ResourcePrices
from koumbit_infra.cost.prometheus import PrometheusUsage
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
from koumbit_infra.cost.usage import (
    RecordedUsage,
    ReservedOnly,
    Usage,
    UsageSource,
    UsageSourceError,
)

__all__ = [
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
    "LineKind",
    "LineProjection",
    "Month",
    "PlanCost",
    "PrometheusUsage",
    "RecordedUsage",
    "ReservedOnly",
    "Resource",
    "ResourcePrices",
    "ServerSummary",
    "SiteCost",
    "SiteServerCost",
    "Usage",
    "UsageSource",
    "UsageSourceError",
    "allocate",
    "allocate_usage",
    "close_month",
    "project",
    "project_budget",
]
