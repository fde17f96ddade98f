"""MariaDB hardening as an operation: it reads the server's state when it runs."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra.api.exceptions import OperationError
from pyinfra.api.operation import operation
from pyinfra.context import host

from koumbit_infra.facts.mariadb import MariadbSecurity

_SQL = "mariadb --batch -e"


@operation()
def secured() -> Generator[str, None, None]:
    """Root by unix socket only; no remote root, no anonymous user, no test database."""
    state = host.get_fact(MariadbSecurity)
    if state is None:
        raise OperationError("MariaDB does not answer as root over its unix socket")
    statements = []
    if not state.root_socket_only:
        statements.append("ALTER USER root@localhost IDENTIFIED VIA unix_socket")
    if state.remote_root:
        statements.append("DELETE FROM mysql.global_priv WHERE User='root' AND Host<>'localhost'")
    if state.anonymous:
        statements.append("DELETE FROM mysql.global_priv WHERE User=''")
    if state.test_db:
        statements += ["DROP DATABASE IF EXISTS test",
                       "DELETE FROM mysql.db WHERE Db='test' OR Db='test\\\\_%'"]
    if statements:
        statements.append("FLUSH PRIVILEGES")
        yield f'{_SQL} "{"; ".join(statements)}"'
