"""``lab recreate NAME``: one server's disk thrown away and made anew, the others untouched."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from koumbit_infra.lab import LabError, LabServer, LabStatus, ServerStatus, hosttools, lifecycle
from koumbit_infra.lab.paths import LabPaths

SERVERS = (LabServer("web1", IPv4Address("10.77.0.11")),
           LabServer("web2", IPv4Address("10.77.0.12")))


def _disk(paths: LabPaths, name: str) -> None:
    (paths.machine_dir(name) / "srv/sites").mkdir(parents=True)
    (paths.machine_dir(name) / "srv/sites/data").write_text("a client's file")
    paths.machine_marker(name).write_text("10.77.0.11\n")


def test_an_unknown_server_is_refused_before_the_root_check(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(hosttools.os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="no server web9 in the lab; its servers: web1, web2"):
        lifecycle.recreate(SERVERS, ["web9"], paths=LabPaths(tmp_path))
    with pytest.raises(LabError, match="needs root"):
        lifecycle.recreate(SERVERS, ["web1"], paths=LabPaths(tmp_path))


def test_only_the_named_disk_is_removed_then_the_lab_comes_up(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    paths = LabPaths(tmp_path / "lab")
    for name in ("web1", "web2"):
        _disk(paths, name)
    stopped: list[str] = []
    ups: list[tuple[LabServer, ...]] = []

    def fake_up(servers: tuple[LabServer, ...], **kwargs: object) -> LabStatus:
        # Called once the disk is gone: `up` then provisions it from the base.
        assert not paths.machine_dir("web1").exists()
        ups.append(tuple(servers))
        status = tuple(ServerStatus(s.name, s.address, True, 1, True, "running")
                       for s in servers)
        return LabStatus(status, ("web1: provisioned a new Debian 12 disk",))

    monkeypatch.setattr(lifecycle, "require_root", lambda: None)
    monkeypatch.setattr(lifecycle.nspawn, "stop",
                        lambda p, name: stopped.append(name) or True)
    monkeypatch.setattr(lifecycle, "up", fake_up)
    lab = lifecycle.recreate(SERVERS, ["web1"], paths=paths)
    assert stopped == ["web1"]
    assert ups == [SERVERS]
    assert (paths.machine_dir("web2") / "srv/sites/data").read_text() == "a client's file"
    assert paths.machine_marker("web2").is_file() and not paths.machine_marker("web1").exists()
    assert lab.changes == ("web1: stopped", "web1: disk removed",
                           "web1: provisioned a new Debian 12 disk")
