"""Disk used by a directory tree, counted the way the filesystem allocates it."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class ScanError(Exception):
    """The tree could not be measured whole; the message names the path."""


def tree_bytes(root: str | Path) -> int:
    """Bytes allocated to everything under ``root`` (st_blocks x 512), each inode once.

    Symbolic links are not followed (their own blocks count); other
    filesystems mounted inside the tree are skipped, since their space is not
    the site's disk. An entry that vanishes while the walk runs (a cache file
    deleted) is simply not counted; the tree root vanishing or an unreadable
    directory raises ScanError rather than publishing an undercount.
    """
    try:
        top = os.lstat(root)
    except FileNotFoundError:
        raise ScanError(f"{root}: does not exist (site deleted?)") from None
    except OSError as exc:
        raise ScanError(f"{root}: {exc.strerror}") from None
    if not stat.S_ISDIR(top.st_mode):
        raise ScanError(f"{root}: is not a directory")
    device = top.st_dev
    total = top.st_blocks * 512
    linked: set[int] = set()  # inodes with several names, counted once
    pending = [str(root)]
    while pending:
        for info, path in _entries(pending.pop(), root):
            if info.st_dev != device:
                continue
            if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                if info.st_ino in linked:
                    continue
                linked.add(info.st_ino)
            total += info.st_blocks * 512
            if stat.S_ISDIR(info.st_mode):
                pending.append(path)
    return total


def _entries(directory: str, root: str | Path) -> list[tuple[os.stat_result, str]]:
    """lstat of every entry of ``directory``; entries gone by the time we look are left out."""
    try:
        scanner = os.scandir(directory)
    except FileNotFoundError:
        if directory == str(root):
            raise ScanError(f"{root}: deleted during the scan") from None
        return []  # a sub-directory removed mid-scan holds nothing any more
    except OSError as exc:
        raise ScanError(f"{directory}: {exc.strerror}") from None
    found = []
    with scanner:
        for entry in scanner:
            try:
                found.append((entry.stat(follow_symlinks=False), entry.path))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ScanError(f"{entry.path}: {exc.strerror}") from None
    return found
