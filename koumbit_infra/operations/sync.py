"""Ordering across hosts.

pyinfra orders operations as a graph built from each host's own sequence;
two hosts' independent operations run in lockstep by position, not by line
number. When one host needs what another host's earlier operation made (a
backup server authorising a client's new key), every host calls
:func:`barrier` at the same place: it is one node that all chains pass
through, so everything before it, on any host, runs first.
"""

from __future__ import annotations

from collections.abc import Generator

from pyinfra.api.operation import operation
from pyinfra.context import host


@operation()
def barrier(reason: str) -> Generator[str, None, None]:
    """Change nothing; wait for every host to get here. Call it on every host, same line."""
    host.noop(f"barrier: {reason}")
    yield from ()
