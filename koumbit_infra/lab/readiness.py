"""Telling whether a server is up: SSH answers and systemd finished booting."""

from __future__ import annotations

import time

from koumbit_infra.lab import nspawn
from koumbit_infra.lab.model import LabServer, ServerStatus
from koumbit_infra.lab.paths import LabPaths
from koumbit_infra.lab.ssh import ssh_answers, system_state


def wait_ready(paths: LabPaths, server: LabServer, deadline: float) -> tuple[ServerStatus, str]:
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


def probe(paths: LabPaths, server: LabServer) -> ServerStatus:
    pid = nspawn.leader_pid(paths, server.name)
    running = nspawn.is_running(paths, server.name)
    reachable = running and ssh_answers(server)
    state = system_state(server, paths) if reachable else None
    return ServerStatus(
        server.name, server.address, running, pid, reachable,
        state.state if state else None, state.failed_units if state else (),
    )
