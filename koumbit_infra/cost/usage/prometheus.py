"""Usage read from Prometheus: the exporter's per-site series, over a month.

Series (labels ``server``, ``site``, ``client``), from the koumbit exporter:

- ``koumbit_site_cpu_seconds_total``: counter of CPU seconds used by the site's PHP pool;
- ``koumbit_site_disk_bytes``: gauge of the site's files on disk;
- ``koumbit_site_database_bytes``: gauge of the site's database (``server`` is the
  database server);
- ``koumbit_site_memory_bytes``: gauge of the memory the site's processes hold
  privately (resident, not shared).

One range query per metric, one point per step (an hour by default) over the
month, from its first midnight in the budget's time zone (Montreal's for the
collective) to the next month's, so a month has 743 or 745 hours where the
clocks change: the CPU point is the counter's increase over that hour, the disk
points the hour's average, the memory points the hour's average held for the
hour (byte-seconds). Coverage on a server is the share of the month's
steps that have any point for the site there, so a site that moved mid-month
shows up on both servers with its part of the month on each, and hours with
no data fall back to the reservation. A resource with no series at all (an
older exporter) is charged at the reservation.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from koumbit_infra.cost.period import Month
from koumbit_infra.cost.usage.records import Usage, UsageSourceError

CPU = "koumbit_site_cpu_seconds_total"
DISK = "koumbit_site_disk_bytes"
DATABASE = "koumbit_site_database_bytes"
MEMORY = "koumbit_site_memory_bytes"

Series = dict[tuple[str, str], dict[int, Decimal]]  # (server, site) -> {timestamp: value}


@dataclass(frozen=True)
class PrometheusUsage:
    """Usage over a month from the Prometheus HTTP API at ``base_url``."""

    base_url: str
    # The accounting months' time zone (the budget's): a month is read from its first
    # midnight there to the next month's.
    zone: tzinfo = UTC
    step_seconds: int = 3600
    timeout_seconds: float = 60.0
    # How an API URL's body is fetched: HTTP from here by default; the SSH source
    # runs the request on the monitoring server, where Prometheus listens.
    fetch: Callable[[str], bytes] | None = None
    where: str = ""

    @property
    def label(self) -> str:
        return f"prometheus {self.base_url.rstrip('/')}{self.where}"

    def usage(self, month: Month) -> Sequence[Usage]:
        window = f"{self.step_seconds}s"
        cpu = self.range_query(
            f"sum by (server, site) (increase({CPU}[{window}]))", month)
        disk = self.range_query(
            f"sum by (server, site) (avg_over_time({DISK}[{window}]))", month)
        database = self.range_query(
            f"sum by (server, site) (avg_over_time({DATABASE}[{window}]))", month)
        memory = self.range_query(
            f"sum by (server, site) (avg_over_time({MEMORY}[{window}]))", month)
        return usage_from_series(self.steps(month), cpu=cpu, disk=disk, database=database,
                                 memory=memory, step_seconds=self.step_seconds)

    def steps(self, month: Month) -> int:
        """Points in ``month`` (one per step; 743 or 745 hours where clocks change)."""
        seconds = month.end_time(self.zone).timestamp() - month.start_time(self.zone).timestamp()
        return int(seconds) // self.step_seconds

    def range_query(self, query: str, month: Month) -> Series:
        """``query`` evaluated every step over ``month``, as points per (server, site)."""
        start = int(month.start_time(self.zone).timestamp()) + self.step_seconds
        end = int(month.end_time(self.zone).timestamp())
        return self.points(query, start, end, self.step_seconds, ("server", "site"))

    def points(self, query: str, start: int, end: int, step: int,
               labels: tuple[str, str] = ("server", "site")) -> Series:
        """``query`` every ``step`` seconds from ``start`` to ``end`` (Unix times), as points
        per pair of ``labels`` values; series missing either label are left out."""
        data = self._get("/api/v1/query_range", {
            "query": query, "start": str(start), "end": str(end), "step": str(step),
        })
        if data.get("resultType") != "matrix":
            raise UsageSourceError(f"{self.label}: expected a matrix for {query!r}")
        found: Series = defaultdict(dict)
        first, second = labels
        for series in data.get("result", []):
            metric = series.get("metric", {})
            key = (str(metric.get(first, "")), str(metric.get(second, "")))
            if not all(key):
                continue  # a series without server or site cannot be charged to anyone
            for timestamp, text in series.get("values", []):
                value = _number(text)
                if value is not None:
                    found[key][int(float(timestamp))] = value
        return dict(found)

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = f"{self.base_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
        if not url.startswith(("http://", "https://")):
            raise UsageSourceError(f"{self.base_url}: not an http(s) URL")
        try:
            raw = self.fetch(url) if self.fetch else self._http(url)
            body = json.loads(raw)
        except urllib.error.HTTPError as exc:
            raise UsageSourceError(f"{self.label}: HTTP {exc.code} for {params['query']!r}: "
                                   f"{_error_text(exc)}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise UsageSourceError(f"{self.label}: cannot read usage ({exc})") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", "no error given") if isinstance(body, dict) else body
            raise UsageSourceError(f"{self.label}: query failed: {error}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise UsageSourceError(f"{self.label}: answer without data")
        return data

    def _http(self, url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=self.timeout_seconds) as answer:  # noqa: S310
            body: bytes = answer.read()
            return body


def usage_from_series(
    steps: int, *, cpu: Series, disk: Series, database: Series, memory: Series | None = None,
    step_seconds: int = 3600,
) -> list[Usage]:
    """Per (server, site) usage from the metrics' points over ``steps`` steps (pure)."""
    memory = memory or {}
    keys = sorted(set(cpu) | set(disk) | set(database) | set(memory))
    found = []
    for key in keys:
        stamps = (set(cpu.get(key, {})) | set(disk.get(key, {})) | set(database.get(key, {}))
                  | set(memory.get(key, {})))
        coverage = min(Decimal(len(stamps)) / Decimal(steps), Decimal(1))
        cpu_points = cpu.get(key)
        cpu_seconds = sum(cpu_points.values(), Decimal(0)) if cpu_points else None
        memory_points = memory.get(key)
        memory_seconds = (sum(memory_points.values(), Decimal(0)) * step_seconds
                          if memory_points else None)
        disk_average = _average(disk.get(key))
        database_average = _average(database.get(key))
        on_disk = None
        if disk_average is not None or database_average is not None:
            on_disk = (disk_average or Decimal(0)) + (database_average or Decimal(0))
        found.append(Usage(
            site=key[1],
            server=key[0],
            coverage=coverage,
            cpu_core_seconds=cpu_seconds,
            memory_byte_seconds=memory_seconds,
            disk_bytes_average=on_disk,
        ))
    return found


def _average(points: dict[int, Decimal] | None) -> Decimal | None:
    if not points:
        return None
    return sum(points.values(), Decimal(0)) / len(points)


def _number(text: object) -> Decimal | None:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    # A counter reset can make increase() slightly negative on some versions; never charge it.
    return value if value.is_finite() and value >= 0 else None


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        return exc.reason if isinstance(exc.reason, str) else "no detail"
    return str(body.get("error", exc.reason)) if isinstance(body, dict) else str(exc.reason)
