"""The exporter's MariaDB account: read-only, its password made and kept on the server.

Per koumbit_infra.exporter's docstring: ``koumbit_exporter@localhost`` with
``SHOW VIEW ON *.*`` only (enough for information_schema.TABLES to list
every table's size, and nothing to read rows with), and the password in a
root-only option file that systemd hands to the service (LoadCredential).
The password goes from /dev/urandom into that file and from the file into
MariaDB through a pipe: never on a command line, in git or in pyinfra's logs.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator
from dataclasses import dataclass

from pyinfra.api.facts import FactBase
from pyinfra.api.operation import operation
from pyinfra.context import host

USER = "koumbit_exporter"
OPTION_FILE = "/etc/koumbit/exporter-mariadb.cnf"
GRANT = "SHOW VIEW"

_SQL = "mariadb --batch --skip-column-names"
_USER_QUERY = ("SELECT COUNT(*) FROM mysql.global_priv"
               " WHERE User='koumbit_exporter' AND Host='localhost'")


@dataclass(frozen=True)
class ExporterAccountState:
    option_file: bool
    user: bool


class ExporterAccount(FactBase[ExporterAccountState]):
    """Whether the option file and the MariaDB user exist (one round trip)."""

    def command(self, path: str) -> str:
        return (f"test -f {shlex.quote(path)} && echo file=1 || echo file=0;"
                f' echo "user=$({_SQL} -e "{_USER_QUERY}" 2>/dev/null || echo 0)"')

    def process(self, output: list[str]) -> ExporterAccountState:
        values = dict(line.split("=", 1) for line in output if "=" in line)
        return ExporterAccountState(option_file=values.get("file") == "1",
                                    user=values.get("user", "0").strip() not in ("", "0"))


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
