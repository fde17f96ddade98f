"""The lab's SSH identity: its own key pair, and the pinned host keys of its servers."""

from __future__ import annotations

from ipaddress import IPv4Address

from koumbit_infra.lab import machines
from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.hosttools import program
from koumbit_infra.lab.paths import LabPaths
from koumbit_infra.lab.procs import run


def ensure_ssh_key(paths: LabPaths) -> str | None:
    """The lab's ed25519 key pair, generated once and kept across destroys."""
    if paths.ssh_key.is_file() and paths.ssh_public_key.is_file():
        return None
    if paths.ssh_key.is_file():
        public = run([program("ssh-keygen"), "-y", "-f", str(paths.ssh_key)],
                     what="reading the lab SSH key").stdout
        paths.ssh_public_key.write_text(public)
        return f"restored {paths.ssh_public_key}"
    run([program("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "koumbit-lab",
         "-f", str(paths.ssh_key)], what="generating the lab SSH key")
    return f"generated the lab SSH key {paths.ssh_key}"


def write_known_hosts(paths: LabPaths) -> str | None:
    """known_hosts pinning the host keys of every provisioned server.

    Every server on disk, not only those of this call, so an `up` of a subset
    never drops a key someone else relies on.
    """
    entries = []
    for name in machines.machine_names(paths):
        address = machines.provisioned_address(paths, name)
        if not address:
            continue
        keys = machines.host_public_keys(paths.machine_dir(name))
        if not keys:
            raise LabError(f"{name}: its disk has no SSH host key; `lab destroy` it")
        entries.append((IPv4Address(address), keys))
    content = machines.render_known_hosts(entries)
    target = paths.known_hosts
    if target.is_file() and target.read_text() == content:
        return None
    partial = target.with_suffix(".partial")
    partial.write_text(content)
    partial.chmod(0o644)
    partial.rename(target)
    return f"wrote {target}"
