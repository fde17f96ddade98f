"""Database servers: MariaDB on loopback or the private address per role, root by
unix socket only, no anonymous users nor test database, buffers sized from memory.

Runnable alone: ``pyinfra inventory/lab.py deploys/database.py``.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.operations import systemd

from koumbit_infra.converge import converge, need, ran
from koumbit_infra.deploykit import current, write_all
from koumbit_infra.inventory import Role
from koumbit_infra.operations import mariadb, packages, services
from koumbit_infra.serverconf.files import database_files


@deploy("Database: MariaDB")
def database() -> None:
    inv, srv = current()
    if not srv.has(Role.DB):
        return
    need(packages.installed, name="MariaDB packages",
         packages=[srv.release.mariadb_server_package])
    cfgs = database_files(inv, srv)
    changed = write_all(cfgs)
    # The buffer pool and the bind address are read at start only.
    need(services.refreshed, name="MariaDB: restart for its new settings",
         service=srv.release.mariadb_service,
         files=[c.dest for c in cfgs], changes=ran(*changed), action="restart")
    need(systemd.service, name="MariaDB: running", service=srv.release.mariadb_service,
         running=True, enabled=True)
    need(mariadb.secured,
         name="MariaDB: root by unix socket only, no anonymous user, no test db")


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(database)
