"""Per Unix user from /proc: CPU time kept as a counter across process churn, and the
memory its live processes hold privately."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def read_uid(proc: Path, pid: str) -> int | None:
    """Effective uid of a process, or None if it exited (from ``status``: fixtures can set it)."""
    try:
        with open(proc / pid / "status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Uid:"):
                    return int(line.split()[2])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def read_times(proc: Path, pid: str) -> tuple[int, int] | None:
    """(start time, utime + stime) in clock ticks, or None if the process exited."""
    try:
        raw = (proc / pid / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = raw[raw.rindex(b")") + 2 :].split()
    # rest[0] is field 3 (state); utime, stime and starttime are fields 14, 15 and 22.
    return int(rest[19]), int(rest[11]) + int(rest[12])


def read_private_bytes(proc: Path, pid: str) -> int | None:
    """Resident memory not shared with other processes (``statm``: resident - shared pages).

    Shared pages (libraries, PHP's opcache, the FPM master's copy-on-write
    pages) belong to no site alone; what is left is the process's own.
    """
    try:
        fields = (proc / pid / "statm").read_bytes().split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return max(0, int(fields[1]) - int(fields[2])) * PAGE_SIZE


@dataclass
class UserCpu:
    """Per-uid CPU counters built from per-process deltas, and private memory right now.

    Each refresh adds, per live process of a watched uid, the ticks it used
    since it was last seen (all of them when first seen). A process is keyed
    by (pid, start time), so a recycled pid is a new process. What a process
    uses between its last sample and its exit is lost, and a process that
    starts and ends between two refreshes is never seen at all. Memory is a
    gauge: the sum over the uid's live processes at the refresh.
    """

    proc_root: Path
    ticks: dict[int, int] = field(default_factory=dict)
    private_bytes: dict[int, int] = field(default_factory=dict)
    _seen: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)

    def refresh(self, watched: set[int]) -> None:
        seen: dict[tuple[str, int], tuple[int, int]] = {}
        ticks = dict(self.ticks)
        memory = dict.fromkeys(watched, 0)
        for pid in os.listdir(self.proc_root):
            if not pid.isdigit():
                continue
            uid = read_uid(self.proc_root, pid)
            if uid is None or uid not in watched:
                continue
            times = read_times(self.proc_root, pid)
            if times is None:
                continue
            start, used = times
            key = (pid, start)
            previous_uid, previous = self._seen.get(key, (uid, 0))
            if previous_uid != uid:
                previous = 0  # changed user (setuid after fork): count from here for the new one
            ticks[uid] = ticks.get(uid, 0) + max(0, used - previous)
            seen[key] = (uid, used)
            memory[uid] += read_private_bytes(self.proc_root, pid) or 0
        self._seen = seen  # processes that exited are forgotten with their last value
        self.ticks = ticks
        self.private_bytes = memory

    def seconds(self, uid: int) -> float:
        return self.ticks.get(uid, 0) / CLOCK_TICKS

    def memory(self, uid: int) -> int:
        return self.private_bytes.get(uid, 0)
