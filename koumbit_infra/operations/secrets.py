"""Secrets and keys generated on the server itself, once, readable by root only.

The value is never in git, in pyinfra's logs, or on a command line: the
commands below only name the file, and the bytes go from /dev/urandom (or
ssh-keygen) straight into it under a 077 umask.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator

from pyinfra.api.operation import operation
from pyinfra.context import host
from pyinfra.facts.files import File


@operation()
def random_file(path: str, nbytes: int = 48) -> Generator[str, None, None]:
    """A file of ``nbytes`` random bytes, base64 encoded, mode 0600, created if missing."""
    if host.get_fact(File, path=path):
        return
    tmp = shlex.quote(f"{path}.new")
    yield (f"umask 077 && head -c {nbytes} /dev/urandom | base64 -w0 > {tmp}"
           f" && mv {tmp} {shlex.quote(path)}")


@operation()
def ssh_key(path: str, comment: str) -> Generator[str, None, None]:
    """An ed25519 key pair at ``path`` (private 0600, public beside it), created if missing."""
    if host.get_fact(File, path=path):
        return
    yield (f"umask 077 && ssh-keygen -q -t ed25519 -N '' -C {shlex.quote(comment)}"
           f" -f {shlex.quote(path)}")
