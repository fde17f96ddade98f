"""Reading a log file incrementally, across rotation, one complete line at a time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_READ = 16 * 1024 * 1024  # per refresh: a huge backlog is caught up over several
HEAD = 128  # bytes that tell a file from a new one that reused its inode


@dataclass
class Position:
    inode: int
    offset: int
    head: bytes = b""


class LogTail:
    """New complete lines of ``path`` since the last call, surviving rotation.

    The file is followed by inode and offset. When the path names a new inode
    (logrotate renamed the old file and nginx reopened), the rest of the old
    file is read first under its rotated name (``path.1``, as logrotate's
    delaycompress leaves it), then the new file from its start. A file
    shorter than the offset was truncated (copytruncate) and is read from 0.
    A deleted file's inode can be reused at once by the new log, so the
    first bytes of the file are remembered too: other first bytes, other file.
    Lines still being written (no newline yet) wait for the next call.
    Lost: what was written to the old file after the rotated copy was
    compressed, before we saw it (rotation without delaycompress).
    """

    def __init__(self, path: Path, rotated_suffixes: tuple[str, ...] = (".1",),
                 max_read: int = MAX_READ) -> None:
        self.path = path
        self.max_read = max_read
        self.rotated = [path.with_name(path.name + suffix) for suffix in rotated_suffixes]
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
            if len(self.position.head) < HEAD:
                self.position.head = os.pread(handle.fileno(), HEAD, 0)
            lines += self._read(handle, self.position, self.max_read)
        return lines

    def _same_file(self, handle: BinaryIO, inode: int) -> bool:
        assert self.position is not None
        if inode != self.position.inode:
            return False
        head = self.position.head
        return os.pread(handle.fileno(), len(head), 0) == head

    def _finish_rotated(self) -> list[bytes]:
        """The unread end of the file we followed, found by its inode under a rotated name."""
        assert self.position is not None
        for candidate in self.rotated:
            try:
                handle = open(candidate, "rb")  # noqa: SIM115 - closed by the with below
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
