"""Monitoring agents: Debian's prometheus-node-exporter, reachable from the
monitoring servers only, and the place where the koumbit exporter goes.

Runnable alone: ``pyinfra inventory/lab.py deploys/monitoring.py``.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import systemd

from koumbit_infra.deploykit import current, write_all
from koumbit_infra.operations import packages
from koumbit_infra.serverconf.files import monitoring_files


@deploy("Monitoring: node exporter")
def node_exporter() -> None:
    inv, srv = current()
    # Recommends pull in openipmi and nvme-cli, whose services fail in a
    # container and are of no use to a web host anyway.
    packages.installed(name="Node exporter package", packages=["prometheus-node-exporter"])
    changed = write_all(monitoring_files(inv, srv))
    systemd.service(name="Node exporter: restart", service="prometheus-node-exporter",
                    restarted=True, _if=changed[0].did_change)
    systemd.service(name="Node exporter: running", service="prometheus-node-exporter",
                    running=True, enabled=True)


@deploy("Monitoring: koumbit exporter")
def koumbit_exporter() -> None:
    """THE PLACE FOR THE KOUMBIT EXPORTER (exporter engineer).

    Install the program, render /etc/koumbit/exporter.toml and
    templates/etc/systemd/system/koumbit-exporter.service.j2, then enable
    koumbit-exporter.service. Its port (koumbit_infra.exporter.config.DEFAULT_PORT)
    is already open to the monitoring servers in the firewall
    (koumbit_infra.serverconf.firewall).
    """


@deploy("Monitoring")
def monitoring() -> None:
    node_exporter()
    koumbit_exporter()


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    monitoring()
