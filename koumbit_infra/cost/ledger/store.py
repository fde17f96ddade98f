"""The ledger: closed months, kept so costs stay reproducible after Prometheus forgets.

A close writes one version of a month's allocation with the inventory's git
revision and a content hash. Closing again with identical results changes
nothing. Closing with different results adds version n+1 and keeps every earlier
version: freely while the month runs (usage grows), but once a version was closed
after the month ended only with a reason (``--revise``), recorded with the new
version (see ``ledger.trust``). Readers take the latest version unless they ask
for another, and every read checks the rows against the version's content hash.
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

from koumbit_infra.cost.cents import from_cents, to_cents
from koumbit_infra.cost.ledger.schema import ADDED_COLUMNS, SCHEMA
from koumbit_infra.cost.ledger.stored_month import ClientRow, LineRow, StoredMonth, lines_digest
from koumbit_infra.cost.ledger.trust import (
    LedgerError,
    LedgerTampered,
    NothingToRevise,
    RevisionNeeded,
    changes,
    revise_reason,
)
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.results import Allocation, LineKind

__all__ = [
    "DEFAULT_LEDGER", "CloseRecord", "CloseResult", "ClosedMonth", "Connection", "Ledger",
    "LedgerError", "LedgerTampered", "NothingToRevise", "RevisionNeeded", "is_database_url",
    "ledger_exists", "ledger_label", "ledger_location",
]

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


class Connection(Protocol):
    """The part of a DB-API 2 connection the ledger uses (sqlite3, psycopg ...)."""

    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...



@dataclass(frozen=True)
class CloseRecord:
    """One version of one closed month: when, from which inputs, its totals, and why."""

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
    reason: str | None = None  # given with --revise when this version replaced another
    lines_hash: str | None = None  # of its cost lines alone; None if closed before it existed

    def closed_after(self, instant: datetime) -> bool:
        """Whether this version was closed at or after ``instant`` (a month's end)."""
        closed = datetime.fromisoformat(self.closed_at)
        return (closed if closed.tzinfo else closed.replace(tzinfo=UTC)) >= instant


@dataclass(frozen=True)
class CloseResult:
    """What a close did: the version now current, and whether anything was written."""

    record: CloseRecord
    changed: bool


@dataclass(frozen=True)
class ClosedMonth:
    """One version of a month read back, its rows checked against its content hash."""

    record: CloseRecord
    allocation: Allocation


# Statements are whole literals (no table or column names pasted in at run time).
_SELECT_CLOSE = (
    "SELECT env, month, version, closed_at, inventory_revision, usage_source, content_hash,"
    " total_cents, idle_cents, warnings, reason, lines_hash FROM cost_close"
)
_INSERT_CLOSE = (
    "INSERT INTO cost_close (env, month, version, closed_at, inventory_revision, usage_source,"
    " content_hash, total_cents, idle_cents, warnings, reason, lines_hash)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERTS = {
    "cost_line": "INSERT INTO cost_line VALUES (?,?,?,?,?,?,?,?,?)",
    "cost_site_server": "INSERT INTO cost_site_server VALUES (?,?,?,?,?,?,?,?)",
    "cost_site": "INSERT INTO cost_site VALUES (?,?,?,?,?,?,?,?)",
    "cost_idle": "INSERT INTO cost_idle VALUES (?,?,?,?,?)",
    "cost_client": "INSERT INTO cost_client VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
}
_FETCH_LINES = (
    "SELECT kind, name, name_en, resource, amount_cents FROM cost_line"
    " WHERE env = ? AND month = ? AND version = ? ORDER BY position")
_FETCH_SITE_SERVERS = (
    "SELECT site, server, cpu_cents, memory_cents, disk_cents FROM cost_site_server"
    " WHERE env = ? AND month = ? AND version = ? ORDER BY site, server")
_FETCH_SITES = (
    "SELECT site, client, plan, shared_cents, idle_share_cents FROM cost_site"
    " WHERE env = ? AND month = ? AND version = ? ORDER BY site")
_FETCH_IDLE = (
    "SELECT server, amount_cents FROM cost_idle WHERE env = ? AND month = ? AND version = ?"
    " ORDER BY server")
_FETCH_CLIENTS = (
    "SELECT client, name, plan, is_solidarity, solidarity_share, list_price_cents,"
    " paid_cents, cost_cents, full_cost_cents, solidarity_cost_cents, solidarity_list_cents,"
    " solidarity_paid_cents FROM cost_client WHERE env = ? AND month = ? AND version = ?"
    " ORDER BY client")


class Ledger:
    """Closed months in a SQL database (SQLite by default; the schema also runs on PostgreSQL)."""

    def __init__(self, connection: Connection, paramstyle: str = "qmark") -> None:
        self._db = connection
        # sqlite3 takes `?`; psycopg and most server drivers take `%s`.
        self._mark = "?" if paramstyle == "qmark" else "%s"
        # The cost lines of versions whose rows matched their hash (the budget reads them
        # after a report read the month), by (env, month, version, hash); not every row:
        # twelve months of 2,000 clients held here slowed the whole process's collector.
        self._checked_lines: dict[tuple[str, str, int, str], tuple[LineRow, ...]] = {}
        cursor = self._db.cursor()
        for statement in SCHEMA:
            cursor.execute(statement)
        for probe, column, alter in ADDED_COLUMNS:  # a ledger made by an older release
            cursor.execute(probe)
            cursor.fetchall()
            if column not in {d[0] for d in cursor.description}:
                cursor.execute(alter)
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

    @classmethod
    def open_existing(cls, where: Path | str | None) -> Ledger:
        """The ledger at ``where`` if there is one; else an empty ledger in memory, so a
        reader of a missing file neither fails nor creates it."""
        if where is not None and ledger_exists(where):
            return cls.open(where)
        return cls(sqlite3.connect(":memory:"))

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
        *,
        reason: str | None = None,
        month_end: datetime | None = None,
    ) -> CloseResult:
        """Record ``allocation`` as the latest version of its month, unless it already is.

        Different figures replace a version closed at or after ``month_end`` (a final one;
        every version is final when ``month_end`` is None) only with a ``reason``, kept
        with the new version: RevisionNeeded otherwise. LedgerTampered if the latest
        version's rows no longer match its hash (a ``reason`` writes a new version anyway);
        NothingToRevise for a ``reason`` given when the month was never closed.
        """
        allocation.check()
        if reason is not None:
            reason = revise_reason(reason)
        stored = StoredMonth.of(allocation)
        digest = stored.digest()
        month = allocation.month
        latest = self.latest(env, month)
        if latest is None and reason is not None:
            raise NothingToRevise(env, month)
        if latest is not None:
            try:
                before: StoredMonth | None = self._checked(latest, (stored, digest))
            except LedgerTampered:
                if reason is None:
                    raise
                before = None
            if before is not None and latest.content_hash == digest:
                return CloseResult(latest, changed=False)
            final = month_end is None or latest.closed_after(month_end)
            if reason is None and final:
                raise RevisionNeeded(env, month, latest.version, changes(before, stored))
        record = CloseRecord(
            env=env,
            month=month,
            version=1 if latest is None else latest.version + 1,
            closed_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
            inventory_revision=inventory_revision,
            usage_source=stored.usage,
            content_hash=digest,
            total_cad=from_cents(stored.total_cents),
            idle_cad=from_cents(stored.idle_cents),
            warnings=stored.warnings,
            reason=reason,
            lines_hash=stored.lines_digest(),
        )
        try:
            self._write(record, stored)
        except BaseException:
            self._db.rollback()
            raise
        self._db.commit()
        return CloseResult(record, changed=True)

    def _write(self, record: CloseRecord, stored: StoredMonth) -> None:
        key = (record.env, str(record.month), record.version)
        cursor = self._db.cursor()
        cursor.execute(
            self._sql(_INSERT_CLOSE),
            (*key, record.closed_at, record.inventory_revision, record.usage_source,
             record.content_hash, to_cents(record.total_cad), to_cents(record.idle_cad),
             "\n".join(record.warnings), record.reason, record.lines_hash),
        )
        self._insert(cursor, "cost_line", ((*key, i, *line) for i, line in enumerate(stored.lines)))
        self._insert(cursor, "cost_site_server", ((*key, *row) for row in stored.site_servers))
        self._insert(cursor, "cost_site", ((*key, *row) for row in stored.sites))
        self._insert(cursor, "cost_idle", ((*key, *row) for row in stored.idle))
        self._insert(cursor, "cost_client", (
            (*key, *row[:3], int(row[3]), *row[4:]) for row in stored.clients))

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
        """Every version of ``month`` in ``env``, oldest first (records only, not checked)."""
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
        """Per closed month (latest version, checked), the amount of each budget cost line."""
        found: dict[Month, dict[str, Decimal]] = defaultdict(dict)
        for month, record in self.closed_months(env).items():
            for kind, name, _, _, cents in self._lines_checked(record):
                prefix = "line" if kind == LineKind.BUDGET_LINE.value else "server"
                key = f"{prefix}:{name}"
                found[month][key] = found[month].get(key, Decimal("0.00")) + from_cents(cents)
        return dict(found)

    def read(self, env: str, month: Month, version: int | None = None) -> ClosedMonth | None:
        """A version of ``month`` (the latest unless ``version``) and its allocation, or None.

        LedgerTampered if its rows no longer match its content hash.
        """
        records = self.versions(env, month)
        if version is None:
            record = records[-1] if records else None
        else:
            record = next((r for r in records if r.version == version), None)
        if record is None:
            return None
        return ClosedMonth(record, self._checked(record).allocation())

    def allocation(self, env: str, month: Month, version: int | None = None) -> Allocation | None:
        """The allocation as closed (latest version unless ``version``, checked), or None."""
        found = self.read(env, month, version)
        return found.allocation if found else None

    def _checked(self, record: CloseRecord,
                 hashed: tuple[StoredMonth, str] | None = None) -> StoredMonth:
        """The version's rows, once they hash to its content hash and add up to its totals.

        ``hashed``: rows and their digest at hand (a close's); rows fetched equal to them
        have that digest, so a close of unchanged figures hashes the month once, not twice.
        """
        try:
            stored = self._fetch(record)
            digest = hashed[1] if hashed and hashed[0] == stored else stored.digest()
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise LedgerTampered(record.env, record.month, record.version,
                                 f"a stored value is unreadable: {exc}") from None
        if digest != record.content_hash:
            raise LedgerTampered(record.env, record.month, record.version,
                                 "its rows no longer hash to its content hash")
        if (stored.total_cents, stored.idle_cents) != (to_cents(record.total_cad),
                                                        to_cents(record.idle_cad)):
            raise LedgerTampered(record.env, record.month, record.version,
                                 "its recorded totals differ from its rows")
        if record.lines_hash not in (None, stored.lines_digest()):
            raise LedgerTampered(record.env, record.month, record.version,
                                 "its cost lines no longer hash to their hash")
        self._checked_lines[_key(record)] = stored.lines
        return stored

    def _lines_checked(self, record: CloseRecord) -> tuple[LineRow, ...]:
        """The version's cost lines, once they hash to its lines hash and add up to its total
        (the whole version is checked when it has no lines hash)."""
        known = self._checked_lines.get(_key(record))
        if known is not None:
            return known
        if record.lines_hash is None:
            return self._checked(record).lines
        lines = tuple(self._lines(record))
        try:
            digest, total = lines_digest(lines), sum(line[4] for line in lines)
        except (TypeError, ValueError) as exc:
            raise LedgerTampered(record.env, record.month, record.version,
                                 f"a stored value is unreadable: {exc}") from None
        if digest != record.lines_hash or total != to_cents(record.total_cad):
            raise LedgerTampered(record.env, record.month, record.version,
                                 "its cost lines no longer hash to their hash")
        self._checked_lines[_key(record)] = lines
        return lines

    def _lines(self, record: CloseRecord) -> list[LineRow]:
        key = (record.env, str(record.month), record.version)
        return [(row[0], row[1], row[2], row[3], row[4]) for row in self._rows(_FETCH_LINES, key)]

    def _fetch(self, record: CloseRecord) -> StoredMonth:
        key = (record.env, str(record.month), record.version)
        return StoredMonth.sorted(
            month=record.month,
            usage=record.usage_source,
            warnings=record.warnings,
            lines=self._lines(record),
            site_servers=[(row[0], row[1], row[2], row[3], row[4])
                          for row in self._rows(_FETCH_SITE_SERVERS, key)],
            sites=[(row[0], row[1], row[2], row[3], row[4])
                   for row in self._rows(_FETCH_SITES, key)],
            idle=[(row[0], row[1]) for row in self._rows(_FETCH_IDLE, key)],
            clients=[_client(row) for row in self._rows(_FETCH_CLIENTS, key)],
        )


def _key(record: CloseRecord) -> tuple[str, str, int, str]:
    return (record.env, str(record.month), record.version, record.content_hash)


def _client(row: Sequence[Any]) -> ClientRow:
    return (row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7], row[8],
            row[9], row[10], row[11])


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
        reason=row[10],
        lines_hash=row[11],
    )
