"""The ledger: closed months, kept so costs stay reproducible after Prometheus forgets.

A close writes one version of a month's allocation with the inventory's git
revision and a content hash. Closing again with identical results changes
nothing; closing with different results (a corrected inventory, late usage
data) adds version n+1 and keeps every earlier version. Readers take the
latest version unless they ask for another.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from koumbit_infra.cost.apportion import from_cents, to_cents
from koumbit_infra.cost.content import content_hash
from koumbit_infra.cost.ledger_schema import SCHEMA
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

DEFAULT_LEDGER = Path("var") / "ledger.sqlite"
"""Relative to the current directory, like ``./inventory``."""


POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(where: Path | str) -> bool:
    """Whether ``where`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(where, str) and where.startswith(POSTGRESQL_SCHEMES)


def ledger_exists(where: Path | str) -> bool:
    """A SQLite ledger file exists; a PostgreSQL ledger is taken to (opening it will tell)."""
    return is_database_url(where) or Path(where).is_file()


def ledger_label(where: Path | str) -> str:
    """``where`` as messages show it: a URL without its password."""
    if not is_database_url(where):
        return str(where)
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(str(where))
    if parts.password is None:
        return str(where)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def ledger_location(value: str) -> Path | str:
    """A ``--ledger`` value: a PostgreSQL URL as it is, anything else a SQLite file path."""
    return value if is_database_url(value) else Path(value)


def _postgresql(url: str) -> Connection:
    try:
        import psycopg
    except ImportError:
        raise LedgerError("a PostgreSQL ledger needs psycopg 3:"
                          " pip install 'koumbit-infra[postgresql]'") from None
    try:
        connection: Connection = psycopg.connect(url)
    except psycopg.Error as exc:
        # The URL may hold a password: name the problem, never the URL.
        raise LedgerError(f"cannot open the PostgreSQL ledger: {exc}".strip()) from None
    return connection


class LedgerError(Exception):
    """The ledger cannot be opened; nothing was read or written."""


class Connection(Protocol):
    """The part of a DB-API 2 connection the ledger uses (sqlite3, psycopg ...)."""

    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class CloseRecord:
    """One version of one closed month: when, from which inputs, and its totals."""

    env: str
    month: Month
    version: int
    closed_at: str
    inventory_revision: str | None
    usage_source: str
    content_hash: str
    total_cad: Decimal
    idle_cad: Decimal
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class CloseResult:
    """What a close did: the version now current, and whether anything was written."""

    record: CloseRecord
    changed: bool


# Statements are whole literals (no table or column names pasted in at run time).
_SELECT_CLOSE = (
    "SELECT env, month, version, closed_at, inventory_revision, usage_source, content_hash,"
    " total_cents, idle_cents, warnings FROM cost_close"
)
_INSERT_CLOSE = (
    "INSERT INTO cost_close (env, month, version, closed_at, inventory_revision, usage_source,"
    " content_hash, total_cents, idle_cents, warnings) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_INSERTS = {
    "cost_line": "INSERT INTO cost_line VALUES (?,?,?,?,?,?,?,?,?)",
    "cost_site_server": "INSERT INTO cost_site_server VALUES (?,?,?,?,?,?,?,?)",
    "cost_site": "INSERT INTO cost_site VALUES (?,?,?,?,?,?,?,?)",
    "cost_idle": "INSERT INTO cost_idle VALUES (?,?,?,?,?)",
    "cost_client": "INSERT INTO cost_client VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
}


class Ledger:
    """Closed months in a SQL database (SQLite by default; the schema also runs on PostgreSQL)."""

    def __init__(self, connection: Connection, paramstyle: str = "qmark") -> None:
        self._db = connection
        # sqlite3 takes `?`; psycopg and most server drivers take `%s`.
        self._mark = "?" if paramstyle == "qmark" else "%s"
        cursor = self._db.cursor()
        for statement in SCHEMA:
            cursor.execute(statement)
        self._db.commit()

    @classmethod
    def open(cls, where: Path | str = DEFAULT_LEDGER) -> Ledger:
        """The ledger at ``where``: a SQLite file, created (with its folder) if missing,
        or a ``postgresql://`` URL (psycopg 3: ``pip install 'koumbit-infra[postgresql]'``).
        """
        if is_database_url(where):
            return cls(_postgresql(str(where)), paramstyle="format")
        path = Path(where)
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(sqlite3.connect(path))

    def disconnect(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.disconnect()

    # --- writing ----------------------------------------------------------

    def close(
        self,
        env: str,
        allocation: Allocation,
        inventory_revision: str | None = None,
        now: datetime | None = None,
    ) -> CloseResult:
        """Record ``allocation`` as the latest version of its month, unless it already is."""
        allocation.check()
        digest = content_hash(allocation)
        latest = self.latest(env, allocation.month)
        if latest is not None and latest.content_hash == digest:
            return CloseResult(latest, changed=False)
        record = CloseRecord(
            env=env,
            month=allocation.month,
            version=1 if latest is None else latest.version + 1,
            closed_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
            inventory_revision=inventory_revision,
            usage_source=allocation.usage_label,
            content_hash=digest,
            total_cad=allocation.total_cad,
            idle_cad=allocation.idle_cad,
            warnings=allocation.warnings,
        )
        try:
            self._write(record, allocation)
        except BaseException:
            self._db.rollback()
            raise
        self._db.commit()
        return CloseResult(record, changed=True)

    def _write(self, record: CloseRecord, allocation: Allocation) -> None:
        key = (record.env, str(record.month), record.version)
        cursor = self._db.cursor()
        cursor.execute(
            self._sql(_INSERT_CLOSE),
            (*key, record.closed_at, record.inventory_revision, record.usage_source,
             record.content_hash, to_cents(record.total_cad), to_cents(record.idle_cad),
             "\n".join(record.warnings)),
        )
        self._insert(cursor, "cost_line", (
            (*key, i, line.kind.value, line.name, line.name_en, line.resource,
             to_cents(line.amount_cad))
            for i, line in enumerate(allocation.lines)
        ))
        self._insert(cursor, "cost_site_server", (
            (*key, r.site, r.server, to_cents(r.cpu_cad), to_cents(r.memory_cad),
             to_cents(r.disk_cad))
            for r in allocation.site_servers
        ))
        self._insert(cursor, "cost_site", (
            (*key, s.site, s.client, s.plan, to_cents(s.shared_cad), to_cents(s.idle_share_cad))
            for s in allocation.sites
        ))
        self._insert(cursor, "cost_idle", (
            (*key, i.server, to_cents(i.amount_cad)) for i in allocation.idle
        ))
        self._insert(cursor, "cost_client", (
            (*key, c.client, c.name, c.plan, int(c.is_solidarity), str(c.solidarity_share),
             to_cents(c.list_price_cad), to_cents(c.paid_cad), to_cents(c.cost_cad),
             to_cents(c.full_cost_cad), to_cents(c.solidarity_cost_cad),
             to_cents(c.solidarity_list_cad), to_cents(c.solidarity_paid_cad))
            for c in allocation.clients
        ))

    def _insert(self, cursor: Any, table: str, rows: Iterable[Sequence[object]]) -> None:
        cursor.executemany(self._sql(_INSERTS[table]), list(rows))

    def _sql(self, text: str) -> str:
        return text if self._mark == "?" else text.replace("?", self._mark)

    def _rows(self, text: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        cursor = self._db.cursor()
        cursor.execute(self._sql(text), tuple(params))
        return list(cursor.fetchall())

    # --- reading ----------------------------------------------------------

    def versions(self, env: str, month: Month) -> list[CloseRecord]:
        """Every version of ``month`` in ``env``, oldest first."""
        rows = self._rows(
            _SELECT_CLOSE + " WHERE env = ? AND month = ? ORDER BY version",
            (env, str(month)),
        )
        return [_record(row) for row in rows]

    def latest(self, env: str, month: Month) -> CloseRecord | None:
        """The current version of ``month``, or None if it was never closed."""
        found = self.versions(env, month)
        return found[-1] if found else None

    def closed_months(self, env: str) -> dict[Month, CloseRecord]:
        """The latest version of every closed month of ``env``, in month order."""
        rows = self._rows(
            _SELECT_CLOSE + " WHERE env = ? ORDER BY month, version",
            (env,),
        )
        latest: dict[Month, CloseRecord] = {}
        for row in rows:
            record = _record(row)
            latest[record.month] = record
        return latest

    def line_amounts(self, env: str) -> dict[Month, dict[str, Decimal]]:
        """Per closed month (latest version), the amount of each budget cost line."""
        found: dict[Month, dict[str, Decimal]] = defaultdict(dict)
        for month, record in self.closed_months(env).items():
            rows = self._rows(
                "SELECT kind, name, amount_cents FROM cost_line"
                " WHERE env = ? AND month = ? AND version = ? ORDER BY position",
                (env, str(month), record.version),
            )
            for kind, name, cents in rows:
                prefix = "line" if kind == LineKind.BUDGET_LINE.value else "server"
                key = f"{prefix}:{name}"
                found[month][key] = found[month].get(key, Decimal("0.00")) + from_cents(cents)
        return dict(found)

    def allocation(self, env: str, month: Month, version: int | None = None) -> Allocation | None:
        """The allocation as closed (latest version unless ``version``), or None."""
        records = {r.version: r for r in self.versions(env, month)}
        if not records:
            return None
        record = records.get(version if version is not None else max(records))
        if record is None:
            return None
        key = (env, str(month), record.version)
        lines = tuple(
            CostLine(LineKind(kind), name, resource, from_cents(cents), name_en)
            for kind, name, name_en, resource, cents in self._rows(
                "SELECT kind, name, name_en, resource, amount_cents FROM cost_line"
                " WHERE env = ? AND month = ? AND version = ? ORDER BY position", key)
        )
        site_servers = tuple(
            SiteServerCost(site, server, from_cents(cpu), from_cents(mem), from_cents(disk))
            for site, server, cpu, mem, disk in self._rows(
                "SELECT site, server, cpu_cents, memory_cents, disk_cents FROM cost_site_server"
                " WHERE env = ? AND month = ? AND version = ? ORDER BY site, server", key)
        )
        per_site: dict[str, list[SiteServerCost]] = defaultdict(list)
        for row in site_servers:
            per_site[row.site].append(row)
        sites = tuple(
            _site(site, client, plan, per_site.get(site, []), shared=shared, idle=idle)
            for site, client, plan, shared, idle in self._rows(
                "SELECT site, client, plan, shared_cents, idle_share_cents FROM cost_site"
                " WHERE env = ? AND month = ? AND version = ? ORDER BY site", key)
        )
        idle = tuple(
            IdleCost(server, from_cents(cents))
            for server, cents in self._rows(
                "SELECT server, amount_cents FROM cost_idle"
                " WHERE env = ? AND month = ? AND version = ? ORDER BY server", key)
        )
        clients = tuple(
            ClientCost(
                client=row[0], name=row[1], plan=row[2], is_solidarity=bool(row[3]),
                solidarity_share=Decimal(row[4]),
                **{f: from_cents(c) for f, c in zip(_CLIENT_AMOUNTS, row[5:], strict=True)},
            )
            for row in self._rows(
                "SELECT client, name, plan, is_solidarity, solidarity_share, list_price_cents,"
                " paid_cents, cost_cents, full_cost_cents, solidarity_cost_cents,"
                " solidarity_list_cents, solidarity_paid_cents FROM cost_client"
                " WHERE env = ? AND month = ? AND version = ? ORDER BY client", key)
        )
        return Allocation(
            month=month,
            usage_label=record.usage_source,
            lines=lines,
            site_servers=site_servers,
            sites=sites,
            idle=idle,
            clients=clients,
            warnings=record.warnings,
        )


_CLIENT_AMOUNTS = (
    "list_price_cad", "paid_cad", "cost_cad", "full_cost_cad",
    "solidarity_cost_cad", "solidarity_list_cad", "solidarity_paid_cad",
)


def _site(
    site: str, client: str, plan: str, rows: list[SiteServerCost], *, shared: int, idle: int
) -> SiteCost:
    zero = Decimal("0.00")
    return SiteCost(
        site=site,
        client=client,
        plan=plan,
        servers=tuple(r.server for r in rows),
        cpu_cad=sum((r.cpu_cad for r in rows), zero),
        memory_cad=sum((r.memory_cad for r in rows), zero),
        disk_cad=sum((r.disk_cad for r in rows), zero),
        shared_cad=from_cents(shared),
        idle_share_cad=from_cents(idle),
    )


def _record(row: Sequence[Any]) -> CloseRecord:
    return CloseRecord(
        env=row[0],
        month=Month.parse(row[1]),
        version=int(row[2]),
        closed_at=row[3],
        inventory_revision=row[4],
        usage_source=row[5],
        content_hash=row[6],
        total_cad=from_cents(int(row[7])),
        idle_cad=from_cents(int(row[8])),
        warnings=tuple(w for w in row[9].split("\n") if w),
    )
