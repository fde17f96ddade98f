"""The monitoring role probes every site from outside: Debian's blackbox exporter.

The exporter listens on loopback only; its modules and the targets Prometheus
hands it come from the inventory (koumbit_infra.monitoring.probes says what is
probed and how). A new configuration is checked by the exporter itself
(``--config.check``) before it is asked to load it, so a bad file never
replaces a good one in the running exporter. The target lists are file_sd
files that Prometheus watches: a new site is probed without any reload.
Runs before the Prometheus deploy, so its scrape jobs find their target files.

Runnable alone: ``pyinfra inventory/lab.py deploys/probes.py``.
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api.deploy import deploy
from pyinfra.operations import files, systemd

from koumbit_infra.converge import converge, need, ran
from koumbit_infra.deploykit import current, write
from koumbit_infra.inventory import Role
from koumbit_infra.monitoring.probes import (
    BLACKBOX_CONFIG,
    BLACKBOX_PACKAGE,
    BLACKBOX_SERVICE,
    TARGETS_DIR,
    blackbox_check,
    blackbox_defaults,
    probe_files,
)
from koumbit_infra.operations import packages, services


@deploy("Monitoring: site probes")
def probes() -> None:
    inv, srv = current()
    if not srv.has(Role.MONITOR):
        return
    need(packages.installed, name="Blackbox exporter package", packages=[BLACKBOX_PACKAGE])
    need(files.directory, name=f"Probes: {TARGETS_DIR}", path=TARGETS_DIR,
         user="root", group="root", mode="755")
    defaults = blackbox_defaults()
    flags = write(defaults)
    written = {f.dest: need(files.put, name=f"probes: {f.dest}", src=StringIO(f.content),
                            dest=f.dest, user="root", group="root", mode=f.mode)
               for f in probe_files(inv)}
    # Command-line flags (listen address, configuration path) are read at start only.
    need(services.refreshed, name="Blackbox exporter: restart for new flags",
         service=BLACKBOX_SERVICE, files=[defaults.dest], changes=ran(flags), action="restart",
         check=blackbox_check())
    # Modules are reloaded (SIGHUP) once the exporter itself accepts the new file.
    need(services.refreshed, name="Blackbox exporter: reload modules", service=BLACKBOX_SERVICE,
         files=[BLACKBOX_CONFIG], changes=ran(written[BLACKBOX_CONFIG]),
         check=blackbox_check())
    need(systemd.service, name="Blackbox exporter: running", service=BLACKBOX_SERVICE,
         running=True, enabled=True)


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(probes)
