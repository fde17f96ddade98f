"""restic repositories: initialised once, from the server that owns them."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra.api.operation import operation
from pyinfra.context import host

from koumbit_infra.facts.backup import ResticRepository


@operation()
def repository_initialised(wrapper: str) -> Generator[str, None, None]:
    """``restic init`` through ``wrapper`` unless the repository already answers."""
    if host.get_fact(ResticRepository, wrapper=wrapper):
        return
    yield f"{wrapper} init"
