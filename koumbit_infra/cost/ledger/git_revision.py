"""The git revision an inventory was read at, so a closed month names its inputs."""

from __future__ import annotations

import subprocess
from pathlib import Path


def inventory_revision(root: Path) -> str | None:
    """``<commit>`` of the repository holding ``root``, ``<commit>+dirty`` if it has changes.

    None when ``root`` is not in a git repository or git is not installed:
    the content hash still identifies what was closed.
    """
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "."],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = head.stdout.strip()
    return f"{commit}+dirty" if status.stdout.strip() else commit
