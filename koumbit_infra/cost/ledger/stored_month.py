"""A month's allocation as the ledger stores it, and the hash that proves it unchanged.

``StoredMonth`` holds exactly the rows written to the ledger's tables (amounts in whole
cents, rows in one stable order), so the hash taken before writing is the hash of what a
reader fetches back: equal hashes mean an identical close, and a stored month whose rows
no longer hash to its recorded digest was changed outside the ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from koumbit_infra.cost.cents import from_cents, to_cents
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.results import (
    Allocation,
    ClientCost,
    CostLine,
    IdleCost,
    LineKind,
    SiteCost,
    SiteServerCost,
)

LineRow = tuple[str, str, str, str, int]  # kind, name, name_en, resource, cents
SiteServerRow = tuple[str, str, int, int, int]  # site, server, cpu, memory, disk cents
SiteRow = tuple[str, str, str, int, int]  # site, client, plan, shared, idle share cents
IdleRow = tuple[str, int]  # server, cents
# client, name, plan, is_solidarity, solidarity share (decimal text), then seven amounts
ClientRow = tuple[str, str, str, bool, str, int, int, int, int, int, int, int]

CLIENT_AMOUNTS = (  # ClientCost's amounts, in the order of a ClientRow
    "list_price_cad", "paid_cad", "cost_cad", "full_cost_cad",
    "solidarity_cost_cad", "solidarity_list_cad", "solidarity_paid_cad",
)


def cents_text(cents: int) -> str:
    """Whole cents as the decimal text ``str(from_cents(cents))`` gives ("-0.05", "12.30")."""
    sign, whole = ("-", -cents) if cents < 0 else ("", cents)
    return f"{sign}{whole // 100}.{whole % 100:02d}"


def stored_warnings(warnings: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The warnings as the ledger keeps them: one a line, none empty."""
    return tuple(w for w in "\n".join(warnings).split("\n") if w)


@dataclass(frozen=True)
class StoredMonth:
    """One version of a month as rows: what is written, what is read back, what is hashed."""

    month: Month
    usage: str
    warnings: tuple[str, ...]
    lines: tuple[LineRow, ...]  # in their order of position
    site_servers: tuple[SiteServerRow, ...]  # the others sorted by their key, in Python:
    sites: tuple[SiteRow, ...]  # a server database's collation never decides the order
    idle: tuple[IdleRow, ...]
    clients: tuple[ClientRow, ...]

    @classmethod
    def of(cls, allocation: Allocation) -> StoredMonth:
        """The rows ``allocation`` is written as."""
        c = to_cents
        return cls.sorted(
            month=allocation.month,
            usage=allocation.usage_label,
            warnings=allocation.warnings,
            lines=[(line.kind.value, line.name, line.name_en, line.resource, c(line.amount_cad))
                   for line in allocation.lines],
            site_servers=[(r.site, r.server, c(r.cpu_cad), c(r.memory_cad), c(r.disk_cad))
                          for r in allocation.site_servers],
            sites=[(s.site, s.client, s.plan, c(s.shared_cad), c(s.idle_share_cad))
                   for s in allocation.sites],
            idle=[(i.server, c(i.amount_cad)) for i in allocation.idle],
            clients=[(k.client, k.name, k.plan, k.is_solidarity, str(k.solidarity_share),
                      c(k.list_price_cad), c(k.paid_cad), c(k.cost_cad), c(k.full_cost_cad),
                      c(k.solidarity_cost_cad), c(k.solidarity_list_cad),
                      c(k.solidarity_paid_cad))
                     for k in allocation.clients],
        )

    @classmethod
    def sorted(
        cls, *, month: Month, usage: str, warnings: tuple[str, ...] | list[str],
        lines: list[LineRow], site_servers: list[SiteServerRow], sites: list[SiteRow],
        idle: list[IdleRow], clients: list[ClientRow],
    ) -> StoredMonth:
        """Rows in the ledger's one order, whichever order they were given or fetched in."""
        # Each table's key leads its rows and is unique (the primary key), so whole rows
        # sort by it; rows fetched in key order sort in one pass.
        return cls(month, usage, stored_warnings(warnings), tuple(lines),
                   tuple(sorted(site_servers)), tuple(sorted(sites)), tuple(sorted(idle)),
                   tuple(sorted(clients)))

    @property
    def total_cents(self) -> int:
        return sum(line[4] for line in self.lines)

    @property
    def idle_cents(self) -> int:
        return sum(row[1] for row in self.idle)

    def digest(self) -> str:
        """SHA-256 of the rows: equal digests mean an identical close."""
        return _sha256(self._json())

    def lines_digest(self) -> str:
        """SHA-256 of the cost lines alone: what the budget reads of every closed month,
        checked without reading (and hashing) every site and client of the month."""
        return lines_digest(self.lines)

    def _json(self) -> dict[str, Any]:
        # Amounts as decimal text: the form this hash has had since the ledger's first close.
        t = cents_text
        return {
            "month": str(self.month),
            "usage": self.usage,
            "lines": _lines_json(self.lines),
            "site_servers": [[site, server, t(cpu), t(mem), t(disk)]
                             for site, server, cpu, mem, disk in self.site_servers],
            "sites": [[site, client, plan, t(shared), t(idle)]
                      for site, client, plan, shared, idle in self.sites],
            "idle": [[server, t(cents)] for server, cents in self.idle],
            "clients": [[*row[:5], *map(t, row[5:])] for row in self.clients],
            "warnings": list(self.warnings),
        }

    def allocation(self) -> Allocation:
        """The month as the cost model's ``Allocation``."""
        f = from_cents
        per_site: dict[str, list[SiteServerCost]] = defaultdict(list)
        site_servers = tuple(SiteServerCost(site, server, f(cpu), f(mem), f(disk))
                             for site, server, cpu, mem, disk in self.site_servers)
        for row in site_servers:
            per_site[row.site].append(row)
        return Allocation(
            month=self.month,
            usage_label=self.usage,
            lines=tuple(CostLine(LineKind(kind), name, resource, f(cents), name_en)
                        for kind, name, name_en, resource, cents in self.lines),
            site_servers=site_servers,
            sites=tuple(_site(row, per_site.get(row[0], [])) for row in self.sites),
            idle=tuple(IdleCost(server, f(cents)) for server, cents in self.idle),
            clients=tuple(
                ClientCost(client=row[0], name=row[1], plan=row[2], is_solidarity=row[3],
                           solidarity_share=Decimal(row[4]),
                           **{name: f(cents) for name, cents in zip(
                               CLIENT_AMOUNTS, row[5:], strict=True)})
                for row in self.clients),
            warnings=self.warnings,
        )


def _site(row: SiteRow, rows: list[SiteServerCost]) -> SiteCost:
    site, client, plan, shared, idle = row
    zero = Decimal("0.00")
    return SiteCost(
        site=site, client=client, plan=plan, servers=tuple(r.server for r in rows),
        cpu_cad=sum((r.cpu_cad for r in rows), zero),
        memory_cad=sum((r.memory_cad for r in rows), zero),
        disk_cad=sum((r.disk_cad for r in rows), zero),
        shared_cad=from_cents(shared), idle_share_cad=from_cents(idle),
    )


def lines_digest(lines: tuple[LineRow, ...] | list[LineRow]) -> str:
    """SHA-256 of cost lines (in their order), as ``StoredMonth.lines_digest``."""
    return _sha256(_lines_json(lines))


def _lines_json(lines: tuple[LineRow, ...] | list[LineRow]) -> list[list[str]]:
    return [[kind, name, name_en, resource, cents_text(cents)]
            for kind, name, name_en, resource, cents in lines]


def _sha256(rows: object) -> str:
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def content_hash(allocation: Allocation) -> str:
    """SHA-256 of the allocation as stored: equal hashes mean an identical close."""
    return StoredMonth.of(allocation).digest()
