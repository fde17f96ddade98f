"""Requests and bytes served per site, from nginx's JSON access log of each site."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from koumbit_infra.exporter.config import ExporterConfig
from koumbit_infra.exporter.logtail import LogTail
from koumbit_infra.exporter.measurement import SITE_LABELS, Measurement

# The nginx log_format these logs are written in (templates/etc/nginx/conf.d/
# koumbit-log-format.conf.j2); numbers are bare, times as nginx prints them.
LOG_FORMAT_NAME = "koumbit_json"
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def log_path(log_root: Path, system_name: str) -> Path:
    return log_root / f"{system_name}.access.log"


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


@dataclass
class Traffic:
    """Running totals for one site since the exporter started reading its logs."""

    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUS_CLASSES, 0))
    sent_bytes: int = 0
    malformed_lines: int = 0

    def add(self, line: bytes) -> None:
        try:
            entry = json.loads(line)
            status, sent = int(entry["status"]), int(entry["bytes_sent"])
        except (ValueError, KeyError, TypeError):
            self.malformed_lines += 1
            return
        key = status_class(status)
        self.requests[key] = self.requests.get(key, 0) + 1
        self.sent_bytes += sent


class TrafficCollector(Measurement):
    """Requests by status class and bytes sent, per site, read incrementally from its log.

    # HELP koumbit_site_http_requests Requests served for the site, by status class.
    # TYPE koumbit_site_http_requests counter
    koumbit_site_http_requests_total{client="...",server="web1",site="...",status_class="2xx"} 42
    # HELP koumbit_site_http_sent_bytes Bytes sent to clients for the site, headers included.
    # TYPE koumbit_site_http_sent_bytes counter
    # HELP koumbit_http_log_malformed_lines Access log lines that were not koumbit_json.
    # TYPE koumbit_http_log_malformed_lines counter
    """

    name = "traffic"

    def __init__(self, config: ExporterConfig, *, log_root: Path | None = None) -> None:
        self.server = config.server
        root = log_root or config.paths.log_root
        self.tails = {
            site.labels: LogTail(log_path(root, site.system_name)) for site in config.local_sites
        }
        self.totals: dict[tuple[str, str, str], Traffic] = {}
        self.snapshot: dict[tuple[str, str, str], Traffic] = {}

    def refresh(self) -> list[str]:
        problems = []
        for labels, tail in self.tails.items():
            try:
                lines = tail.read_lines()
            except OSError as exc:
                problems.append(f"{tail.path}: {exc.strerror}")
                continue
            if tail.position is None and labels not in self.totals:
                continue  # no log yet: the site has not served anything
            totals = self.totals.setdefault(labels, Traffic())
            for line in lines:
                totals.add(line)
        # Copies, so the scrape thread never sees a half-updated site.
        self.snapshot = {
            labels: Traffic(dict(t.requests), t.sent_bytes, t.malformed_lines)
            for labels, t in self.totals.items()
        }
        return problems

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "koumbit_site_http_requests", "Requests served for the site, by status class.",
            labels=[*SITE_LABELS, "status_class"],
        )
        sent = CounterMetricFamily(
            "koumbit_site_http_sent_bytes",
            "Bytes sent to clients for the site, headers included.", labels=SITE_LABELS,
        )
        malformed = CounterMetricFamily(
            "koumbit_http_log_malformed_lines", "Access log lines that were not koumbit_json.",
            labels=["server"],
        )
        bad = 0
        for labels, traffic in self.snapshot.items():
            for status, count in traffic.requests.items():
                requests.add_metric([*labels, status], count)
            sent.add_metric(list(labels), traffic.sent_bytes)
            bad += traffic.malformed_lines
        malformed.add_metric([self.server], bad)
        yield from (requests, sent, malformed)
