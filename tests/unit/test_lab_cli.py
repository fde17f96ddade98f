"""`koumbit-infra lab`: help, exit status 3 with the message for lab failures."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from click.testing import CliRunner

from koumbit_infra.cli import main
from koumbit_infra.lab import LabError, LabServer, LabStatus, ServerStatus, lifecycle
from koumbit_infra.lab.cli import render_table


def test_every_lab_command_has_help() -> None:
    runner = CliRunner()
    group = runner.invoke(main, ["lab", "--help"])
    assert group.exit_code == 0
    assert "3 lab failure" in group.output
    for command in ("up", "status", "down", "destroy", "ssh"):
        result = runner.invoke(main, ["lab", command, "--help"])
        assert result.exit_code == 0, result.output
        assert "--env" in result.output
    assert "--purge" in runner.invoke(main, ["lab", "destroy", "--help"]).output
    assert "--json" in runner.invoke(main, ["lab", "status", "--help"]).output


def test_lab_error_is_a_message_and_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(servers: object, **kwargs: object) -> LabStatus:
        raise LabError("the lab needs root: run it with sudo")

    monkeypatch.setattr(lifecycle, "up", refuse)
    result = CliRunner().invoke(main, ["lab", "up"])
    assert result.exit_code == 3
    assert "lab: error: the lab needs root" in result.output
    assert "Traceback" not in result.output


def test_status_json(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_status(servers: tuple[LabServer, ...], **kwargs: object) -> LabStatus:
        seen.extend(s.name for s in servers)
        return LabStatus(tuple(ServerStatus(s.name, s.address, False, None, False, None)
                               for s in servers))

    monkeypatch.setattr(lifecycle, "status", fake_status)
    result = CliRunner().invoke(main, ["lab", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert '"ready": false' in result.output
    assert seen == ["web1", "web2", "backup1", "mon1"]


def test_ssh_to_an_unknown_server_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["lab", "ssh", "nosuch"])
    assert result.exit_code == 2
    assert "web1" in result.output


def test_table_columns_are_aligned_and_stable() -> None:
    lab = LabStatus((
        ServerStatus("web1", IPv4Address("10.77.0.11"), True, 1, True, "running"),
        ServerStatus("backup1", IPv4Address("10.77.0.21"), False, None, False, None),
    ))
    assert render_table(lab).splitlines() == [
        "NAME     ADDRESS     RUNNING  SSH  SYSTEM",
        "web1     10.77.0.11  yes      yes  running",
        "backup1  10.77.0.21  no       no   -",
    ]
