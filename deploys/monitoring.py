"""Monitoring agents: Debian's prometheus-node-exporter and the koumbit exporter,
both reachable from the monitoring servers only.

Runnable alone: ``pyinfra inventory/lab.py deploys/monitoring.py``.
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api.deploy import deploy
from pyinfra.operations import files, systemd

from koumbit_infra.converge import converge, need, ran
from koumbit_infra.deploykit import current, write, write_all
from koumbit_infra.inventory import Role
from koumbit_infra.monitoring import bundle, database, exporter
from koumbit_infra.monitoring.exporter import TEMPLATE
from koumbit_infra.operations import monitoring as monitoring_ops
from koumbit_infra.operations import packages, services
from koumbit_infra.serverconf.files import ConfigFile, monitoring_files


@deploy("Monitoring: node exporter")
def node_exporter() -> None:
    inv, srv = current()
    # Recommends pull in openipmi and nvme-cli, whose services fail in a
    # container and are of no use to a web host anyway.
    need(packages.installed, name="Node exporter package",
         packages=["prometheus-node-exporter"])
    cfgs = monitoring_files(inv, srv)
    changed = write_all(cfgs)
    need(services.refreshed, name="Node exporter: restart for its new settings",
         service="prometheus-node-exporter", files=[c.dest for c in cfgs],
         changes=ran(*changed), action="restart")
    need(systemd.service, name="Node exporter: running", service="prometheus-node-exporter",
         running=True, enabled=True)


@deploy("Monitoring: koumbit exporter")
def koumbit_exporter() -> None:
    """The koumbit exporter as a sandboxed service, run by Debian's python3.

    The code and its libraries go as one archive (koumbit_infra.monitoring.bundle),
    unpacked only when it changed; the service restarts only when the code, its
    configuration, its unit or its database credential changed (in this run, or
    in one cut off before its restart).
    """
    inv, srv = current()
    need(packages.installed, name="Koumbit exporter: python3", packages=["python3"])
    need(files.directory, name=f"Koumbit exporter: {bundle.INSTALL_DIR}",
         path=bundle.INSTALL_DIR, user="root", group="root", mode="755")
    archive = f"{bundle.INSTALL_DIR}/bundle.tar.gz"
    need(files.put, name="Koumbit exporter: code and libraries", src=bundle.bundle_path(),
         dest=archive, user="root", group="root", mode="644")
    code = need(monitoring_ops.unpacked, name="Koumbit exporter: unpack", archive=archive)
    need(files.directory, name="Koumbit exporter: /etc/koumbit", path="/etc/koumbit",
         user="root", group="root", mode="755")
    # Not secret (sites and their plans); the service's dynamic user must read it.
    config = need(files.put, name=f"Koumbit exporter: {exporter.CONFIG_PATH}",
                  src=StringIO(exporter.exporter_config(inv, srv)),
                  dest=exporter.CONFIG_PATH, user="root", group="root", mode="644")
    unit = write(ConfigFile("koumbit-exporter", str(TEMPLATE), exporter.UNIT_PATH, "644",
                            {"exporter": exporter.exporter_unit(inv, srv)}))
    changes, watched = [code, config, unit], [archive, exporter.CONFIG_PATH, exporter.UNIT_PATH]
    if srv.has(Role.DB):
        changes.append(need(
            monitoring_ops.exporter_account,
            name="Koumbit exporter: read-only MariaDB account (password made on the server)"))
        watched.append(database.OPTION_FILE)
    need(services.units_loaded, name="Koumbit exporter: systemd reload",
         units=["koumbit-exporter.service"], changes=ran(unit))
    # The new configuration is validated by the new code before the running one is stopped.
    need(services.refreshed, name="Koumbit exporter: restart for new code or settings",
         service="koumbit-exporter", files=watched, changes=ran(*changes), action="restart",
         check=f"{bundle.LAUNCHER} --config {exporter.CONFIG_PATH} --check")
    need(systemd.service, name="Koumbit exporter: running", service="koumbit-exporter.service",
         running=True, enabled=True)


@deploy("Monitoring")
def monitoring() -> None:
    node_exporter()
    koumbit_exporter()


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(monitoring)
