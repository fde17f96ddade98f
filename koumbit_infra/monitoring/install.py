"""Unpacking the exporter's archive on a server, once per archive, even after an interrupted run.

A stamp beside the archive (its sha256) says which archive the unpacked tree
came from; a run cut off after the upload but before the unpacking finds no
matching stamp and unpacks on the next run, instead of never.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Generator

from pyinfra.api.facts import FactBase
from pyinfra.api.operation import operation
from pyinfra.context import host

STAMP = ".unpacked"


class BundleUnpacked(FactBase[bool]):
    """True when the tree beside ``archive`` was unpacked from that very archive."""

    def command(self, archive: str) -> str:
        folder = shlex.quote(posixpath.dirname(archive))
        return f"cd {folder} 2>/dev/null && sha256sum --status -c {STAMP} 2>/dev/null" \
               " && echo yes || echo no"

    def process(self, output: list[str]) -> bool:
        return bool(output) and output[-1].strip() == "yes"


def unpack_command(archive: str) -> str:
    folder, name = posixpath.split(archive)
    # Compiled once here: the sandbox (ProtectSystem=strict) stops Python from
    # writing .pyc files itself, so it would compile everything at every start.
    return (f"cd {shlex.quote(folder)} && rm -rf bin lib {STAMP}"
            f" && tar -xzf {shlex.quote(name)} --no-same-owner"
            f" && python3 -m compileall -q lib && sha256sum {shlex.quote(name)} > {STAMP}")


@operation()
def unpacked(archive: str) -> Generator[str, None, None]:
    """``bin/`` and ``lib/`` beside ``archive``, replaced when the archive is a new one."""
    if host.get_fact(BundleUnpacked, archive=archive):
        return
    yield unpack_command(archive)
