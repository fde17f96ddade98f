"""An allocation as plain rows, and the hash that says whether two closes are the same."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from koumbit_infra.cost.results import Allocation


def allocation_rows(allocation: Allocation) -> dict[str, Any]:
    """The allocation as JSON-ready rows in a stable order (amounts as decimal strings)."""
    return {
        "month": str(allocation.month),
        "usage": allocation.usage_label,
        "lines": [
            [line.kind.value, line.name, line.name_en, line.resource, str(line.amount_cad)]
            for line in allocation.lines
        ],
        "site_servers": [
            [r.site, r.server, str(r.cpu_cad), str(r.memory_cad), str(r.disk_cad)]
            for r in allocation.site_servers
        ],
        "sites": [
            [s.site, s.client, s.plan, str(s.shared_cad), str(s.idle_share_cad)]
            for s in allocation.sites
        ],
        "idle": [[i.server, str(i.amount_cad)] for i in allocation.idle],
        "clients": [
            [
                c.client, c.name, c.plan, c.is_solidarity, str(c.solidarity_share),
                str(c.list_price_cad), str(c.paid_cad), str(c.cost_cad), str(c.full_cost_cad),
                str(c.solidarity_cost_cad), str(c.solidarity_list_cad),
                str(c.solidarity_paid_cad),
            ]
            for c in allocation.clients
        ],
        "warnings": list(allocation.warnings),
    }


def content_hash(allocation: Allocation) -> str:
    """SHA-256 of the allocation's rows: equal hashes mean an identical close."""
    text = json.dumps(allocation_rows(allocation), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
