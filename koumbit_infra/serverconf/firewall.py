"""The firewall openings of one server, computed from the whole inventory.

Everything not listed here is dropped. Openings are only ever these:
SSH from anywhere, HTTP/HTTPS on web servers, the MariaDB port to the web
servers whose sites use that database server, and the exporters to the
monitoring servers.
"""

from __future__ import annotations

from dataclasses import dataclass

from koumbit_infra.exporter.config import DEFAULT_PORT as KOUMBIT_EXPORTER_PORT
from koumbit_infra.inventory import Inventory, Role, Server

SSH_PORT = 22
HTTP_PORTS = (80, 443)
MARIADB_PORT = 3306
NODE_EXPORTER_PORT = 9100

__all__ = ["KOUMBIT_EXPORTER_PORT", "Opening", "database_clients", "openings"]


@dataclass(frozen=True)
class Opening:
    """TCP ports accepted from ``sources`` (IPv4 addresses); no sources means anyone."""

    comment: str
    ports: tuple[int, ...]
    sources: tuple[str, ...] = ()

    @property
    def nft_ports(self) -> str:
        """Ports as nft writes them: one port bare, several as a set."""
        if len(self.ports) == 1:
            return str(self.ports[0])
        return "{ " + ", ".join(str(p) for p in self.ports) + " }"

    @property
    def nft_sources(self) -> str:
        if len(self.sources) == 1:
            return self.sources[0]
        return "{ " + ", ".join(self.sources) + " }"


def _addresses(servers: tuple[Server, ...] | list[Server]) -> tuple[str, ...]:
    # Sorted as integers so 10.0.0.9 comes before 10.0.0.10 and output is stable.
    return tuple(str(a) for a in sorted({s.address for s in servers}))


def database_clients(inv: Inventory, server: Server) -> tuple[Server, ...]:
    """Other servers whose sites keep their databases on ``server``."""
    if not server.has(Role.DB):
        return ()
    return tuple(
        s for s in inv.servers if s.name != server.name and s.database_host == server.name
    )


def openings(inv: Inventory, server: Server) -> tuple[Opening, ...]:
    """Every opening of ``server``, in the order they are written to the ruleset."""
    out = [Opening("ssh: admins, deploys and backup clients", (SSH_PORT,))]
    if server.has(Role.WEB):
        out.append(Opening("web: http and https", HTTP_PORTS))
    if clients := database_clients(inv, server):
        out.append(Opening("mariadb: web servers using this database", (MARIADB_PORT,),
                           _addresses(clients)))
    monitors = [s for s in inv.servers_with(Role.MONITOR) if s.name != server.name]
    if monitors:
        out.append(Opening("exporters: node and koumbit, to the monitoring servers",
                           (NODE_EXPORTER_PORT, KOUMBIT_EXPORTER_PORT), _addresses(monitors)))
    return tuple(out)
