"""Host processes: running commands, and finding or ending the lab's own processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from koumbit_infra.lab.errors import LabError

PROC = Path("/proc")


def run(
    argv: Sequence[str],
    *,
    what: str,
    timeout: float = 120.0,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; on failure raise LabError saying what was attempted."""
    full_env = {**os.environ, **env} if env else None
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, env=full_env,
            stdin=subprocess.DEVNULL, check=False,
        )
    except FileNotFoundError as exc:
        raise LabError(f"{what}: {argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what}: `{' '.join(argv)}` did not finish in {timeout:.0f} s") from exc
    if done.returncode != 0:
        detail = tail_lines((done.stderr or done.stdout).strip(), 15)
        raise LabError(f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n{detail}")
    return done


def tail_lines(text: str, count: int) -> str:
    return "\n".join(text.splitlines()[-count:])


def pid_alive(pid: int) -> bool:
    """True for a live process; a zombie counts as dead.

    On this host PID 1 is not an init that reaps promptly, so an ended
    daemon can linger as a zombie and ``kill(pid, 0)`` alone would lie.
    """
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may itself hold ')'.
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*/children"):
        try:
            found.extend(int(x) for x in task.read_text().split())
        except OSError:
            continue
    return found


def pids_rooted_at(directory: Path) -> list[int]:
    """Processes whose root directory is ``directory``: everything running in a container.

    Compared by device and inode: inside nspawn's mount namespace the
    ``/proc/PID/root`` link reads "/", but stat() follows it to the real directory.
    """
    try:
        wanted = directory.stat()
    except OSError:
        return []
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            root = (entry / "root").stat()
        except OSError:
            continue
        if (root.st_dev, root.st_ino) == (wanted.st_dev, wanted.st_ino) \
                and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until the processes end; return those still alive at the deadline."""
    waiting = list(pids)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        waiting = [pid for pid in waiting if pid_alive(pid)]
        if waiting:
            time.sleep(0.1)
    return [pid for pid in waiting if pid_alive(pid)]


def send(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue


def end(pid: int, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``grace`` seconds."""
    send([pid], signal.SIGTERM)
    if wait_gone([pid], grace):
        send([pid], signal.SIGKILL)
        wait_gone([pid], 5)
