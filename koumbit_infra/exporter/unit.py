"""What the exporter's systemd unit is rendered from (one finished object, no logic in Jinja)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path("etc/systemd/system/koumbit-exporter.service.j2")
NGINX_LOG_FORMAT_TEMPLATE = Path("etc/nginx/conf.d/koumbit-log-format.conf.j2")


@dataclass(frozen=True)
class ExporterUnit:
    """The values ``koumbit-exporter.service.j2`` needs, as the deploy decides them.

    ``php_socket_group``: the group owning the pools' status sockets (the
    exporter joins it to talk FastCGI to them). ``database_defaults``: the
    root-only option file with the exporter's MariaDB credentials, handed to
    the service as the credential ``mariadb.cnf``; None on a server without
    the db role. ``allowed_scrapers``: addresses of the monitoring servers;
    when given, systemd drops packets from any other address (IPAddressAllow).
    ``php_services``: the PHP-FPM units of the server's release, started before it.
    """

    executable: str = "/usr/local/bin/koumbit-infra"
    config_path: str = "/etc/koumbit/exporter.toml"
    php_socket_group: str = "www-data"
    database_defaults: str | None = "/etc/koumbit/exporter-mariadb.cnf"
    sites_root: str = "/srv/sites"
    log_root: str = "/var/log/nginx/sites"
    allowed_scrapers: tuple[str, ...] = ()
    php_services: tuple[str, ...] = ()

    @property
    def after(self) -> str:
        """The units it starts after: the network, MariaDB and the release's PHP-FPM."""
        return " ".join(("network-online.target", "mariadb.service", *self.php_services))
