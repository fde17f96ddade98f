"""Reading a log file incrementally, across rotation, one complete line at a time."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import BinaryIO

MAX_READ = 16 * 1024 * 1024  # per refresh: a huge backlog is caught up over several
HEAD = 128  # bytes that tell a file from a new one that reused its inode
ROTATED = (".1",)


def head_key(head: bytes) -> int:
    """How many first bytes were read, and their CRC-32, in one integer."""
    return len(head) << 32 | zlib.crc32(head)


@dataclass(slots=True)
class Position:
    inode: int
    offset: int
    head: int = 0  # head_key() of the file's first bytes (0: none read yet)

    @property
    def head_length(self) -> int:
        return self.head >> 32


class LogTail:
    """New complete lines of ``path`` since the last call, surviving rotation.

    The file is followed by inode and offset. When the path names a new inode
    (logrotate renamed the old file and nginx reopened), the rest of the old
    file is read first under its rotated name (``path.1``, as logrotate's
    delaycompress leaves it), then the new file from its start. A file
    shorter than the offset was truncated (copytruncate) and is read from 0.
    A deleted file's inode can be reused at once by the new log, so the
    first bytes of the file are remembered too (as their length and CRC-32:
    a server follows thousands of logs): other first bytes, other file.
    Lines still being written (no newline yet) wait for the next call.
    Lost: what was written to the old file after the rotated copy was
    compressed, before we saw it (rotation without delaycompress).
    """

    __slots__ = ("lost_rotations", "max_read", "path", "position", "rotated_suffixes")

    def __init__(self, path: str | os.PathLike[str], rotated_suffixes: tuple[str, ...] = ROTATED,
                 max_read: int = MAX_READ) -> None:
        self.path = os.fspath(path)  # a str: a Path object costs four more objects per site
        self.max_read = max_read
        self.rotated_suffixes = rotated_suffixes
        self.position: Position | None = None
        self.lost_rotations = 0

    def read_lines(self) -> list[bytes]:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed below on every path
        except FileNotFoundError:
            return self._finish_rotated() if self.position else []
        with handle:
            info = os.fstat(handle.fileno())
            lines: list[bytes] = []
            if self.position is not None and not self._same_file(handle, info.st_ino):
                lines = self._finish_rotated()
            if self.position is None:
                self.position = Position(info.st_ino, 0)
            if info.st_size < self.position.offset:
                self.position = Position(info.st_ino, 0)
            if self.position.head_length < HEAD:
                self.position.head = head_key(os.pread(handle.fileno(), HEAD, 0))
            # Never ask for more than the file holds: read(n) allocates n bytes first,
            # and 16 MiB per site and refresh is what the process's memory then keeps.
            lines += self._read(handle, self.position,
                                min(self.max_read, info.st_size - self.position.offset))
        return lines

    def _same_file(self, handle: BinaryIO, inode: int) -> bool:
        assert self.position is not None
        if inode != self.position.inode:
            return False
        head = os.pread(handle.fileno(), self.position.head_length, 0)
        return head_key(head) == self.position.head

    def _finish_rotated(self) -> list[bytes]:
        """The unread end of the file we followed, found by its inode under a rotated name."""
        assert self.position is not None
        for suffix in self.rotated_suffixes:
            try:
                handle = open(self.path + suffix, "rb")  # noqa: SIM115 - closed by the with below
            except FileNotFoundError:
                continue
            with handle:
                if self._same_file(handle, os.fstat(handle.fileno()).st_ino):
                    lines = self._read(handle, self.position, limit=None)
                    self.position = None
                    return lines
        self.lost_rotations += 1
        self.position = None
        return []

    @staticmethod
    def _read(handle: BinaryIO, position: Position, limit: int | None) -> list[bytes]:
        handle.seek(position.offset)
        data = handle.read(limit) if limit is not None else handle.read()
        end = data.rfind(b"\n") + 1  # keep a partial last line for later
        position.offset += end
        return data[:end].splitlines()
