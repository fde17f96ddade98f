"""PHP-FPM saturation per site, from each pool's status page over FastCGI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import NamedTuple

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from koumbit_infra.exporter import fastcgi
from koumbit_infra.exporter.config import ExporterConfig
from koumbit_infra.exporter.measurement import SITE_LABELS, Measurement, paged

StatusFetcher = Callable[[str, str], bytes]


class PoolStatus(NamedTuple):
    """One pool's figures: a tuple (64 bytes; a dataclass with its dict is about 250)."""

    active: int
    listen_queue: int
    max_children_reached: int


def parse_status(body: bytes) -> PoolStatus:
    """The figures we export, from the body of ``/fpm-status?json``."""
    data = json.loads(body)
    return PoolStatus(
        active=int(data["active processes"]),
        listen_queue=int(data["listen queue"]),
        max_children_reached=int(data["max children reached"]),
    )


def fetch_status(socket_path: str, status_path: str) -> bytes:
    return fastcgi.get(socket_path, status_path, "json", timeout=2.0)


class PhpFpmCollector(Measurement):
    """Busy workers, queued connections and how often each pool hit max_children.

    # HELP koumbit_site_php_active_workers PHP-FPM workers of the site serving a request.
    # TYPE koumbit_site_php_active_workers gauge
    # HELP koumbit_site_php_listen_queue_requests Connections waiting for a free worker.
    # TYPE koumbit_site_php_listen_queue_requests gauge
    # HELP koumbit_site_php_max_children_reached Times the pool hit max_children (since FPM start).
    # TYPE koumbit_site_php_max_children_reached counter
    koumbit_site_php_max_children_reached_total{client="...",server="web1",site="..."} 3.0
    """

    name = "php"

    def __init__(self, config: ExporterConfig, *, fetch: StatusFetcher = fetch_status) -> None:
        # A disabled site's pool is stopped on purpose: asking it would only fail.
        self.sites = tuple(s for s in config.local_sites if s.php_pool)
        self.socket_template = config.paths.php_status_socket
        self.status_path = config.paths.php_status_path
        self.fetch = fetch
        self.snapshot: dict[tuple[str, str, str], PoolStatus] = {}

    def refresh(self) -> list[str]:
        snapshot: dict[tuple[str, str, str], PoolStatus] = {}
        problems = []
        for site in self.sites:
            socket_path = self.socket_template.format(system_name=site.system_name)
            try:
                snapshot[site.labels] = parse_status(self.fetch(socket_path, self.status_path))
            except (OSError, fastcgi.FastCgiError, ValueError, KeyError) as exc:
                problems.append(f"{socket_path}: {exc}")
        self.snapshot = snapshot
        return problems

    def collect(self, limit: int | None = None) -> Iterable[Metric]:
        snapshot = self.snapshot  # one read: the three families show the same refresh
        yield from paged(lambda: GaugeMetricFamily(
            "koumbit_site_php_active_workers", "PHP-FPM workers of the site serving a request.",
            labels=SITE_LABELS), ((k, s.active) for k, s in snapshot.items()), limit)
        yield from paged(lambda: GaugeMetricFamily(
            "koumbit_site_php_listen_queue_requests", "Connections waiting for a free worker.",
            labels=SITE_LABELS), ((k, s.listen_queue) for k, s in snapshot.items()), limit)
        yield from paged(lambda: CounterMetricFamily(
            "koumbit_site_php_max_children_reached",
            "Times the pool hit max_children (since FPM start).", labels=SITE_LABELS),
            ((k, s.max_children_reached) for k, s in snapshot.items()), limit)
