"""The ledger on a real PostgreSQL 15 (Debian's postgresql-15), not only on SQLite.

A throw-away cluster is made for the module with initdb in a temporary folder,
listening on a Unix socket there only (no TCP port), and stopped at the end.
Initdb refuses root, so as root it runs as the package's `postgres` user.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from koumbit_infra.cli import main
from koumbit_infra.cost import Ledger, Month, RecordedUsage, Usage, close_month
from koumbit_infra.cost.ledger.budget_projection import project_budget
from koumbit_infra.cost.ledger.schema import SCHEMA
from koumbit_infra.cost.ledger.store import (
    LedgerError,
    LedgerTampered,
    RevisionNeeded,
    ledger_label,
)
from koumbit_infra.cost.publishing.textfile import cost_exposition
from koumbit_infra.envs import load_env

BIN = Path("/usr/lib/postgresql/15/bin")
MONTHS = (Month(2026, 9), Month(2026, 10))
AFTER = datetime(2026, 11, 2, tzinfo=UTC)  # both months ended: their closes are final


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str]) -> None:
    done = subprocess.run(_as_owner(argv), capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv[0]}: {done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def postgresql_url() -> Iterator[str]:
    assert (BIN / "initdb").is_file(), (
        "PostgreSQL 15 is missing: scripts/bootstrap installs postgresql-15")
    # Not under pytest's tmp folder: that one is private to root, and postgres must enter.
    base = Path(tempfile.mkdtemp(prefix="koumbit-ledger-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        for path in (base, sock):
            shutil.chown(path, "postgres", "postgres")
    try:
        _run([str(BIN / "initdb"), "-D", str(data), "-U", "ledger", "--auth=trust",
              "-E", "UTF8", "--locale=C.UTF-8"])
        _run([str(BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
              f"-c listen_addresses='' -c unix_socket_directories={sock}", "start"])
        yield f"postgresql://ledger@/postgres?host={sock}"
    finally:
        subprocess.run(_as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                                  "stop"]), check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_closing_on_postgresql_matches_sqlite_to_the_cent(postgresql_url: str) -> None:
    lab = load_env("lab")
    heavy = RecordedUsage((Usage("journal-alternatif.test", "web1", Decimal(1),
                                  Decimal(4_000_000)),))
    with Ledger.open(postgresql_url) as pg, Ledger(sqlite3.connect(":memory:")) as lite:
        for book in (pg, lite):
            for month in MONTHS:
                assert close_month(lab, month, book, revision="abc", now=AFTER).changed
                assert not close_month(lab, month, book, revision="abc").changed
            with pytest.raises(RevisionNeeded, match=r"total 655\.00 -> 655\.00 CAD"):
                close_month(lab, MONTHS[1], book, source=heavy, revision="def", now=AFTER)
            corrected = close_month(lab, MONTHS[1], book, source=heavy, revision="def",
                                    now=AFTER, reason="late usage from web1")
            assert corrected.changed and corrected.record.version == 2
            assert not close_month(lab, MONTHS[1], book, source=heavy, revision="def",
                                   reason="again").changed
        for month in MONTHS:
            assert pg.allocation("lab", month) == lite.allocation("lab", month)
            assert pg.allocation("lab", month, version=1) == lite.allocation(
                "lab", month, version=1)
            assert [r.content_hash for r in pg.versions("lab", month)] == [
                r.content_hash for r in lite.versions("lab", month)]
        assert project_budget(lab, pg) == project_budget(lab, lite)
    # Reopened: every version is still there with its reason, money in whole cents as BIGINT.
    with Ledger.open(postgresql_url) as pg:
        assert [(r.version, r.reason) for r in pg.versions("lab", MONTHS[1])] == [
            (1, None), (2, "late usage from web1")]
        cursor = pg._db.cursor()
        cursor.execute("SELECT data_type FROM information_schema.columns"
                       " WHERE table_name = 'cost_line' AND column_name = 'amount_cents'")
        assert cursor.fetchall() == [("bigint",)]


def test_an_unreachable_postgresql_ledger_is_a_clear_error(tmp_path: Path) -> None:
    url = f"postgresql://ledger:s3cret@/postgres?host={tmp_path}"
    with pytest.raises(LedgerError, match="cannot open the PostgreSQL ledger") as caught:
        Ledger.open(url)
    assert "s3cret" not in str(caught.value)


def test_the_cost_commands_take_a_postgresql_url(postgresql_url: str) -> None:
    runner = CliRunner()
    closed = runner.invoke(main, ["cost", "close", "2026-11", "--env", "lab",
                                        "--ledger", postgresql_url])
    assert closed.exit_code == 0, closed.output
    assert "2026-11 (lab) closed as version 1: total 655.00 CAD" in closed.output
    shown = runner.invoke(main, ["cost", "show", "2026-11", "--env", "lab",
                                       "--ledger", postgresql_url])
    assert shown.exit_code == 0, shown.output
    with Ledger.open(postgresql_url) as pg:
        allocation = pg.allocation("lab", Month(2026, 11))
    assert allocation is not None
    assert all(c.name[:38] in shown.output for c in allocation.clients)
    budget = runner.invoke(main, ["cost", "budget", "--env", "lab", "--ledger", postgresql_url])
    assert budget.exit_code == 0, budget.output
    assert "allocated 9000.00 CAD" in budget.output


def test_a_bad_postgresql_ledger_exits_2_without_showing_its_password(tmp_path: Path) -> None:
    url = f"postgresql://ledger:s3cret@/postgres?host={tmp_path}"
    result = CliRunner().invoke(main, ["cost", "budget", "--env", "lab", "--ledger", url])
    assert result.exit_code == 2
    assert "cannot open the PostgreSQL ledger" in result.output
    assert "s3cret" not in result.output
    assert ledger_label("postgresql://u:s3cret@db.example/ledger") == (
        "postgresql://u:***@db.example/ledger")


def test_the_report_reads_a_postgresql_ledger(postgresql_url: str, tmp_path: Path) -> None:
    closed = CliRunner().invoke(main, ["cost", "close", "2026-12", "--env", "lab",
                                             "--ledger", postgresql_url])
    assert closed.exit_code == 0, closed.output
    out = tmp_path / "report.csv"
    made = CliRunner().invoke(main, ["report",
        "--month", "2026-12", "--env", "lab", "--lang", "fr", "--format", "csv",
        "--ledger", postgresql_url, "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert "computed with reserved usage only" not in made.output  # read from the ledger
    with Ledger.open(postgresql_url) as pg:
        allocation = pg.allocation("lab", Month(2026, 12))
    assert allocation is not None
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["SubAccountName"] for r in rows} == {c.name for c in allocation.clients}


def test_cost_metrics_from_postgresql_equal_those_from_sqlite(postgresql_url: str,
                                                               tmp_path: Path) -> None:
    lab = load_env("lab")
    sqlite_path = tmp_path / "ledger.sqlite"
    with Ledger.open(postgresql_url) as pg, Ledger.open(sqlite_path) as lite:
        for book in (pg, lite):
            close_month(lab, Month(2027, 1), book, revision="abc")
        # The PostgreSQL ledger holds the other tests' months too: bring SQLite level.
        for month in pg.closed_months("lab"):
            for record in pg.versions("lab", month):
                allocation = pg.allocation("lab", month, record.version)
                assert allocation is not None
                lite.close("lab", allocation, record.usage_source,
                           reason=None if record.version == 1 else record.reason or "copy")
    assert cost_exposition(lab, postgresql_url) == cost_exposition(lab, sqlite_path)


def _tamper(url: str, statement: str) -> None:
    """Change rows as someone with the database's password could, behind the ledger."""
    import psycopg

    with psycopg.connect(url) as db:
        assert db.execute(statement).rowcount == 1


