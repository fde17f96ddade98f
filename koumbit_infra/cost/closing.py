"""Closing a month: allocate it and record it in the ledger."""

from __future__ import annotations

from datetime import datetime

from koumbit_infra.cost.allocate import allocate
from koumbit_infra.cost.ledger import CloseResult, Ledger
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.prices import ResourcePrices
from koumbit_infra.cost.revision import inventory_revision
from koumbit_infra.cost.usage import UsageSource
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
) -> CloseResult:
    """Allocate ``month`` of ``inv`` and record it; unchanged results write nothing.

    ``revision`` defaults to the inventory's git commit (None outside git).
    """
    allocation = allocate(inv, month, source, prices)
    if revision == _UNSET:
        revision = inventory_revision(inv.root)
    return ledger.close(inv.env, allocation, revision, now)
