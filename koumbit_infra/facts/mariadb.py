"""What MariaDB's hardening depends on, read in one query as root over the unix socket."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api.facts import FactBase

# One query, one round trip; the keys are what deploys/database.py acts on.
_QUERY = (
    "SELECT 'root_auth', COALESCE(GROUP_CONCAT(DISTINCT JSON_VALUE(Priv, '$.plugin')), '')"
    " FROM mysql.global_priv WHERE User = 'root' AND Host = 'localhost'"
    " UNION ALL SELECT 'root_password',"
    " COUNT(*) FROM mysql.global_priv WHERE User = 'root' AND Host = 'localhost'"
    " AND COALESCE(JSON_VALUE(Priv, '$.authentication_string'), '') NOT IN ('', 'invalid')"
    " UNION ALL SELECT 'remote_root', COUNT(*) FROM mysql.global_priv"
    " WHERE User = 'root' AND Host <> 'localhost'"
    " UNION ALL SELECT 'anonymous', COUNT(*) FROM mysql.global_priv WHERE User = ''"
    " UNION ALL SELECT 'test_db', COUNT(*) FROM information_schema.SCHEMATA"
    " WHERE SCHEMA_NAME = 'test'"
)


@dataclass(frozen=True)
class MariadbSecurityState:
    """What is still insecure on a server's MariaDB; all false/zero once hardened."""

    root_auth: str
    root_has_password: bool
    remote_root: int
    anonymous: int
    test_db: bool

    @property
    def root_socket_only(self) -> bool:
        return self.root_auth == "unix_socket" and not self.root_has_password


class MariadbSecurity(FactBase[MariadbSecurityState | None]):
    """Root's authentication, remote roots, anonymous users and the test database.

    ``None`` when MariaDB is not installed or not answering.
    """

    def requires_command(self) -> str:
        return "mariadb"

    def command(self) -> str:
        return f'mariadb --batch --skip-column-names -e "{_QUERY}" 2>/dev/null || true'

    def process(self, output: list[str]) -> MariadbSecurityState | None:
        values = dict(line.split("\t", 1) for line in output if "\t" in line)
        if "root_auth" not in values:
            return None
        return MariadbSecurityState(
            root_auth=values["root_auth"],
            root_has_password=int(values["root_password"]) > 0,
            remote_root=int(values["remote_root"]),
            anonymous=int(values["anonymous"]),
            test_db=int(values["test_db"]) > 0,
        )
