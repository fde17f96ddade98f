"""Before touching the host: root is required, missing tools are installed or named."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from koumbit_infra.lab import LabError, LabServer, hosttools, lifecycle
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
