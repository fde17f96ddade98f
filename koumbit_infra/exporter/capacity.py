"""Capacity of the server: what its sites were promised against what it has."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from koumbit_infra.exporter.config import ExporterConfig
from koumbit_infra.exporter.measurement import PagedCollector


def headroom(capacity: int, committed: list[int]) -> int | None:
    """How many more sites of the median commitment fit (negative: overcommitted by that many)."""
    if not committed:
        return None
    median = statistics.median(committed)
    return int((capacity - sum(committed)) // median)


class CapacityCollector(PagedCollector):
    """Committed against physical disk and PHP memory, sites hosted and headroom.

    Capacity is the server's declared size from the inventory (node_exporter
    reports the measured one); commitments are the sites' quotas and
    PHP-FPM max_children x memory_limit, as the plans promise them.

    # HELP koumbit_server_disk_bytes Disk for sites and data, as declared in the inventory.
    # TYPE koumbit_server_disk_bytes gauge
    # HELP koumbit_server_disk_committed_bytes Sum of the disk quotas of the server's sites.
    # TYPE koumbit_server_disk_committed_bytes gauge
    # HELP koumbit_server_memory_bytes Memory, as declared in the inventory.
    # TYPE koumbit_server_memory_bytes gauge
    # HELP koumbit_server_php_memory_committed_bytes Sum over sites of PHP workers x memory_limit.
    # TYPE koumbit_server_php_memory_committed_bytes gauge
    # HELP koumbit_server_sites Sites hosted on the server.
    # TYPE koumbit_server_sites gauge
    # HELP koumbit_server_headroom_sites More sites of the median commitment that fit, by resource.
    # TYPE koumbit_server_headroom_sites gauge
    """

    def __init__(self, config: ExporterConfig) -> None:
        self.config = config

    def collect(self, limit: int | None = None) -> Iterable[Metric]:  # a few samples
        server = [self.config.server]
        sites = self.config.local_sites
        disk = [s.disk_quota_bytes for s in sites]
        memory = [s.php_memory_committed_bytes for s in sites]
        capacity = self.config.capacity

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=["server"])
            family.add_metric(server, value)
            return family

        yield gauge("koumbit_server_disk_bytes",
                    "Disk for sites and data, as declared in the inventory.", capacity.disk_bytes)
        yield gauge("koumbit_server_disk_committed_bytes",
                    "Sum of the disk quotas of the server's sites.", sum(disk))
        yield gauge("koumbit_server_memory_bytes",
                    "Memory, as declared in the inventory.", capacity.memory_bytes)
        yield gauge("koumbit_server_php_memory_committed_bytes",
                    "Sum over sites of PHP workers x memory_limit.", sum(memory))
        yield gauge("koumbit_server_sites", "Sites hosted on the server.", len(sites))
        room = GaugeMetricFamily(
            "koumbit_server_headroom_sites",
            "More sites of the median commitment that fit, by resource.",
            labels=["server", "resource"],
        )
        for resource, cap, committed in (
            ("disk", capacity.disk_bytes, disk),
            ("memory", capacity.memory_bytes, memory),
        ):
            fit = headroom(cap, committed)
            if fit is not None:
                room.add_metric([self.config.server, resource], fit)
        yield room
