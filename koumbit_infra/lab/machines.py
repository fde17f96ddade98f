"""Each server's disk: a copy of the base given its own identity."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from ipaddress import IPv4Address
from pathlib import Path

from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.hosttools import program
from koumbit_infra.lab.model import LabServer
from koumbit_infra.lab.network import render_network_file
from koumbit_infra.lab.paths import LabPaths
from koumbit_infra.lab.procs import pids_rooted_at, run

HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")
NETWORK_FILE = "etc/systemd/network/10-koumbit-lab.network"


def machine_ready(paths: LabPaths, name: str) -> bool:
    return paths.machine_dir(name).is_dir() and paths.machine_marker(name).is_file()


def machine_names(paths: LabPaths) -> list[str]:
    if not paths.machines_dir.is_dir():
        return []
    return sorted(p.name for p in paths.machines_dir.iterdir() if p.is_dir())


def provisioned_release(paths: LabPaths, name: str) -> int | None:
    """The Debian release a server's disk holds (``VERSION_ID`` of its os-release)."""
    os_release = paths.machine_dir(name) / "etc/os-release"
    if os_release.is_symlink():  # usr-merged: ../usr/lib/os-release, read inside the disk
        os_release = paths.machine_dir(name) / "usr/lib/os-release"
    return release_number(os_release.read_text()) if os_release.is_file() else None


def release_number(os_release: str) -> int | None:
    """``VERSION_ID`` of an os-release text, as a number (None when absent)."""
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "VERSION_ID" and value.strip().strip('"').isdigit():
            return int(value.strip().strip('"'))
    return None


def provisioned_address(paths: LabPaths, name: str) -> str:
    marker = paths.machine_marker(name)
    return marker.read_text().strip() if marker.is_file() else ""


def remove_machine(paths: LabPaths, name: str) -> None:
    target = paths.machine_dir(name)
    paths.machine_marker(name).unlink(missing_ok=True)
    if not target.exists():
        return
    if pids_rooted_at(target):
        raise LabError(f"{name}: processes still run inside {target}; run `lab down` first")
    shutil.rmtree(target)


def provision(paths: LabPaths, server: LabServer, authorized_key: str) -> None:
    """Copy the base and make it ``server``; the marker is written only once all succeeded."""
    remove_machine(paths, server.name)
    paths.machines_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = paths.machine_dir(server.name)
    # --reflink=auto shares blocks on btrfs/xfs and falls back to a plain copy (ext4 here).
    base = paths.base_dir(server.debian)
    run([program("cp"), "-a", "--reflink=auto", str(base), str(target)],
        what=f"{server.name}: copying the Debian {server.debian.value} base image")
    give_identity(target, server, authorized_key)
    paths.machine_marker(server.name).write_text(f"{server.address}\n")


def give_identity(root: Path, server: LabServer, authorized_key: str) -> None:
    """Everything that must differ between servers, written into a fresh copy."""
    (root / "etc/hostname").write_text(f"{server.name}\n")
    (root / "etc/hosts").write_text(render_hosts(server.name))
    (root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    write_network_file(root, server.address)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(authorized_key.strip() + "\n")
    keys.chmod(0o600)
    for key_type in HOST_KEY_TYPES:
        key = root / f"etc/ssh/ssh_host_{key_type}_key"
        run([program("ssh-keygen"), "-q", "-t", key_type, "-N", "", "-C", f"root@{server.name}",
             "-f", str(key)], what=f"{server.name}: generating its {key_type} host key")


def write_network_file(root: Path, address: IPv4Address) -> None:
    target = root / NETWORK_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_network_file(address))


def readdress(paths: LabPaths, server: LabServer) -> None:
    """Point an existing disk at a new address (the inventory changed it)."""
    write_network_file(paths.machine_dir(server.name), server.address)
    paths.machine_marker(server.name).write_text(f"{server.address}\n")


def render_hosts(name: str) -> str:
    return (
        "127.0.0.1\tlocalhost\n"
        f"127.0.1.1\t{name}\n"
        "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
    )


def host_public_keys(root: Path) -> list[str]:
    keys = []
    for key_type in HOST_KEY_TYPES:
        pub = root / f"etc/ssh/ssh_host_{key_type}_key.pub"
        if pub.is_file():
            keys.append(pub.read_text().strip())
    return keys


def known_hosts_line(address: IPv4Address, public_key: str) -> str:
    """``ADDRESS TYPE BASE64`` from a ``.pub`` line (its comment dropped)."""
    parts = public_key.split()
    if len(parts) < 2:
        raise LabError(f"unreadable host public key for {address}: {public_key!r}")
    return f"{address} {parts[0]} {parts[1]}"


def render_known_hosts(entries: Sequence[tuple[IPv4Address, Sequence[str]]]) -> str:
    """known_hosts for every server, sorted by address so the file is stable."""
    lines = [
        known_hosts_line(address, key)
        for address, keys in sorted(entries, key=lambda e: e[0])
        for key in keys
    ]
    return "".join(f"{line}\n" for line in lines)
