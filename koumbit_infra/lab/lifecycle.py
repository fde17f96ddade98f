"""Bringing the lab up, asking how it is, stopping it and throwing it away."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from ipaddress import IPv4Address
from typing import TypeVar

from koumbit_infra.lab import cache, cgroups, image, machines, network, nspawn
from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.hosttools import ensure_host_tools, program, require_root
from koumbit_infra.lab.mirror import host_mirrors
from koumbit_infra.lab.model import LabServer, LabStatus, Progress, ServerStatus, no_progress
from koumbit_infra.lab.paths import LabPaths, lab_paths
from koumbit_infra.lab.procs import run
from koumbit_infra.lab.ssh import ssh_answers, system_state

BOOT_TIMEOUT_S = 180.0
T = TypeVar("T")
R = TypeVar("R")


def up(
    servers: Sequence[LabServer],
    *,
    progress: Progress = no_progress,
    boot_timeout: float = BOOT_TIMEOUT_S,
    paths: LabPaths | None = None,
) -> LabStatus:
    """Make every server run and answer SSH, building or repairing whatever is missing.

    With everything already up this changes nothing and returns in well under a second.
    """
    started = time.monotonic()
    servers = tuple(servers)
    network.validate_servers(servers)
    require_root()
    paths = paths or lab_paths()
    changes: list[str] = []
    with _lock(paths, progress):
        _add(changes, ensure_host_tools(progress))
        _make_dirs(paths)
        _add(changes, _ensure_ssh_key(paths))
        had_bridge = network.bridge_exists()
        _add(changes, network.ensure_bridge())
        if not had_bridge:
            # Links of running servers went away with the old bridge; only a
            # reboot gives them new ones (their disks are untouched).
            for name in _running_machines(paths):
                progress(f"{name}: restarting, the lab bridge was missing")
                nspawn.stop(paths, name)
                changes.append(f"{name}: stopped to reattach it to the new bridge")
        mirrors = host_mirrors()
        _add(changes, cache.ensure_apt_proxy(paths, mirrors))
        fresh = [s for s in servers if not machines.machine_ready(paths, s.name)]
        if fresh:
            _add(changes, image.ensure_base(paths, mirrors, progress))
            key = paths.ssh_public_key.read_text()

            def build(server: LabServer) -> None:
                progress(f"{server.name}: creating its disk from the base image")
                nspawn.stop(paths, server.name)
                machines.provision(paths, server, key)

            _parallel(build, fresh)
            changes.extend(f"{s.name}: provisioned a new disk" for s in fresh)
        for server in servers:
            if machines.provisioned_address(paths, server.name) != str(server.address):
                nspawn.stop(paths, server.name)
                machines.readdress(paths, server)
                changes.append(f"{server.name}: address changed to {server.address}")
        _add(changes, _write_known_hosts(paths))
        to_boot = [s for s in servers if nspawn.leader_pid(paths, s.name) is None]
        for server in to_boot:
            progress(f"{server.name}: booting")
            pid = nspawn.boot(paths, server.name)
            changes.append(f"{server.name}: booted (nspawn pid {pid})")
        if to_boot:
            progress(f"waiting for {', '.join(s.name for s in to_boot)} to boot and answer SSH")
        deadline = time.monotonic() + boot_timeout
        results = _parallel(lambda s: _wait_ready(paths, s, deadline), servers)
        network.quiet_bridge_ports()
    failures = [message for _, message in results if message]
    if failures:
        raise LabError("the lab did not come up:\n" + "\n".join(failures))
    statuses = tuple(status for status, _ in results)
    warnings = tuple(
        f"{s.name} is degraded; failed units: {', '.join(s.failed_units) or '(none listed)'}"
        for s in statuses if s.system_state == "degraded"
    )
    for warning in warnings:
        progress(f"warning: {warning}")
    return LabStatus(statuses, tuple(changes), warnings, time.monotonic() - started)


def status(servers: Sequence[LabServer], *, paths: LabPaths | None = None) -> LabStatus:
    """Each server's state as seen now; changes nothing."""
    started = time.monotonic()
    servers = tuple(servers)
    network.validate_servers(servers)
    require_root()
    paths = paths or lab_paths()
    return LabStatus(tuple(_parallel(lambda s: _probe(paths, s), servers)),
                     elapsed_s=time.monotonic() - started)


def down(
    servers: Sequence[LabServer],
    *,
    progress: Progress = no_progress,
    paths: LabPaths | None = None,
) -> LabStatus:
    """Shut the servers down cleanly and keep their disks.

    When no lab server is left running, the apt proxy is stopped too, so no lab
    process remains on the host.
    """
    started = time.monotonic()
    servers = tuple(servers)
    network.validate_servers(servers)
    require_root()
    paths = paths or lab_paths()
    with _lock(paths, progress):
        changes = _stop_all(paths, [s.name for s in servers], progress)
        if not _running_machines(paths) and cache.stop_apt_proxy(paths):
            changes.append("stopped apt-cacher-ng")
    statuses = tuple(_probe(paths, s) for s in servers)
    return LabStatus(statuses, tuple(changes), elapsed_s=time.monotonic() - started)


