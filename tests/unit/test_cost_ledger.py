"""The ledger: closing twice changes nothing, corrections add a version and keep the old."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from koumbit_infra.cost import (
    DEFAULT_LEDGER,
    Ledger,
    Month,
    RecordedUsage,
    Usage,
    allocate,
    close_month,
)
from koumbit_infra.cost.cents import from_cents
from koumbit_infra.cost.ledger.schema import SCHEMA
from koumbit_infra.cost.ledger.store import LedgerTampered, NothingToRevise, RevisionNeeded
from koumbit_infra.cost.ledger.stored_month import cents_text, content_hash
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


def test_a_correction_after_the_month_ended_needs_a_reason_and_keeps_it(lab, ledger):
    before = close_month(lab, MAY, ledger, revision="abc123", now=NOW)
    with pytest.raises(RevisionNeeded) as refused:
        close_month(lab, MAY, ledger, source=heavy_usage(), revision="def456", now=NOW)
    message = str(refused.value)
    assert "2026-05 (lab) was closed as version 1 after the month ended" in message
    assert "total 655.00 -> 655.00 CAD, idle 77.27 -> " in message  # the figures, before/after
    assert "8 client(s) changed (banque-alimentaire, " in message
    assert "nothing was written" in message
    assert [r.version for r in ledger.versions("lab", MAY)] == [1]

    after = close_month(lab, MAY, ledger, source=heavy_usage(), revision="def456", now=NOW,
                        reason="  late usage from web1 ")
    assert after.changed and after.record.version == 2
    assert after.record.reason == "late usage from web1"  # trimmed, then kept
    assert after.record.content_hash != before.record.content_hash
    assert [(r.inventory_revision, r.reason) for r in ledger.versions("lab", MAY)] == [
        ("abc123", None), ("def456", "late usage from web1")]
    old = ledger.allocation("lab", MAY, version=1)
    new = ledger.allocation("lab", MAY)
    assert old is not None and new is not None
    assert content_hash(old) == before.record.content_hash
    assert content_hash(new) == after.record.content_hash
    journal = {s.site: s for s in new.sites}["journal-alternatif.test"]
    assert journal.cpu_cad > {s.site: s for s in old.sites}["journal-alternatif.test"].cpu_cad
    # The same inputs again write nothing, with or without a reason.
    assert not close_month(lab, MAY, ledger, source=heavy_usage(), revision="x").changed
    assert not close_month(lab, MAY, ledger, source=heavy_usage(), reason="again").changed
    # Going back to the first figures is a revision too.
    with pytest.raises(RevisionNeeded, match="version 2"):
        close_month(lab, MAY, ledger, revision="abc123", now=NOW)


def test_the_running_month_is_closed_again_freely_as_usage_grows(lab, ledger):
    # Closes taken while May ran (in the budget's zone, America/Toronto) are provisional.
    may_20 = datetime(2026, 5, 20, tzinfo=UTC)
    last_evening = datetime(2026, 6, 1, 3, 59, tzinfo=UTC)  # 23:59 on May 31 in Toronto
    assert close_month(lab, MAY, ledger, now=may_20).record.version == 1
    grown = close_month(lab, MAY, ledger, source=heavy_usage(), now=last_evening)
    assert grown.changed and grown.record.version == 2 and grown.record.reason is None
    # The first close after the month ended replaces a provisional one without a reason...
    final = close_month(lab, MAY, ledger, now=datetime(2026, 6, 1, 4, 0, tzinfo=UTC))
    assert final.changed and final.record.version == 3
    # ... and is final: different figures now need --revise.
    with pytest.raises(RevisionNeeded, match="version 3"):
        close_month(lab, MAY, ledger, source=heavy_usage(), now=NOW)
    assert [r.version for r in ledger.versions("lab", MAY)] == [1, 2, 3]


def test_revising_a_month_never_closed_is_refused(lab, ledger):
    with pytest.raises(NothingToRevise, match="never closed in this ledger: nothing to revise"):
        close_month(lab, MAY, ledger, reason="late usage")
    assert ledger.versions("lab", MAY) == []


@pytest.mark.parametrize(("reason", "problem"), [
    ("   ", "empty"),
    ("late\nusage", "control character or line break"),
    ("\x1b[2J cleared", "control character"),
    ("right-to-left \u202e trick", "control character"),
    ("x" * 501, "501 characters"),
])
def test_a_revision_reason_is_one_line_of_plain_text(lab, ledger, reason, problem):
    close_month(lab, MAY, ledger, now=NOW)
    with pytest.raises(ValueError, match=problem):
        close_month(lab, MAY, ledger, source=heavy_usage(), now=NOW, reason=reason)
    assert [r.version for r in ledger.versions("lab", MAY)] == [1]


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
    ledger.close("example", allocate(lab, MAY, heavy_usage()))  # not a revision of lab's
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


def _tamper(path, statement):
    with sqlite3.connect(path) as db:
        assert db.execute(statement).rowcount >= 1


@pytest.mark.parametrize(("statement", "budget_too"), [
    ("UPDATE cost_client SET cost_cents = cost_cents + 100 WHERE client = 'journal-alternatif'",
     False),
    ("UPDATE cost_client SET name = 'Autre nom' WHERE client = 'journal-alternatif'", False),
    ("DELETE FROM cost_site WHERE site = 'journal-alternatif.test'", False),
    ("UPDATE cost_close SET content_hash = 'x' || substr(content_hash, 2)", False),
    ("UPDATE cost_idle SET amount_cents = 'a lot'", False),
    # What the budget reads of every month (its lines and total) is checked by the budget too.
    ("UPDATE cost_line SET amount_cents = amount_cents - 1 WHERE position = 0", True),
    ("UPDATE cost_line SET name = 'Autre poste' WHERE position = 9", True),
    ("UPDATE cost_close SET total_cents = total_cents + 1", True),
    ("UPDATE cost_close SET lines_hash = 'x' || substr(lines_hash, 2)", True),
])
def test_a_month_changed_behind_the_ledger_s_back_is_refused(lab, tmp_path, statement,
                                                             budget_too):
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as book:
        close_month(lab, MAY, book, now=NOW)
        close_month(lab, MAY, book, source=heavy_usage(), now=NOW, reason="late usage")
    _tamper(path, statement + " AND version = 2" if "WHERE" in statement
            else statement + " WHERE version = 2")
    with Ledger.open(path) as book:
        assert book.allocation("lab", MAY, version=1) is not None  # untouched, still read
        if not budget_too:  # the lines are intact: the budget still reads them
            assert book.line_amounts("lab")[MAY]
    with Ledger.open(path) as book:
        reads = [lambda: book.allocation("lab", MAY), lambda: book.read("lab", MAY, 2)]
        for read in reads + ([lambda: book.line_amounts("lab")] if budget_too else []):
            with pytest.raises(LedgerTampered) as refused:
                read()
            assert "2026-05 (lab) version 2 no longer matches what was closed" in str(
                refused.value)
        # Closing over it is refused too (the same figures must not pass for unchanged)...
        with pytest.raises(LedgerTampered):
            close_month(lab, MAY, book, source=heavy_usage(), now=NOW)
        # ... unless a revision records the inventory's figures as a new version.
        again = close_month(lab, MAY, book, source=heavy_usage(), now=NOW, reason="tampered")
        assert again.changed and again.record.version == 3
        assert book.allocation("lab", MAY) is not None


def test_a_ledger_from_before_revisions_gains_the_reason_column(lab, tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        for statement in SCHEMA:
            db.execute(statement.replace("        reason TEXT,\n        lines_hash TEXT,\n", ""))
        assert "reason" not in {row[1] for row in db.execute("PRAGMA table_info(cost_close)")}
        # A month closed by the older release: no reason, no lines hash.
        columns = "env, month, version, closed_at, inventory_revision, usage_source"
        db.execute(f"INSERT INTO cost_close ({columns}, content_hash, total_cents, idle_cents,"
                   " warnings) VALUES ('lab', '2026-04', 1, '2026-05-02T00:00:00+00:00', NULL,"
                   " 'reserved-only', 'old', 0, 0, '')")
    with Ledger.open(path) as book:
        closed = close_month(lab, MAY, book, now=NOW).record
    with Ledger.open(path) as book:
        assert book.read("lab", MAY).record == closed and closed.reason is None
        old = book.latest("lab", Month(2026, 4))
        assert old is not None and old.reason is None and old.lines_hash is None
        with pytest.raises(LedgerTampered, match="2026-04"):  # checked whole, without one
            book.line_amounts("lab")
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(cost_close)")}
        assert {"reason", "lines_hash"} <= columns


def test_rows_are_stored_and_hashed_in_one_order_whatever_the_allocation_s(lab, ledger):
    computed = allocate(lab, MAY)
    shuffled = dataclasses.replace(computed, clients=computed.clients[::-1],
                                   sites=computed.sites[::-1], idle=computed.idle[::-1])
    assert content_hash(shuffled) == content_hash(computed)
    ledger.close("lab", shuffled, now=NOW)
    assert ledger.allocation("lab", MAY) == computed


@given(st.integers(min_value=-10**15, max_value=10**15))
def test_cents_are_hashed_as_the_decimal_text_the_ledger_always_used(cents):
    assert cents_text(cents) == str(from_cents(cents))
