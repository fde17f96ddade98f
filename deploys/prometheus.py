"""The monitoring role: Debian's Prometheus scraping every server's two exporters.

Listens on loopback only (koumbit_infra.monitoring.prometheus says why); its
scrape targets come from the inventory, its rules ship in
templates/etc/prometheus/rules/. A configuration is checked with promtool
before Prometheus is asked to load it, so a bad file never replaces a good one
in the running server.

Runnable alone: ``pyinfra inventory/lab.py deploys/prometheus.py``.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.operations import files, systemd

from koumbit_infra.converge import converge, need, ran
from koumbit_infra.deploykit import current, write_all
from koumbit_infra.inventory import Role
from koumbit_infra.monitoring.prometheus import (
    CONFIG_DEST,
    RULES_DESTS,
    RULES_DIR,
    prometheus_files,
)
from koumbit_infra.operations import packages, services
from koumbit_infra.templating import template_path


@deploy("Monitoring: Prometheus")
def prometheus() -> None:
    inv, srv = current()
    if not srv.has(Role.MONITOR):
        return
    # Recommends would bring a second node exporter and its failing container services.
    need(packages.installed, name="Prometheus package", packages=["prometheus"])
    need(files.directory, name="Prometheus: rules directory", path=RULES_DIR,
         user="root", group="root", mode="755")
    # Copied, not rendered: alert annotations use Prometheus's own {{ $labels }}.
    rules = [need(files.put, name=f"prometheus: {dest}", src=template_path(dest.lstrip("/")),
                  dest=dest, user="root", group="root", mode="644")
             for dest in RULES_DESTS]
    cfgs = prometheus_files(inv, srv)
    defaults, config = write_all(cfgs)
    # Command-line flags (listen address, retention) are read at start only.
    need(services.refreshed, name="Prometheus: restart for new flags", service="prometheus",
         files=[cfgs[0].dest], changes=ran(defaults), action="restart")
    # Checked first, so a configuration or rule file promtool rejects never goes live.
    need(services.refreshed, name="Prometheus: reload targets and rules", service="prometheus",
         files=[CONFIG_DEST, *RULES_DESTS], changes=ran(*rules, config),
         check=f"promtool check config {CONFIG_DEST}")
    need(systemd.service, name="Prometheus: running", service="prometheus", running=True,
         enabled=True)


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(prometheus)
