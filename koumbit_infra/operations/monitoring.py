"""The koumbit exporter on a server: its archive unpacked, its MariaDB account made.

Unpacking happens once per archive, even after an interrupted run: a stamp
beside the archive (its sha256) says which archive the unpacked tree came
from; a run cut off after the upload but before the unpacking finds no
matching stamp and unpacks on the next run, instead of never.

The account's password goes from /dev/urandom into a root-only option file
and from the file into MariaDB through a pipe: never on a command line, in
git or in pyinfra's logs.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Generator

from pyinfra.api.operation import operation
from pyinfra.context import host

from koumbit_infra.facts.monitoring import STAMP, BundleUnpacked, ExporterAccount
from koumbit_infra.monitoring.database import GRANT, OPTION_FILE, USER

_SQL = "mariadb --batch --skip-column-names"


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


def create_commands(path: str) -> list[str]:
    """Shell commands making the option file (if missing) then the user from it."""
    quoted, tmp = shlex.quote(path), shlex.quote(f"{path}.new")
    make_file = (f"umask 077 && {{ printf '[client]\\nuser={USER}\\npassword=';"
                 f" head -c 24 /dev/urandom | base64 -w0; printf '\\n'; }} > {tmp}"
                 f" && mv {tmp} {quoted}")
    # base64 of 24 bytes: 32 characters of [A-Za-z0-9+/], no quote to escape in SQL.
    make_user = (f"{{ printf \"CREATE OR REPLACE USER '{USER}'@'localhost' IDENTIFIED BY '\";"
                 f" sed -n 's/^password=//p' {quoted} | tr -d '\\n';"
                 f" printf \"';\\nGRANT {GRANT} ON *.* TO '{USER}'@'localhost';\\n\"; }}"
                 f" | {_SQL}")
    return [make_file, make_user]


@operation()
def exporter_account(path: str = OPTION_FILE) -> Generator[str, None, None]:
    """The option file and the user, created once; a new file resets the user's password."""
    state = host.get_fact(ExporterAccount, path=path)
    if state.option_file and state.user:
        return
    make_file, make_user = create_commands(path)
    if not state.option_file:
        yield make_file
    yield make_user