def test_a_month_changed_in_postgresql_behind_the_ledger_s_back_is_refused(
    postgresql_url: str,
) -> None:
    lab = load_env("lab")
    month = Month(2027, 2)
    with Ledger.open(postgresql_url) as pg:
        close_month(lab, month, pg, revision="abc", now=datetime(2027, 3, 2, tzinfo=UTC))
    _tamper(postgresql_url, "UPDATE cost_client SET paid_cents = paid_cents + 500 WHERE"
                            " env = 'lab' AND month = '2027-02' AND client = 'comite-parents'")
    with Ledger.open(postgresql_url) as pg:
        with pytest.raises(LedgerTampered, match=r"2027-02 \(lab\) version 1 no longer matches"):
            pg.allocation("lab", month)
        project_budget(lab, pg)  # the budget reads only the month's lines, still intact
    _tamper(postgresql_url, "UPDATE cost_line SET amount_cents = amount_cents + 1"
                            " WHERE env = 'lab' AND month = '2027-02' AND position = 0")
    with Ledger.open(postgresql_url) as pg:
        with pytest.raises(LedgerTampered, match=r"2027-02 \(lab\) version 1 no longer matches"):
            project_budget(lab, pg)
        revised = close_month(lab, month, pg, revision="abc", reason="restored from the inventory")
        assert revised.record.version == 2 and pg.allocation("lab", month) is not None


def test_a_postgresql_ledger_from_before_revisions_gains_the_reason_column(
    postgresql_url: str,
) -> None:
    import psycopg

    with psycopg.connect(postgresql_url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE before_revisions")
    old_url = postgresql_url.replace("/postgres?", "/before_revisions?")
    with psycopg.connect(old_url) as old:
        for statement in SCHEMA:
            old.execute(statement.replace("        reason TEXT,\n        lines_hash TEXT,\n", ""))
    lab = load_env("lab")
    with Ledger.open(old_url) as pg:
        close_month(lab, Month(2026, 5), pg, revision="abc")
    with Ledger.open(old_url) as pg:
        found = pg.read("lab", Month(2026, 5))
        assert found is not None and found.record.reason is None
        cursor = pg._db.cursor()
        cursor.execute("SELECT column_name, data_type FROM information_schema.columns"
                       " WHERE table_name = 'cost_close' AND column_name IN"
                       " ('reason', 'lines_hash') ORDER BY column_name")
        assert cursor.fetchall() == [("lines_hash", "text"), ("reason", "text")]
