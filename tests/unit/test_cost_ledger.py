"""The ledger: closing twice changes nothing, corrections add a version and keep the old."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from koumbit_infra.cost import (
    DEFAULT_LEDGER,
    Ledger,
    Month,
    RecordedUsage,
    Usage,
    allocate,
    close_month,
)
from koumbit_infra.cost.content import content_hash
from koumbit_infra.cost.ledger_schema import SCHEMA
from koumbit_infra.envs import load_env

MAY = Month(2026, 5)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def lab():
    return load_env("lab")


@pytest.fixture
def ledger():
    with Ledger(sqlite3.connect(":memory:")) as opened:
        yield opened


def heavy_usage() -> RecordedUsage:
    # The journal's site used 1.5 cores all month: more than it reserves.
    seconds = Decimal(MAY.hours * 3600) * Decimal("1.5")
    return RecordedUsage((Usage("journal-alternatif.test", "web1", Decimal(1), seconds),))


def test_closing_the_same_month_twice_changes_nothing(lab, ledger):
    first = close_month(lab, MAY, ledger, revision="abc123", now=NOW)
    second = close_month(lab, MAY, ledger, revision="abc123", now=datetime.now(UTC))
    assert first.changed and not second.changed
    assert second.record == first.record
    assert [r.version for r in ledger.versions("lab", MAY)] == [1]


def test_a_correction_adds_a_version_and_keeps_the_earlier_one(lab, ledger):
    before = close_month(lab, MAY, ledger, revision="abc123", now=NOW)
    after = close_month(lab, MAY, ledger, source=heavy_usage(), revision="def456", now=NOW)
    assert after.changed and after.record.version == 2
    assert after.record.content_hash != before.record.content_hash
    assert [r.inventory_revision for r in ledger.versions("lab", MAY)] == ["abc123", "def456"]
    old = ledger.allocation("lab", MAY, version=1)
    new = ledger.allocation("lab", MAY)
    assert old is not None and new is not None
    assert content_hash(old) == before.record.content_hash
    assert content_hash(new) == after.record.content_hash
    journal = {s.site: s for s in new.sites}["journal-alternatif.test"]
    assert journal.cpu_cad > {s.site: s for s in old.sites}["journal-alternatif.test"].cpu_cad
    # Closing the correction again is still a no-op.
    assert not close_month(lab, MAY, ledger, source=heavy_usage(), revision="x").changed


def test_what_is_read_back_is_exactly_what_was_closed(lab, ledger):
    computed = allocate(lab, MAY)
    ledger.close("lab", computed, "abc123", NOW)
    back = ledger.allocation("lab", MAY)
    assert back == computed


def test_closed_month_records_its_inputs(lab, ledger):
    record = close_month(lab, MAY, ledger, revision="abc123", now=NOW).record
    assert (record.env, record.month, record.version) == ("lab", MAY, 1)
    assert record.closed_at == "2026-06-01T12:00:00+00:00"
    assert record.usage_source == "reserved-only"
    assert re.fullmatch(r"[0-9a-f]{64}", record.content_hash)
    assert record.total_cad == Decimal("655.00")


def test_inventory_revision_read_from_git_by_default(lab, ledger):
    record = close_month(lab, MAY, ledger).record
    assert record.inventory_revision is None or re.match(r"[0-9a-f]{40}", record.inventory_revision)


def test_environments_do_not_mix(lab, ledger):
    ledger.close("lab", allocate(lab, MAY))
    ledger.close("example", allocate(lab, MAY, heavy_usage()))
    assert ledger.latest("lab", MAY).version == 1
    assert ledger.latest("example", MAY).version == 1
    assert ledger.allocation("other", MAY) is None
    assert list(ledger.closed_months("lab")) == [MAY]


def test_money_is_stored_as_integer_cents(lab, ledger):
    ledger.close("lab", allocate(lab, MAY))
    cursor = ledger._db.cursor()
    cursor.execute("SELECT DISTINCT typeof(amount_cents) FROM cost_line")
    assert cursor.fetchall() == [("integer",)]
    cursor.execute("SELECT sum(amount_cents) FROM cost_line")
    assert cursor.fetchone() == (65500,)


def test_schema_uses_only_types_that_postgresql_and_sqlite_share():
    # Run on a real PostgreSQL 15 by test_cost_ledger_postgresql.py.
    types = set(re.findall(r"^\s+\w+ (\w+)", "\n".join(SCHEMA), re.MULTILINE))
    assert types <= {"TEXT", "INTEGER", "BIGINT", "SMALLINT", "KEY", "TABLE"}
    text = "\n".join(SCHEMA).upper()
    for specific in ("AUTOINCREMENT", "SERIAL", "WITHOUT ROWID", "REAL", "BLOB", "JSON"):
        assert specific not in text


def test_default_ledger_is_var_ledger_sqlite_under_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert DEFAULT_LEDGER.as_posix() == "var/ledger.sqlite"
    with Ledger.open() as opened:
        assert opened.closed_months("lab") == {}
    assert (tmp_path / "var" / "ledger.sqlite").is_file()


def test_ledger_survives_reopening(lab, tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger.open(path) as first:
        close_month(lab, MAY, first, revision=None)
    with Ledger.open(path) as second:
        assert not close_month(lab, MAY, second, revision=None).changed
        assert second.latest("lab", MAY).version == 1
