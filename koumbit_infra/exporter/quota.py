"""Disk used per user or project, from the filesystem's quota accounting (repquota)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

QUOTA_BLOCK = 1024  # repquota reports usage in 1 KiB blocks without -s


class QuotaError(Exception):
    """repquota could not report."""


def parse_repquota(output: str) -> dict[int, int]:
    """Bytes used per numeric id, from ``repquota -n`` rows such as ``#1001 -- 2048 ...``."""
    used: dict[int, int] = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 3 or not fields[0].startswith("#") or not fields[0][1:].isdigit():
            continue
        # fields[1] is the soft/hard limit flags ("--", "+-"); usage follows.
        blocks = fields[2].rstrip("*")
        if not blocks.isdigit():
            raise QuotaError(f"unexpected repquota row: {line!r}")
        used[int(fields[0][1:])] = int(blocks) * QUOTA_BLOCK
    return used


def run_repquota(repquota: str, kind: str, filesystem: str, timeout: float = 60) -> str:
    """Output of ``repquota -n -u|-P FILESYSTEM`` (numeric ids: no name lookups)."""
    flag = {"user": "-u", "project": "-P"}[kind]
    argv: Sequence[str] = [repquota, "-n", flag, filesystem]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QuotaError(f"{repquota}: {exc}") from None
    if done.returncode != 0:
        raise QuotaError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout
