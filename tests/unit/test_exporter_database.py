"""Database bytes per site: recorded mariadb output, the client run, failures."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fixtures.exporter.fakes import HERE, SITES, make_config
from prometheus_client import CollectorRegistry

from koumbit_infra.exporter import database
from koumbit_infra.exporter.database import (
    SIZES_QUERY,
    DatabaseCollector,
    DatabaseError,
    parse_sizes,
    run_client,
)

# Recorded from MariaDB 10.11 (Debian 12) as the koumbit_exporter user holding
# only SHOW VIEW ON *.*: sizes are visible, a SELECT on any table is denied.
RECORDED = (HERE / "mariadb-sizes-10.11.tsv").read_text()


def labels(index: int) -> dict[str, str]:
    return {"server": "web1", "site": SITES[index][0], "client": SITES[index][2]}


def test_recorded_sizes_per_site(tmp_path: Path) -> None:
    collector = DatabaseCollector(make_config(tmp_path), query=lambda: RECORDED)
    registry = CollectorRegistry()
    registry.register(collector)
    assert collector.refresh() == []
    get = registry.get_sample_value
    assert get("koumbit_site_database_bytes", labels(0)) == 344064
    assert get("koumbit_site_database_bytes", labels(1)) == 0  # database without tables
    assert get("koumbit_site_database_bytes", {**labels(0), "site": "mysql"}) is None


def test_database_down_keeps_the_last_values(tmp_path: Path) -> None:
    answers = [RECORDED]

    def query() -> str:
        if not answers:
            raise DatabaseError("Can't connect to local server through socket")
        return answers.pop()

    collector = DatabaseCollector(make_config(tmp_path), query=query)
    collector.refresh()
    with pytest.raises(DatabaseError):
        collector.refresh()
    assert collector.snapshot[("web1", SITES[0][0], SITES[0][2])] == 344064


def test_garbage_is_an_error() -> None:
    with pytest.raises(DatabaseError, match="unexpected row"):
        parse_sizes("ERROR 2002 (HY000)\n")


def test_client_gets_credentials_from_a_file_never_the_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in client records its argv and prints the recorded rows."""
    seen = tmp_path / "argv"
    client = tmp_path / "mariadb"
    recorded = HERE / "mariadb-sizes-10.11.tsv"
    client.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {seen}\ncat {recorded}\n')
    client.chmod(client.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "creds").mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    assert parse_sizes(run_client(str(client), "mariadb.cnf", 5)) == parse_sizes(RECORDED)
    argv = seen.read_text().splitlines()
    assert argv[0] == f"--defaults-extra-file={tmp_path}/creds/mariadb.cnf"  # must come first
    assert argv[-1] == f"--execute={SIZES_QUERY}"
    assert not any("password" in a for a in argv)


def test_relative_defaults_without_systemd_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(DatabaseError, match="CREDENTIALS_DIRECTORY is not set"):
        database.defaults_file("mariadb.cnf")


def test_failing_client_is_a_database_error(tmp_path: Path) -> None:
    client = tmp_path / "mariadb"
    client.write_text("#!/bin/sh\necho 'ERROR 2002 (HY000): no socket' >&2\nexit 1\n")
    client.chmod(0o755)
    with pytest.raises(DatabaseError, match="exited 1: ERROR 2002"):
        run_client(str(client), str(tmp_path / "x.cnf"), 5)
    with pytest.raises(DatabaseError, match="No such file"):
        run_client(str(tmp_path / "absent"), str(tmp_path / "x.cnf"), 5)
