"""Where MariaDB listens, from the roles of the inventory."""

from __future__ import annotations

from koumbit_infra.inventory import Inventory, Server
from koumbit_infra.serverconf.firewall import database_clients

LOCALHOST = "127.0.0.1"


def bind_address(inv: Inventory, server: Server) -> str:
    """Loopback when only local sites use the database, else the server's own address.

    The address is the inventory's ``address``; on a production network where
    that is public, the firewall still limits port 3306 to the web servers.
    """
    return str(server.address) if database_clients(inv, server) else LOCALHOST
