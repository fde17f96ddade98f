"""Growth measured over time: straight-line trends, and each server's use from Prometheus.

A trend is a least-squares line through the points, with the standard error of its
slope: the proposal's low and high bounds move the slope down and up by that error,
pivoting on the points' mean, so a trend measured on few or scattered points gives
wide bounds. Server use comes from the koumbit exporter's per-site series, summed per
server, every six hours over the last 90 days (what the monitoring server keeps):

- disk: files plus databases (``koumbit_site_disk_bytes`` + ``koumbit_site_database_bytes``,
  the latter on the database server), against the server's disk;
- memory: ``koumbit_site_memory_bytes``, against its memory;
- CPU: the rate of ``koumbit_site_cpu_seconds_total`` in cores, against its cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from koumbit_infra.cost import PrometheusUsage, Series
from koumbit_infra.inventory import Inventory, Role
from koumbit_infra.inventory.models import GIB

DAY = 86400
ZERO = Decimal(0)


@dataclass(frozen=True)
class Trend:
    """A straight line through measured points: x in days (Unix time / 86,400), y a level."""

    points: int
    mean_x: Decimal
    mean_y: Decimal
    slope: Decimal  # per day
    slope_error: Decimal  # standard error of the slope, per day (0 under 3 points)
    last_x: Decimal

    def at(self, x: Decimal, slope: Decimal | None = None) -> Decimal:
        """The level on day ``x``, on this line or on one of ``slope`` through the same mean."""
        return self.mean_y + (self.slope if slope is None else slope) * (x - self.mean_x)

    def per_month(self, value: Decimal) -> Decimal:
        """A per-day ``value`` over an average month (365.25 / 12 days)."""
        return value * Decimal("30.4375")


def fit(points: Sequence[tuple[Decimal, Decimal]]) -> Trend | None:
    """The least-squares line through ``points`` (x, y); None under two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    n = Decimal(len(points))
    mean_x = sum((x for x, _ in points), ZERO) / n
    mean_y = sum((y for _, y in points), ZERO) / n
    sxx = sum(((x - mean_x) ** 2 for x, _ in points), ZERO)
    sxy = sum(((x - mean_x) * (y - mean_y) for x, y in points), ZERO)
    slope = sxy / sxx
    error = ZERO
    if len(points) > 2:
        residuals = sum(((y - mean_y - slope * (x - mean_x)) ** 2 for x, y in points), ZERO)
        error = (residuals / (n - 2) / sxx).sqrt()
    return Trend(len(points), mean_x, mean_y, slope, error, max(x for x, _ in points))


@dataclass(frozen=True)
class ServerUse:
    """One resource of one server: what it holds, measured over time, against what it has."""

    server: str
    resource: str  # "disk", "memory" or "cpu"
    capacity: Decimal  # in ``unit``
    unit: str  # "GiB" or "cores"
    trend: Trend | None  # None: not enough measurements
    source: str  # where the points came from


class GrowthSource(Protocol):
    """Anything that tells how the servers' use grew."""

    @property
    def label(self) -> str: ...

    def server_use(self, inv: Inventory, now: datetime) -> tuple[ServerUse, ...]:
        """Each web server's disk, memory and CPU over time, up to ``now``."""
        ...


_QUERIES = {
    "disk": ("sum by (server) (avg_over_time(koumbit_site_disk_bytes[6h]))",
             "sum by (server) (avg_over_time(koumbit_site_database_bytes[6h]))"),
    "memory": ("sum by (server) (avg_over_time(koumbit_site_memory_bytes[6h]))",),
    "cpu": ("sum by (server) (rate(koumbit_site_cpu_seconds_total[6h]))",),
}


@dataclass(frozen=True)
class PrometheusGrowth:
    """Server use from a Prometheus (the same client ``cost close`` reads usage with)."""

    prometheus: PrometheusUsage
    days: int = 90
    step_seconds: int = 6 * 3600

    @property
    def label(self) -> str:
        return self.prometheus.label

    def server_use(self, inv: Inventory, now: datetime) -> tuple[ServerUse, ...]:
        end = int(now.timestamp()) // self.step_seconds * self.step_seconds
        start = end - self.days * DAY
        measured: dict[str, dict[str, dict[int, Decimal]]] = {}
        for resource, queries in _QUERIES.items():
            total: dict[str, dict[int, Decimal]] = {}
            for query in queries:
                series = self.prometheus.points(query, start, end, self.step_seconds,
                                                ("server", "server"))
                _add(total, series)
            measured[resource] = total
        found = []
        for server in inv.servers_with(Role.WEB):
            for resource, capacity, unit, scale in (
                ("disk", Decimal(server.size.disk_gib), "GiB", Decimal(GIB)),
                ("memory", Decimal(server.size.memory_gib), "GiB", Decimal(GIB)),
                ("cpu", Decimal(server.size.cpus), "cores", Decimal(1)),
            ):
                points = measured[resource].get(server.name, {})
                trend = fit([(Decimal(t) / DAY, v / scale) for t, v in sorted(points.items())])
                found.append(ServerUse(
                    server.name, resource, capacity, unit, trend,
                    f"{self.label}: {' + '.join(_QUERIES[resource])}, every"
                    f" {self.step_seconds // 3600} h over {self.days} days"))
        return tuple(found)


def _add(total: dict[str, dict[int, Decimal]], series: Series) -> None:
    for (server, _), points in series.items():
        into = total.setdefault(server, {})
        for stamp, value in points.items():
            into[stamp] = into.get(stamp, ZERO) + value
