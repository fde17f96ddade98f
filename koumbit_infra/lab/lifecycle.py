"""Bringing the lab up, asking how it is, stopping it and throwing it away."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from koumbit_infra.lab import (
    cache,
    cgroups,
    image,
    keys,
    machines,
    network,
    nspawn,
    pebble,
    readiness,
    sources,
    wordpress,
)
from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.hosttools import ensure_host_tools, require_root
from koumbit_infra.lab.mirror import HostMirrors, host_mirrors
from koumbit_infra.lab.model import LabServer, LabStatus, Progress, ServerStatus, no_progress
from koumbit_infra.lab.paths import LabPaths, lab_paths
from koumbit_infra.releases import RELEASES, Debian

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
        mirrors = _prepare_host(paths, changes, progress)
        _prepare_disks(paths, servers, mirrors, changes, progress)
        to_boot = [s for s in servers if nspawn.leader_pid(paths, s.name) is None]
        for server in to_boot:
            progress(f"{server.name}: booting")
            pid = nspawn.boot(paths, server.name, progress)
            changes.append(f"{server.name}: booted (nspawn pid {pid})")
        if to_boot:
            progress(f"waiting for {', '.join(s.name for s in to_boot)} to boot and answer SSH")
        deadline = time.monotonic() + boot_timeout
        results = _parallel(lambda s: readiness.wait_ready(paths, s, deadline), servers)
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
    return LabStatus(tuple(_parallel(lambda s: readiness.probe(paths, s), servers)),
                     elapsed_s=time.monotonic() - started)


def down(
    servers: Sequence[LabServer],
    *,
    progress: Progress = no_progress,
    paths: LabPaths | None = None,
) -> LabStatus:
    """Shut the servers down cleanly and keep their disks.

    When no lab server is left running, the apt proxy and Pebble are stopped too, so no
    lab process remains on the host.
    """
    started = time.monotonic()
    servers = tuple(servers)
    network.validate_servers(servers)
    require_root()
    paths = paths or lab_paths()
    with _lock(paths, progress):
        changes = _stop_all(paths, [s.name for s in servers], progress)
        if not _running_machines(paths):
            if cache.stop_apt_proxy(paths):
                changes.append("stopped apt-cacher-ng")
            changes += pebble.stop_acme(pebble.PebbleFiles(paths.pebble_dir))
            changes += sources.stop_sources(sources.SourcesFiles(paths.sources_dir))
    statuses = tuple(readiness.probe(paths, s) for s in servers)
    return LabStatus(statuses, tuple(changes), elapsed_s=time.monotonic() - started)


def destroy(
    servers: Sequence[LabServer],
    *,
    purge: bool = False,
    progress: Progress = no_progress,
    paths: LabPaths | None = None,
) -> LabStatus:
    """Stop everything and remove the servers' disks, the bridge, the proxy and Pebble's
    roots.

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
        names = sorted({s.name for s in servers} | set(machines.machine_names(paths)))
        changes += _stop_all(paths, names, progress)
        if cache.stop_apt_proxy(paths):
            changes.append("stopped apt-cacher-ng")
        acme = pebble.PebbleFiles(paths.pebble_dir)
        changes += pebble.stop_acme(acme)
        changes += sources.stop_sources(sources.SourcesFiles(paths.sources_dir))
        # The servers that trusted Pebble's roots are gone; its API's CA is kept.
        if pebble.forget_roots(acme):
            changes.append(f"removed {acme.trust}")
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
    bases = ", ".join(str(paths.base_dir(d)) for d in Debian if paths.base_dir(d).exists())
    notes = () if purge else (
        f"kept the base images ({bases or 'none built yet'}) and the apt cache"
        f" ({paths.apt_cache_dir}) so the next `lab up` is quick; `lab destroy --purge`"
        " removes them",
    )
    statuses = tuple(
        ServerStatus(s.name, s.address, False, None, False, None) for s in servers
    )
    return LabStatus(statuses, tuple(changes), notes=notes, elapsed_s=time.monotonic() - started)


