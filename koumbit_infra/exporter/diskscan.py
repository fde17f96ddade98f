"""Disk used by a directory tree, counted the way the filesystem allocates it, in bounded memory.

A site's tree is hostile: it may hold a million files in one directory, links
to anywhere, FIFOs, a directory chain thousands deep, and it may swap any of
them while the walk runs. So the walk holds one directory entry at a time
(os.scandir iterated, never listed), keeps one small frame per directory on
the way down (its name, inode and how many of its entries were read), and
opens each directory relative to its parent's descriptor with O_NOFOLLOW and
O_DIRECTORY: a symbolic link or FIFO swapped in for a directory is refused by
the kernel rather than followed or opened. Only the innermost MAX_OPEN
directories stay open; an outer one is opened again, from the root down by
the same rule, when the walk climbs back to it, and the entries it had read
are skipped.

A walk can stop at a deadline and go on later (TreeWalk.run): nothing is
held open in between, only its frames and its running total.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from os import _ScandirIterator

# A directory opened by name: never through a symbolic link, only if it is a
# directory (a FIFO fails with ENOTDIR instead of blocking), not inherited.
_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

# Directories held open at once (two descriptors and a 32 KiB glibc buffer each).
MAX_OPEN = 32
# Deeper than this the tree is not measured: each level keeps a frame, and no
# program on the server can reach such a file by its path (PATH_MAX is 4,096).
MAX_DEPTH = 2048
# Inodes with several names remembered to count them once (about 60 bytes each).
# Past this many, a further one counts st_blocks x 512 / st_nlink per name: exact
# when all its names are in the tree, which then needs no memory per inode.
MAX_LINKED = 20_000
# Entries counted between two looks at the clock.
CHECK_EVERY = 64


class ScanError(Exception):
    """The tree could not be measured whole; the message names the path."""


class _Frame:
    """One directory on the way down: enough to open it again and go on where it was."""

    __slots__ = ("entries", "fd", "ino", "name", "read")

    def __init__(self, name: str, ino: int) -> None:
        self.name = name  # in its parent (the root's: its path)
        self.ino = ino  # the directory found by lstat; another one there is not it
        self.read = 0  # entries taken from it so far
        self.fd: int | None = None
        self.entries: _ScandirIterator[str] | None = None


class TreeWalk:
    """The walk of one tree, which can stop at a deadline and go on at the next call.

    What it adds up is ``st_blocks x 512`` of every entry, each inode once,
    without following symbolic links or entering other filesystems mounted in
    the tree: what ``du -s -x --block-size=1`` prints. An entry that vanishes
    while the walk runs (a cache file deleted), or a directory replaced by
    something else before it is entered, is simply not counted; the root
    vanishing, an unreadable directory or a tree deeper than MAX_DEPTH raise
    ScanError rather than publishing an undercount.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        self.passes = 0  # calls of run(): more than one means it went past a deadline
        self._total = 0
        self._shared = 0.0  # the per-name shares of inodes past MAX_LINKED
        self._linked: set[int] = set()
        self._frames: list[_Frame] = []
        self._device = 0

    @property
    def bytes(self) -> int:
        """What the walk counted so far (the tree's figure once run() returned True)."""
        return self._total + round(self._shared)

    def run(self, deadline: float | None = None,
            clock: Callable[[], float] = time.monotonic) -> bool:
        """Walk on until the tree is done (True) or ``clock()`` reaches ``deadline`` (False).

        Every call makes progress, at least CHECK_EVERY entries, so a tree
        walked over many calls is always finished in the end.
        """
        self.passes += 1
        try:
            if self.passes == 1:
                self._start()
            return self._walk(deadline, clock)
        finally:
            for frame in self._frames:  # nothing stays open between two calls
                _close(frame)

    def _start(self) -> None:
        try:
            top = os.lstat(self.root)
        except FileNotFoundError:
            raise ScanError(f"{self.root}: does not exist (site deleted?)") from None
        except OSError as exc:
            raise ScanError(f"{self.root}: {exc.strerror}") from None
        if not stat.S_ISDIR(top.st_mode):
            raise ScanError(f"{self.root}: is not a directory")
        self._device = top.st_dev
        self._total = top.st_blocks * 512
        self._frames = [_Frame(self.root, top.st_ino)]

    def _walk(self, deadline: float | None, clock: Callable[[], float]) -> bool:
        frames = self._frames
        counted = 0
        while frames:
            frame = frames[-1]
            if frame.entries is None and not self._open(frame):
                continue
            assert frame.entries is not None
            try:
                entry = next(frame.entries, None)
            except OSError as exc:
                raise ScanError(f"{self._path()}: {exc.strerror}") from None
            if entry is None:
                _close(frames.pop())
                continue
            frame.read += 1
            self._count(entry)
            counted += 1
            if deadline is not None and counted % CHECK_EVERY == 0 and clock() >= deadline:
                return False
        return True

    def _count(self, entry: os.DirEntry[str]) -> None:
        try:
            info = entry.stat(follow_symlinks=False)  # fstatat on the open directory
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ScanError(f"{self._path(entry.name)}: {exc.strerror}") from None
        if info.st_dev != self._device:
            return  # a filesystem mounted in the tree is not the site's disk
        blocks = info.st_blocks * 512
        if stat.S_ISDIR(info.st_mode):
            self._total += blocks
            if len(self._frames) >= MAX_DEPTH:
                raise ScanError(f"{self._path(entry.name)}: deeper than {MAX_DEPTH} "
                                "directories; the tree is not measured")
            self._frames.append(_Frame(entry.name, info.st_ino))
            return
        if info.st_nlink > 1:
            if info.st_ino in self._linked:
                return
            if len(self._linked) >= MAX_LINKED:
                self._shared += blocks / info.st_nlink
                return
            self._linked.add(info.st_ino)
        self._total += blocks

    def _open(self, frame: _Frame) -> bool:
        """Open ``frame`` (the innermost) to read on; False if it is gone or replaced.

        Entered from its open parent, it costs one openat; climbing back to a
        directory closed for MAX_OPEN, the chain is opened again from the root,
        checking every inode, and the entries it had read are skipped.
        """
        frames = self._frames
        depth = len(frames) - 1
        parent = frames[depth - 1] if depth else None
        if parent is not None and parent.fd is not None:
            fd = self._enter(parent.fd, depth)
            if fd is None:
                frames.pop()
                return False
        else:
            fd = self._reopen()
            if fd is None:
                return False
        frame.fd = fd
        try:
            frame.entries = os.scandir(fd)  # on its own duplicate of fd
            if frame.read:
                next(islice(frame.entries, frame.read, frame.read), None)
        except OSError as exc:
            raise ScanError(f"{self._path()}: {exc.strerror}") from None
        opened = [f for f in frames[-MAX_OPEN - 1:] if f.fd is not None]
        if len(opened) > MAX_OPEN:
            _close(opened[0])
        return True

    def _enter(self, parent_fd: int | None, depth: int) -> int | None:
        """The directory of frame ``depth`` opened from its parent's ``parent_fd``.

        None if it is not there any more: removed, or replaced by a file, a
        FIFO, a symbolic link (refused, never followed) or another directory.
        """
        frame = self._frames[depth]
        try:
            fd = os.open(frame.name, _OPEN, dir_fd=parent_fd)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise ScanError(f"{self._path(depth=depth)}: {exc.strerror}") from None
        info = os.fstat(fd)
        if info.st_ino != frame.ino or info.st_dev != self._device:
            os.close(fd)
            return None
        return fd

    def _reopen(self) -> int | None:
        """The innermost frame's directory opened again from the root, or None.

        Where the chain breaks, that directory and those under it are dropped:
        the walk goes on in the one above, after its entry.
        """
        frames = self._frames
        fd: int | None = None
        for depth in range(len(frames)):
            child = self._enter(fd, depth)
            if fd is not None:
                os.close(fd)
            if child is None:
                if depth == 0:
                    raise ScanError(f"{self.root}: deleted or replaced during the scan")
                del frames[depth:]
                return None
            fd = child
        return fd

    def _path(self, name: str | None = None, depth: int | None = None) -> str:
        """The path of frame ``depth``'s directory (the innermost's), or of ``name`` in it."""
        frames = self._frames if depth is None else self._frames[: depth + 1]
        return os.path.join(*[f.name for f in frames], *([name] if name else []))


def _close(frame: _Frame) -> None:
    if frame.entries is not None:
        frame.entries.close()
        frame.entries = None
    if frame.fd is not None:
        os.close(frame.fd)
        frame.fd = None


def tree_bytes(root: str | Path) -> int:
    """Bytes allocated to everything under ``root`` (st_blocks x 512), each inode once.

    The whole walk in one call; see TreeWalk for what is counted.
    """
    walk = TreeWalk(root)
    walk.run()
    return walk.bytes
