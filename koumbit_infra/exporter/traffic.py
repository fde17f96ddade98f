"""Requests and bytes served per site, from nginx's JSON access log of each site."""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from koumbit_infra.exporter.config import ExporterConfig
from koumbit_infra.exporter.logtail import LogTail
from koumbit_infra.exporter.measurement import SITE_LABELS, Measurement, paged

# The nginx log_format these logs are written in (templates/etc/nginx/conf.d/
# koumbit-log-format.conf.j2); numbers are bare, times as nginx prints them.
LOG_FORMAT_NAME = "koumbit_json"
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

# Each site's running totals are SLOTS consecutive 64-bit integers of one
# array (64 bytes a site, where a dataclass holding a dict took about 700):
# requests of each status class, requests of any other status, bytes sent,
# malformed lines.
OTHER = len(STATUS_CLASSES)
SENT = OTHER + 1
MALFORMED = SENT + 1
SLOTS = MALFORMED + 1


def log_path(log_root: Path, system_name: str) -> str:
    """The site's log, as a str: a Path would intern the site's name for good (pathlib does)."""
    return os.path.join(log_root, f"{system_name}.access.log")


def parse_line(line: bytes) -> tuple[int, int] | None:
    """(slot of the status class, bytes sent) of a koumbit_json line; None if malformed."""
    try:
        entry = json.loads(line)
        status, sent = int(entry["status"]), int(entry["bytes_sent"])
    except (ValueError, KeyError, TypeError):
        return None
    return (status // 100 - 1 if 100 <= status <= 599 else OTHER), sent


class TrafficCollector(Measurement):
    """Requests by status class and bytes sent, per site, read incrementally from its log.

    # HELP koumbit_site_http_requests Requests served for the site, by status class.
    # TYPE koumbit_site_http_requests counter
    koumbit_site_http_requests_total{client="...",server="web1",site="...",status_class="2xx"} 42
    # HELP koumbit_site_http_sent_bytes Bytes sent to clients for the site, headers included.
    # TYPE koumbit_site_http_sent_bytes counter
    # HELP koumbit_http_log_malformed_lines Access log lines that were not koumbit_json.
    # TYPE koumbit_http_log_malformed_lines counter

    A site has series once its log has existed; the class ``other`` (a
    status outside 100-599) once it has been seen. Totals count since the
    exporter started reading the logs.
    """

    name = "traffic"

    def __init__(self, config: ExporterConfig, *, log_root: Path | None = None) -> None:
        self.server = config.server
        root = log_root or config.paths.log_root
        self.sites = config.local_sites
        self.tails = tuple(LogTail(log_path(root, site.system_name)) for site in self.sites)
        self._seen = bytearray(len(self.sites))  # 1 once the site's log has existed
        self._totals = array("q", bytes(8 * SLOTS * len(self.sites)))
        # Copies, swapped in whole, so the scrape thread never sees a half-updated site.
        self.snapshot: tuple[bytes, array[int]] = (bytes(self._seen), array("q", self._totals))

    def refresh(self) -> list[str]:
        problems = []
        seen, totals = self._seen, self._totals
        for index, tail in enumerate(self.tails):
            try:
                lines = tail.read_lines()
            except OSError as exc:
                problems.append(f"{tail.path}: {exc.strerror}")
                continue
            if tail.position is None and not seen[index]:
                continue  # no log yet: the site has not served anything
            seen[index] = 1
            base = index * SLOTS
            for line in lines:
                parsed = parse_line(line)
                if parsed is None:
                    totals[base + MALFORMED] += 1
                else:
                    totals[base + parsed[0]] += 1
                    totals[base + SENT] += parsed[1]
        self.snapshot = (bytes(seen), array("q", totals))
        return problems

    def collect(self, limit: int | None = None) -> Iterable[Metric]:
        seen, totals = self.snapshot  # one read: every family shows the same refresh

        def requests() -> Iterator[tuple[tuple[str, ...], int]]:
            for index, site in enumerate(self.sites):
                if seen[index]:
                    base = index * SLOTS
                    for slot, status in enumerate(STATUS_CLASSES):
                        yield (*site.labels, status), totals[base + slot]
                    if totals[base + OTHER]:
                        yield (*site.labels, "other"), totals[base + OTHER]

        yield from paged(lambda: CounterMetricFamily(
            "koumbit_site_http_requests", "Requests served for the site, by status class.",
            labels=[*SITE_LABELS, "status_class"]), requests(), limit)
        yield from paged(lambda: CounterMetricFamily(
            "koumbit_site_http_sent_bytes",
            "Bytes sent to clients for the site, headers included.", labels=SITE_LABELS),
            ((site.labels, totals[index * SLOTS + SENT])
             for index, site in enumerate(self.sites) if seen[index]), limit)
        malformed = CounterMetricFamily(
            "koumbit_http_log_malformed_lines", "Access log lines that were not koumbit_json.",
            labels=["server"],
        )
        malformed.add_metric([self.server], sum(totals[MALFORMED::SLOTS]))
        yield malformed