def destroy(
    servers: Sequence[LabServer],
    *,
    purge: bool = False,
    progress: Progress = no_progress,
    paths: LabPaths | None = None,
) -> LabStatus:
    """Stop everything and remove the servers' disks, the bridge and the proxy.

    The base image and the apt cache are kept so the next `up` is quick;
    ``purge=True`` removes them too (the whole state root).
    """
    started = time.monotonic()
    servers = tuple(servers)
    network.validate_servers(servers)
    require_root()
    paths = paths or lab_paths()
    changes: list[str] = []
    with _lock(paths, progress):
        # Also machines of servers no longer in the inventory: destroy means all of it.
        names = sorted({s.name for s in servers} | set(_machine_names(paths)))
        changes += _stop_all(paths, names, progress)
        if cache.stop_apt_proxy(paths):
            changes.append("stopped apt-cacher-ng")
        for name in names:
            machines.remove_machine(paths, name)
        cgroups.remove_all()
        for path in (paths.machines_dir, paths.run_dir, paths.console_dir):
            if path.exists():
                shutil.rmtree(path)
                changes.append(f"removed {path}")
        paths.known_hosts.unlink(missing_ok=True)
        if network.remove_bridge():
            changes.append(f"removed bridge {network.BRIDGE}")
        if purge and paths.root.exists():
            shutil.rmtree(paths.root)
            changes.append(f"purged {paths.root} (base image, apt cache, lab SSH key)")
    notes = () if purge else (
        f"kept the base image ({paths.base_dir}) and the apt cache ({paths.apt_cache_dir}) "
        "so the next `lab up` is quick; `lab destroy --purge` removes them",
    )
    statuses = tuple(
        ServerStatus(s.name, s.address, False, None, False, None) for s in servers
    )
    return LabStatus(statuses, tuple(changes), notes=notes, elapsed_s=time.monotonic() - started)


def _wait_ready(paths: LabPaths, server: LabServer, deadline: float) -> tuple[ServerStatus, str]:
    """Wait for SSH then for systemd to finish booting; the message is empty on success."""
    while not ssh_answers(server):
        if nspawn.leader_pid(paths, server.name) is None:
            return _failed(paths, server, "systemd-nspawn exited")
        if time.monotonic() > deadline:
            return _failed(paths, server, "SSH did not answer in time")
        time.sleep(0.25)
    while True:
        state = system_state(server, paths, wait=True,
                             timeout=max(5.0, deadline - time.monotonic()))
        if state.state is not None:
            break
        if "Host key verification failed" in state.error:
            return _failed(paths, server, f"its host key is not the one in {paths.known_hosts}")
        if time.monotonic() > deadline:
            return _failed(paths, server, f"SSH login failed: {state.error}")
        time.sleep(0.5)
    result = ServerStatus(server.name, server.address, True, nspawn.leader_pid(paths, server.name),
                          True, state.state, state.failed_units)
    if state.state in ("running", "degraded"):
        return result, ""
    units = f" (failed units: {', '.join(state.failed_units)})" if state.failed_units else ""
    return _failed(paths, server, f"systemd says {state.state!r}{units}", result)


def _failed(
    paths: LabPaths, server: LabServer, reason: str, result: ServerStatus | None = None
) -> tuple[ServerStatus, str]:
    tail = nspawn.console_tail(paths, server.name).replace("\n", "\n    ")
    message = (f"  {server.name} ({server.address}): {reason}; last console lines "
               f"({paths.console_log(server.name)}):\n    {tail}")
    if result is None:
        pid = nspawn.leader_pid(paths, server.name)
        result = ServerStatus(server.name, server.address, pid is not None, pid, False, None)
    return result, message


def _probe(paths: LabPaths, server: LabServer) -> ServerStatus:
    pid = nspawn.leader_pid(paths, server.name)
    running = nspawn.is_running(paths, server.name)
    reachable = running and ssh_answers(server)
    state = system_state(server, paths) if reachable else None
    return ServerStatus(
        server.name, server.address, running, pid, reachable,
        state.state if state else None, state.failed_units if state else (),
    )


def _stop_all(paths: LabPaths, names: Sequence[str], progress: Progress) -> list[str]:
    def stop_one(name: str) -> str | None:
        if nspawn.leader_pid(paths, name) is not None:
            progress(f"{name}: shutting down")
        return f"{name}: stopped" if nspawn.stop(paths, name) else None

    return [change for change in _parallel(stop_one, names) if change]


def _machine_names(paths: LabPaths) -> list[str]:
    if not paths.machines_dir.is_dir():
        return []
    return sorted(p.name for p in paths.machines_dir.iterdir() if p.is_dir())


def _running_machines(paths: LabPaths) -> list[str]:
    return [n for n in _machine_names(paths) if nspawn.is_running(paths, n)]


def _ensure_ssh_key(paths: LabPaths) -> str | None:
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


def _write_known_hosts(paths: LabPaths) -> str | None:
    """Pin the host keys of every provisioned server, not only those of this call,
    so `up` of a subset never drops a key someone else relies on."""
    entries = []
    for name in _machine_names(paths):
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


def _make_dirs(paths: LabPaths) -> None:
    paths.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    for private in (paths.ssh_dir, paths.machines_dir):
        private.mkdir(mode=0o700, exist_ok=True)
    for public in (paths.run_dir, paths.console_dir):
        public.mkdir(exist_ok=True)


@contextmanager
def _lock(paths: LabPaths, progress: Progress) -> Iterator[None]:
    """One lab command at a time (a test session and a person may both run `up`)."""
    paths.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("waiting for another lab command to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _parallel(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(fn, items))


def _add(changes: list[str], change: str | None) -> None:
    if change:
        changes.append(change)
