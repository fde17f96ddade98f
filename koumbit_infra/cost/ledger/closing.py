"""Closing a month: allocate it and record it in the ledger.

While a month runs (in the budget's time zone) its closes are provisional: the main job
closes the current month again and again as usage grows, and each different result is a
new version. Once a version was closed after the month ended, it is final: different
figures replace it only with a reason (``reason``, the CLI's ``--revise``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from koumbit_infra.cost.allocation.allocator import allocate
from koumbit_infra.cost.allocation.prices import ResourcePrices
from koumbit_infra.cost.ledger.git_revision import inventory_revision
from koumbit_infra.cost.ledger.store import CloseResult, Ledger
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.usage.records import UsageSource
from koumbit_infra.inventory import Inventory

_UNSET = "<read from git>"


def close_month(
    inv: Inventory,
    month: Month,
    ledger: Ledger,
    *,
    source: UsageSource | None = None,
    prices: ResourcePrices | None = None,
    revision: str | None = _UNSET,
    now: datetime | None = None,
    reason: str | None = None,
) -> CloseResult:
    """Allocate ``month`` of ``inv`` and record it; unchanged results write nothing.

    ``revision`` defaults to the inventory's git commit (None outside git). Different
    results after a final close need ``reason`` (RevisionNeeded otherwise).
    """
    allocation = allocate(inv, month, source, prices)
    if revision == _UNSET:
        revision = inventory_revision(inv.root)
    return ledger.close(inv.env, allocation, revision, now or datetime.now(UTC), reason=reason,
                        month_end=month.end_time(inv.budget.zone))
