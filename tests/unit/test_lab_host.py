"""Before touching the host: root is required, missing tools are installed or named."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from koumbit_infra.lab import LabError, LabServer, hosttools, lifecycle, network
from koumbit_infra.lab.paths import LabPaths

WEB1 = LabServer("web1", IPv4Address("10.77.0.11"))


def test_not_root_is_a_clear_error_before_anything_is_touched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(hosttools.os, "geteuid", lambda: 1000)
    paths = LabPaths(tmp_path / "lab")
    for action in (lifecycle.up, lifecycle.down, lifecycle.status, lifecycle.destroy):
        with pytest.raises(LabError, match="needs root"):
            action([WEB1], paths=paths)
    assert not paths.root.exists()


def test_invalid_servers_are_refused_before_the_root_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(hosttools.os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="outside the lab network"):
        lifecycle.up([LabServer("web1", IPv4Address("192.0.2.10"))], paths=LabPaths(tmp_path))


def test_missing_tools_are_installed_with_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: set[str] = set()
    calls: list[list[str]] = []

    def which(name: str, path: str | None = None) -> str | None:
        if name in ("debootstrap", "systemd-nspawn") and "pkgs" not in installed:
            return None
        return f"/usr/bin/{name}"

    def run(argv: list[str], **kwargs: object) -> None:
        calls.append(argv)
        if "install" in argv:
            installed.add("pkgs")

    monkeypatch.setattr(hosttools.shutil, "which", which)
    monkeypatch.setattr(hosttools, "run", run)
    monkeypatch.setattr(hosttools, "REQUIRED_FILES", {})
    said: list[str] = []
    change = hosttools.ensure_host_tools(said.append)
    assert calls == [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "debootstrap",
         "systemd-container"],
    ]
    assert change == "installed host packages debootstrap systemd-container"
    assert said == ["installing host packages: debootstrap systemd-container"]


def test_without_apt_the_missing_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosttools.shutil, "which",
                        lambda name, path=None: None if name in ("apt-cacher-ng", "apt-get")
                        else f"/usr/bin/{name}")
    monkeypatch.setattr(hosttools, "REQUIRED_FILES", {})
    with pytest.raises(LabError, match="apt-cacher-ng"):
        hosttools.ensure_host_tools(lambda message: None)
    with pytest.raises(LabError, match="install the Debian package apt-cacher-ng"):
        hosttools.program("apt-cacher-ng")


def test_nothing_to_do_when_every_tool_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosttools.shutil, "which", lambda name, path=None: f"/usr/bin/{name}")
    monkeypatch.setattr(hosttools, "REQUIRED_FILES", {})
    assert hosttools.ensure_host_tools(lambda message: None) is None


def test_a_link_left_by_an_earlier_boot_is_removed_before_booting(tmp_path: Path) -> None:
    (tmp_path / "vb-mon1").write_text("")
    deleted: list[str] = []

    def delete(link: str) -> None:
        deleted.append(link)
        (tmp_path / link).unlink()

    note = network.clear_stale_link("mon1", sys_net=tmp_path, delete=delete)
    assert deleted == ["vb-mon1"]
    assert note == "mon1: removed the link vb-mon1 left by an earlier boot"


def test_no_link_means_nothing_is_deleted(tmp_path: Path) -> None:
    deleted: list[str] = []
    assert network.clear_stale_link("mon1", sys_net=tmp_path, delete=deleted.append) is None
    assert deleted == []


def test_a_link_that_will_not_go_stops_the_boot_and_says_how(tmp_path: Path) -> None:
    (tmp_path / "vb-mon1").write_text("")
    with pytest.raises(LabError, match=r"ip link del vb-mon1"):
        network.clear_stale_link("mon1", timeout=0.2, sys_net=tmp_path, delete=lambda _: None)


def test_a_name_nspawn_shortens_is_left_to_nspawn() -> None:
    assert network.container_link("web1") == "vb-web1"
    assert network.container_link("a-very-long-name") is None
