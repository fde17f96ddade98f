"""Files whose content comes from another server, read when the operation runs."""

from __future__ import annotations

from collections.abc import Callable, Generator
from io import StringIO

from pyinfra.api.command import PyinfraCommand
from pyinfra.api.operation import operation
from pyinfra.context import host
from pyinfra.operations import files


@operation()
def from_callable(content: Callable[[], str | None], dest: str, mode: str, user: str = "root",
                  group: str = "root") -> Generator[PyinfraCommand | str, None, None]:
    """Write ``content()`` to ``dest``; when it answers ``None`` leave the file as it is.

    ``content`` is called at execution time, so it can read facts of another
    host that an earlier operation of the same deploy created (a backup
    client's public key, for its backup server).
    """
    text = content()
    if text is None:
        host.noop(f"{dest}: nothing to write yet")
        return
    yield from files.put._inner(src=StringIO(text), dest=dest, mode=mode, user=user,
                                group=group)
