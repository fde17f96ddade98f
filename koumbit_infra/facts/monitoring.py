"""The koumbit exporter on a server: its unpacked code and its MariaDB account."""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass

from pyinfra.api.facts import FactBase

# Beside the archive: the sha256 of the archive the tree was unpacked from.
STAMP = ".unpacked"

# The user is monitoring.database.USER.
_USER_QUERY = ("SELECT COUNT(*) FROM mysql.global_priv"
               " WHERE User='koumbit_exporter' AND Host='localhost'")


class BundleUnpacked(FactBase[bool]):
    """True when the tree beside ``archive`` was unpacked from that very archive."""

    def command(self, archive: str) -> str:
        folder = shlex.quote(posixpath.dirname(archive))
        return f"cd {folder} 2>/dev/null && sha256sum --status -c {STAMP} 2>/dev/null" \
               " && echo yes || echo no"

    def process(self, output: list[str]) -> bool:
        return bool(output) and output[-1].strip() == "yes"


@dataclass(frozen=True)
class ExporterAccountState:
    option_file: bool
    user: bool


class ExporterAccount(FactBase[ExporterAccountState]):
    """Whether the option file and the MariaDB user exist (one round trip)."""

    def command(self, path: str) -> str:
        return (f"test -f {shlex.quote(path)} && echo file=1 || echo file=0;"
                f' echo "user=$(mariadb --batch --skip-column-names -e "{_USER_QUERY}"'
                ' 2>/dev/null || echo 0)"')

    def process(self, output: list[str]) -> ExporterAccountState:
        values = dict(line.split("=", 1) for line in output if "=" in line)
        return ExporterAccountState(option_file=values.get("file") == "1",
                                    user=values.get("user", "0").strip() not in ("", "0"))
