"""Reaching lab servers over SSH with the lab's key and pinned host keys."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from koumbit_infra.lab.model import LabServer
from koumbit_infra.lab.paths import LabPaths, lab_paths

SSH_PORT = 22
_SEPARATOR = "--- failed units ---"


def ssh_argv(
    server: LabServer, *, paths: LabPaths | None = None, command: Sequence[str] = ()
) -> list[str]:
    """``ssh`` as root to a lab server: the lab key only, its host key checked strictly."""
    paths = paths or lab_paths()
    return [
        "ssh",
        # No user or system ssh_config: the lab behaves the same for everyone.
        "-F", "/dev/null",
        "-i", str(paths.ssh_key),
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={paths.known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=5",
        "-o", "LogLevel=ERROR",
        f"root@{server.address}",
        *command,
    ]


def ssh_answers(server: LabServer, timeout: float = 1.0) -> bool:
    """sshd greets on port 22 (cheaper than a login; used by the fast path of `up`)."""
    try:
        with socket.create_connection((str(server.address), SSH_PORT), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def remote(
    server: LabServer, paths: LabPaths, command: str, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run a shell command on the server; never raises for a failing command or timeout."""
    argv = ssh_argv(server, paths=paths, command=[command])
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        return subprocess.CompletedProcess(argv, 124, out, f"timed out after {timeout:.0f} s")


@dataclass(frozen=True)
class SystemState:
    """What systemd inside a server says; ``state`` is None when SSH itself failed."""

    state: str | None
    failed_units: tuple[str, ...]
    error: str = ""


def system_state_command(wait: bool) -> str:
    flag = " --wait" if wait else ""
    return (f"systemctl is-system-running{flag}; echo '{_SEPARATOR}'; "
            "systemctl list-units --failed --no-legend --plain")


def parse_system_state(output: str) -> SystemState:
    """Parse the output of :func:`system_state_command`."""
    head, _, failed = output.partition(_SEPARATOR)
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    units = tuple(line.split()[0] for line in failed.splitlines() if line.strip())
    return SystemState(lines[-1] if lines else None, units)


def system_state(
    server: LabServer, paths: LabPaths, *, wait: bool = False, timeout: float = 15.0
) -> SystemState:
    """`systemctl is-system-running` (``--wait``: until boot finished) and the failed units."""
    done = remote(server, paths, system_state_command(wait), timeout=timeout)
    # ssh exits 255 for its own errors; other codes are the remote command's.
    if done.returncode in (124, 255):
        return SystemState(None, (), done.stderr.strip() or "ssh failed")
    return parse_system_state(done.stdout)
