"""The exporter's own health: is it up, and how did each measurement last go."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from koumbit_infra.exporter.measurement import Job, PagedCollector


class SelfCollector(PagedCollector):
    """Exporter and per-collector health, from the jobs' last runs.

    # HELP koumbit_up 1 while the exporter runs with a valid configuration.
    # TYPE koumbit_up gauge
    # HELP koumbit_collector_success 1 if the collector's last refresh succeeded for every item.
    # TYPE koumbit_collector_success gauge
    # HELP koumbit_collector_duration_seconds Duration of the collector's last refresh.
    # TYPE koumbit_collector_duration_seconds gauge
    # HELP koumbit_collector_last_success_timestamp_seconds When the collector last succeeded.
    # TYPE koumbit_collector_last_success_timestamp_seconds gauge
    # HELP koumbit_collector_errors Items (sites, pools) that failed in the last refresh.
    # TYPE koumbit_collector_errors gauge
    """

    def __init__(self, server: str, jobs: Sequence[Job]) -> None:
        self.server = server
        self.jobs = jobs

    def collect(self, limit: int | None = None) -> Iterable[Metric]:  # a few samples
        up = GaugeMetricFamily(
            "koumbit_up", "1 while the exporter runs with a valid configuration.",
            labels=["server"],
        )
        up.add_metric([self.server], 1)
        yield up
        labels = ["server", "collector"]
        success = GaugeMetricFamily(
            "koumbit_collector_success",
            "1 if the collector's last refresh succeeded for every item.", labels=labels,
        )
        duration = GaugeMetricFamily(
            "koumbit_collector_duration_seconds", "Duration of the collector's last refresh.",
            labels=labels, unit="seconds",
        )
        last = GaugeMetricFamily(
            "koumbit_collector_last_success_timestamp_seconds",
            "When the collector last succeeded.", labels=labels,
        )
        errors = GaugeMetricFamily(
            "koumbit_collector_errors",
            "Items (sites, pools) that failed in the last refresh.", labels=labels,
        )
        for job in self.jobs:
            status = job.status  # one read: the job swaps whole statuses in
            key = [self.server, job.name]
            success.add_metric(key, 1 if status.success else 0)
            errors.add_metric(key, status.errors)
            if status.runs:
                duration.add_metric(key, status.duration_seconds)
            if status.last_success_timestamp is not None:
                last.add_metric(key, status.last_success_timestamp)
        yield from (success, duration, last, errors)