def recreate(
    servers: Sequence[LabServer],
    names: Sequence[str],
    *,
    progress: Progress = no_progress,
    boot_timeout: float = BOOT_TIMEOUT_S,
    paths: LabPaths | None = None,
) -> LabStatus:
    """Servers ``names`` thrown away and made anew from the empty base, then the lab up.

    What a lost server re-installed empty is: a fresh Debian with the lab's key for
    root, new host keys (known_hosts is rewritten), none of its files. The others
    are left as they are.
    """
    started = time.monotonic()
    servers = tuple(servers)
    network.validate_servers(servers)
    known = {s.name for s in servers}
    unknown = sorted(set(names) - known)
    if unknown or not names:
        raise LabError(f"no server {', '.join(unknown) or '(none given)'} in the lab;"
                       f" its servers: {', '.join(sorted(known))}")
    require_root()
    paths = paths or lab_paths()
    changes: list[str] = []
    with _lock(paths, progress):
        for name in names:
            progress(f"{name}: stopping it and throwing its disk away")
            if nspawn.stop(paths, name):
                changes.append(f"{name}: stopped")
            machines.remove_machine(paths, name)
            changes.append(f"{name}: disk removed")
    lab = up(servers, progress=progress, boot_timeout=boot_timeout, paths=paths)
    return LabStatus(lab.servers, (*changes, *lab.changes), lab.warnings,
                     time.monotonic() - started, lab.notes)


def _prepare_host(paths: LabPaths, changes: list[str], progress: Progress) -> HostMirrors:
    """Host tools, the lab key, the bridge, the apt proxy, Pebble and the code sources;
    returns the host's mirrors."""
    _add(changes, ensure_host_tools(progress))
    _make_dirs(paths)
    _add(changes, keys.ensure_ssh_key(paths))
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
    acme = pebble.PebbleFiles(paths.pebble_dir)
    changes += pebble.ensure_acme(acme)
    # The sites' code (settings.codebases of the lab inventory), behind the lab's CA;
    # WordPress is built once from Debian's packages, through the apt proxy.
    code = sources.SourcesFiles(paths.sources_dir)
    changes += sources.ensure_sources(code, acme)
    changes += wordpress.ensure_wordpress(code.wordpress, network.APT_PROXY_URL)
    return mirrors


def _prepare_disks(
    paths: LabPaths,
    servers: Sequence[LabServer],
    mirrors: HostMirrors,
    changes: list[str],
    progress: Progress,
) -> None:
    """A provisioned disk per server from its release's base (built first if needed),
    and known_hosts. A disk of another release than the inventory's is made anew."""
    fresh = [s for s in servers if needs_disk(paths, s)]
    if fresh:
        for debian in sorted({s.debian for s in fresh}):
            _add(changes, image.ensure_base(paths, mirrors, progress, RELEASES[debian]))
        key = paths.ssh_public_key.read_text()

        def build(server: LabServer) -> None:
            progress(f"{server.name}: creating its disk from the base image")
            nspawn.stop(paths, server.name)
            machines.provision(paths, server, key)

        _parallel(build, fresh)
        changes.extend(f"{s.name}: provisioned a new Debian {s.debian.value} disk"
                       for s in fresh)
    for server in servers:
        if machines.provisioned_address(paths, server.name) != str(server.address):
            nspawn.stop(paths, server.name)
            machines.readdress(paths, server)
            changes.append(f"{server.name}: address changed to {server.address}")
    _add(changes, keys.write_known_hosts(paths))


def needs_disk(paths: LabPaths, server: LabServer) -> bool:
    """No complete disk yet, or one of another Debian release than the server's.

    A disk whose release cannot be read is kept: only a known other release is
    remade (its server's files are then lost, as with a new server).
    """
    if not machines.machine_ready(paths, server.name):
        return True
    found = machines.provisioned_release(paths, server.name)
    return found is not None and found != server.debian.value


def _stop_all(paths: LabPaths, names: Sequence[str], progress: Progress) -> list[str]:
    def stop_one(name: str) -> str | None:
        if nspawn.leader_pid(paths, name) is not None:
            progress(f"{name}: shutting down")
        return f"{name}: stopped" if nspawn.stop(paths, name) else None

    return [change for change in _parallel(stop_one, names) if change]


def _running_machines(paths: LabPaths) -> list[str]:
    return [n for n in machines.machine_names(paths) if nspawn.is_running(paths, n)]


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
