"""Booting and stopping servers with systemd-nspawn, detached from whoever asked."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from koumbit_infra.lab import cgroups
from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.hosttools import program
from koumbit_infra.lab.model import Progress, no_progress
from koumbit_infra.lab.network import BRIDGE, clear_stale_link
from koumbit_infra.lab.paths import LabPaths
from koumbit_infra.lab.procs import (
    PROC,
    cmdline,
    pid_alive,
    pids_rooted_at,
    read_pid,
    send,
    wait_gone,
)

# systemd-nspawn(1): on SIGTERM with --boot it sends this to the container's
# PID 1, which systemd takes as "poweroff": a clean shutdown.
CLEAN_STOP = signal.SIGTERM
STOP_TIMEOUT_S = 60.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]?|\x1b[()][A-Za-z0-9]|\r")

# The background subshell moves itself into the server's cgroups ("0" means
# the writer), then becomes nspawn through `setsid`, keeping its pid. The shell
# exits at once, so nspawn is orphaned (adopted by PID 1) and is never a child
# of `lab up` or of a test run, and in its own session a Ctrl-C in the caller's
# terminal does not reach it.
_LAUNCH = """log=$1; groups=$2; shift 2
{ for g in $groups; do echo 0 > "$g/cgroup.procs" || exit 1; done; exec setsid "$@"; } \
  </dev/null >"$log" 2>&1 &
echo $!"""


def nspawn_argv(machine_dir: Path, name: str) -> list[str]:
    # --register=no --keep-unit: the host has no systemd as PID 1 and no
    # system bus, which nspawn otherwise needs (LAB.md).
    return [
        "systemd-nspawn",
        "-D", str(machine_dir),
        "--boot",
        "--register=no",
        "--keep-unit",
        "-M", name,
        f"--network-bridge={BRIDGE}",
        "--link-journal=no",
        "--resolv-conf=off",
        "--console=read-only",
    ]


def leader_pid(paths: LabPaths, name: str) -> int | None:
    """Pid of the server's nspawn process if it runs; a stale or reused pid gives None."""
    pid = read_pid(paths.pid_file(name))
    if pid is None or not pid_alive(pid):
        return None
    argv = cmdline(pid)
    if not argv or os.path.basename(argv[0]) != "systemd-nspawn":
        return None
    if str(paths.machine_dir(name)) not in argv:
        return None
    return pid


def boot(paths: LabPaths, name: str, progress: Progress = no_progress) -> int:
    """Start the server in the background; return the nspawn pid (recorded in its pid file)."""
    machine_dir = paths.machine_dir(name)
    if pids_rooted_at(machine_dir):
        # A container whose nspawn was killed keeps running without it; a
        # second boot on the same disk would corrupt it, so shut it down first.
        stop(paths, name)
    removed = clear_stale_link(name)
    if removed:
        progress(removed)
    paths.console_dir.mkdir(parents=True, exist_ok=True)
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    argv = nspawn_argv(machine_dir, name)
    argv[0] = program("systemd-nspawn")
    console = paths.console_log(name)
    if console.exists():
        # Keep the previous boot's console (and its shutdown) for debugging.
        console.replace(console.with_suffix(".previous.log"))
    groups = " ".join(str(g) for g in cgroups.prepare(name))
    done = subprocess.run(
        ["/bin/sh", "-c", _LAUNCH, "sh", str(console), groups, *argv],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )
    pid_text = done.stdout.strip()
    if done.returncode != 0 or not pid_text.isdigit():
        raise LabError(f"{name}: could not launch systemd-nspawn: {done.stderr.strip()}")
    pid = int(pid_text)
    paths.pid_file(name).write_text(f"{pid}\n")
    # Between fork and exec the pid still shows the shell or setsid.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and pid_alive(pid) and leader_pid(paths, name) is None:
        time.sleep(0.02)
    return pid


def is_running(paths: LabPaths, name: str) -> bool:
    """Its nspawn runs, or a container left without its nspawn still runs on its disk."""
    if leader_pid(paths, name) is not None:
        return True
    machine_dir = paths.machine_dir(name)
    return machine_dir.exists() and bool(pids_rooted_at(machine_dir))


def stop(paths: LabPaths, name: str, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Shut the server down cleanly, kill what is left after ``timeout``; True if it ran."""
    machine_dir = paths.machine_dir(name)
    leader = leader_pid(paths, name)
    inside = pids_rooted_at(machine_dir) if machine_dir.exists() else []
    if leader is None and not inside:
        paths.pid_file(name).unlink(missing_ok=True)
        cgroups.remove(name)
        return False
    if leader is not None:
        send([leader], CLEAN_STOP)
        everyone = [leader, *inside]
    else:
        # nspawn is gone but the container runs on: send its systemd what
        # nspawn would have sent (halt.target, which ends a container).
        send(_container_inits(inside), signal.SIGRTMIN + 3)
        everyone = inside
    left = wait_gone(everyone, timeout)
    if left and leader is not None and leader in left:
        # systemd-nspawn(1): a second SIGTERM terminates the container at once.
        send([leader], signal.SIGTERM)
        left = wait_gone(left, 5)
    if left:
        send([*left, *pids_rooted_at(machine_dir)], signal.SIGKILL)
        left = wait_gone(left, 10)
    paths.pid_file(name).unlink(missing_ok=True)
    cgroups.remove(name)
    if left:
        raise LabError(f"{name}: processes {left} would not end, even with SIGKILL")
    return True


def _container_inits(pids: list[int]) -> list[int]:
    """The container's PID 1: the rooted process whose parent is outside the container."""
    inside = set(pids)
    inits = []
    for pid in pids:
        try:
            stat = (PROC / str(pid) / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid not in inside:
            inits.append(pid)
    return inits


def console_tail(paths: LabPaths, name: str, count: int = 15) -> str:
    """The last lines the server printed on its console, without terminal escapes."""
    try:
        text = paths.console_log(name).read_text(errors="replace")
    except OSError:
        return "(no console log)"
    return clean_console(text, count)


def clean_console(text: str, count: int) -> str:
    lines = [line.rstrip() for line in _ANSI.sub("", text).splitlines()]
    return "\n".join([line for line in lines if line.strip()][-count:])
