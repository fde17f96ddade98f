"""restic repositories: initialised once, from the server that owns them."""

from __future__ import annotations

import shlex
from collections.abc import Generator

from pyinfra.api.operation import OperationMeta, operation
from pyinfra.context import host

from koumbit_infra.facts.backup import ResticRepository, SealCurrent


@operation()
def repository_initialised(wrapper: str, target: str) -> Generator[str, None, None]:
    """``restic init`` through ``wrapper`` on ``target`` unless the repository answers."""
    if host.get_fact(ResticRepository, wrapper=wrapper, target=target):
        return
    yield f"KOUMBIT_BACKUP_TARGET={shlex.quote(target)} {wrapper} init"


@operation()
def password_sealed(tool: str, changes: list[OperationMeta]) -> Generator[str, None, None]:
    """The age copies of the repository password (escrow, one per target) made again
    when their recipients or the password changed (``tool`` knows which, by its stamps;
    it runs when ``changes`` wrote one of its files in this run)."""
    changed = host.state.is_executing and any(m.did_change() for m in changes)
    if not changed and host.get_fact(SealCurrent, tool=tool):
        return
    yield tool
