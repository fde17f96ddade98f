"""Prometheus on the monitoring servers: what it scrapes, derived from the inventory.

Every server runs two exporters, both scraped by address: Debian's
node_exporter (:9100) and the koumbit exporter (:19100). Each target gets
the label ``server`` (the inventory's name, never an environment label).
The koumbit exporter already sets ``server`` on its own series (for a site
whose database lives elsewhere it is the site's server), and so do the
backup servers' textfile series (``server`` is the client whose backups they
prove, ``target`` the backup server itself): both jobs keep the series' own
labels (``honor_labels``). node_exporter's own series carry no ``server``,
so they get the target's.

Sites are also probed from outside, through the blackbox exporter on this same
server (jobs ``koumbit-sites`` and ``koumbit-redirects``, their targets in
file_sd files that the probes deploy writes: koumbit_infra/monitoring/probes.py).

Prometheus listens on 127.0.0.1:9090 only: people reach it through SSH
(``ssh -L 9090:127.0.0.1:9090 root@<monitoring server>``), so it needs no
firewall opening, TLS or authentication of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from koumbit_infra.exporter.config import DEFAULT_PORT as KOUMBIT_EXPORTER_PORT
from koumbit_infra.inventory import Inventory, Server
from koumbit_infra.monitoring.alerting import LISTEN as ALERTMANAGER
from koumbit_infra.monitoring.probes import BLACKBOX_LISTEN, PROBE_JOBS
from koumbit_infra.serverconf.files import ConfigFile
from koumbit_infra.serverconf.firewall import NODE_EXPORTER_PORT

LISTEN = "127.0.0.1:9090"
SCRAPE_INTERVAL_SECONDS = 15
RETENTION = "90d"  # a quarter: enough for predict_linear trends and the cost reports
# Copied as they are from templates/etc/prometheus/rules/ to the same path on the server:
# capacity and usage (the exporters), costs and budget (cost publish), the backups
# (each backup server's koumbit-backup-verify), the sites seen from outside (the blackbox
# exporter's probes, koumbit_infra/monitoring/probes.py), then the certificates (each web
# server's koumbit-certificate).
RULES_DIR = "/etc/prometheus/rules"
RULE_FILES = ("koumbit.rules.yml", "koumbit-budget.rules.yml", "koumbit-backup.rules.yml",
              "koumbit-sites.rules.yml", "koumbit-certificates.rules.yml",
              "koumbit-advisories.rules.yml")
RULES_DESTS = tuple(f"{RULES_DIR}/{name}" for name in RULE_FILES)
CONFIG_DEST = "/etc/prometheus/prometheus.yml"


@dataclass(frozen=True)
class Target:
    """One ``host:port`` to scrape and the inventory server it belongs to."""

    address: str
    server: str


@dataclass(frozen=True)
class ScrapeJob:
    name: str
    targets: tuple[Target, ...]
    honor_labels: bool = False


def _targets(servers: tuple[Server, ...], port: int) -> tuple[Target, ...]:
    return tuple(Target(f"{s.address}:{port}", s.name)
                 for s in sorted(servers, key=lambda s: s.name))


def scrape_jobs(inv: Inventory) -> tuple[ScrapeJob, ...]:
    """Both exporters of every server, in a stable order (same file on every run)."""
    return (
        ScrapeJob("node", _targets(inv.servers, NODE_EXPORTER_PORT), honor_labels=True),
        ScrapeJob("koumbit", _targets(inv.servers, KOUMBIT_EXPORTER_PORT), honor_labels=True),
    )


def prometheus_files(inv: Inventory, server: Server) -> tuple[ConfigFile, ...]:
    """Files of Prometheus on a monitoring server (the rule files are copied, not rendered)."""
    return (
        ConfigFile("prometheus", "etc/default/prometheus.j2", "/etc/default/prometheus", "644",
                   {"listen": LISTEN, "retention": RETENTION}),
        ConfigFile("prometheus", "etc/prometheus/prometheus.yml.j2", CONFIG_DEST, "644",
                   {"jobs": scrape_jobs(inv), "interval": SCRAPE_INTERVAL_SECONDS,
                    "rule_files": RULES_DESTS, "monitor": server.name,
                    "self_target": Target(LISTEN, server.name),
                    "alertmanager": ALERTMANAGER,
                    "blackbox": Target(BLACKBOX_LISTEN, server.name), "probe_jobs": PROBE_JOBS}),
    )
