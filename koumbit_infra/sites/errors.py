"""Failures of the site commands, and running a command that must succeed.

The connection itself is koumbit_infra.remote's, shared with the cost commands.
"""

from __future__ import annotations

import sys

from fabric import Connection

from koumbit_infra.errors import KoumbitError
from koumbit_infra.remote import run


class SiteCommandError(KoumbitError):
    """A site command failed (exit 1) or was refused before acting (exit 2)."""


def must(conn: Connection, command: str, what: str, timeout: float | None = 1800) -> str:
    """Run ``command``; on failure raise SiteCommandError naming ``what`` and stderr's end.

    On success what the server's tools said on stderr (a wait for a site's lock, the
    snapshot of what was replaced) is passed on to the person, on stderr.
    """
    result = run(conn, command, timeout)
    if result.ok and result.stderr.strip():
        sys.stderr.write(result.stderr if result.stderr.endswith("\n") else result.stderr + "\n")
    if not result.ok:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise SiteCommandError(f"{what} failed on {conn.host} (exit {result.exit_code}):\n"
                               + "\n".join(tail))
    return result.stdout
