"""The running exporter: its collectors, their schedules and the HTTP server."""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from koumbit_infra.exporter.advisories import AdvisoryCollector
from koumbit_infra.exporter.capacity import CapacityCollector
from koumbit_infra.exporter.config import ExporterConfig
from koumbit_infra.exporter.cpu import CpuCollector
from koumbit_infra.exporter.database import DatabaseCollector, QueryRunner
from koumbit_infra.exporter.disk import DiskCollector
from koumbit_infra.exporter.exposition import Exposition, MetricsServer, serve
from koumbit_infra.exporter.measurement import Job, Measurement, PagedCollector
from koumbit_infra.exporter.memory import tune_malloc
from koumbit_infra.exporter.phpfpm import PhpFpmCollector, StatusFetcher, fetch_status
from koumbit_infra.exporter.selfmetrics import SelfCollector
from koumbit_infra.exporter.siteinfo import SiteInfoCollector
from koumbit_infra.exporter.traffic import TrafficCollector
from koumbit_infra.exporter.users import UserTable, system_users

SWITCH_INTERVAL = 0.001  # seconds; CPython's default is 0.005
DISK_NICE = 10  # the walk yields the CPU to PHP; the scrape thread keeps its priority


@dataclass
class Seams:
    """Where the exporter touches the system; tests and the bench replace them."""

    users: UserTable = system_users
    php_status: StatusFetcher = fetch_status
    database_query: QueryRunner | None = None
    clock: Callable[[], float] = time.monotonic  # seconds; what time budgets are measured by


@dataclass
class Exporter:
    config: ExporterConfig
    jobs: list[Job]
    static: list[PagedCollector]
    self_metrics: SelfCollector
    exposition: Exposition
    _stop: threading.Event = field(default_factory=threading.Event)
    _server: MetricsServer | None = None

    def registry(self) -> CollectorRegistry:
        """Every collector in one registry (what /metrics shows, rendered live)."""
        registry = CollectorRegistry(auto_describe=False)
        for collector in [*self.static, *(j.measurement for j in self.jobs), self.self_metrics]:
            registry.register(collector)
        return registry

    def start(self, serve_http: bool = True) -> None:
        # The refresh threads hold the GIL in long pure-Python stretches; a
        # shorter switch interval lets the thread answering a scrape in sooner.
        sys.setswitchinterval(SWITCH_INTERVAL)
        tune_malloc()  # before the threads: each would take an arena of its own
        # What is alive now (modules, the configuration, the collectors' state
        # per site) lives as long as the process. Frozen out of the cyclic
        # collector's sight, it is not walked by every full collection, which
        # held the GIL 11 ms at 1,000 sites: the slowest scrapes waited for it.
        gc.collect()
        gc.freeze()
        for job in self.jobs:
            job.start(self._stop)
        if serve_http:
            self._server = serve(self.exposition, self.config.listen_address, self.config.port)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for job in self.jobs:
            job.join(timeout=5)


def build(config: ExporterConfig, seams: Seams | None = None) -> Exporter:
    """The exporter for ``config``; paths come from its [paths] table."""
    seams = seams or Seams()
    every = config.refresh_seconds
    measurements: list[tuple[Measurement, float, int]] = [
        (DiskCollector(config, users=seams.users, clock=seams.clock), every.disk, DISK_NICE),
        (CpuCollector(config, users=seams.users), every.cpu, 0),
        (TrafficCollector(config), every.traffic, 0),
        (PhpFpmCollector(config, fetch=seams.php_status), every.php, 0),
        (AdvisoryCollector(config), every.audit, 0),
    ]
    if config.database.enabled:
        measurements.append(
            (DatabaseCollector(config, query=seams.database_query), every.database, 0)
        )
    static: list[PagedCollector] = [CapacityCollector(config), SiteInfoCollector(config)]
    exposition_box: list[Exposition] = []

    def rerender(job: Job) -> None:
        if exposition_box:
            exposition_box[0].update(job.measurement)
            exposition_box[0].update(self_metrics)  # the job's status changed with it

    jobs = [Job(m, interval, nice=nice, on_refreshed=rerender)
            for m, interval, nice in measurements]
    self_metrics = SelfCollector(config.server, jobs)
    exposition = Exposition([*static, *(j.measurement for j in jobs), self_metrics])
    exposition_box.append(exposition)
    return Exporter(config, jobs, static, self_metrics, exposition)


def with_roots(config: ExporterConfig, **roots: Path) -> ExporterConfig:
    """``config`` with some [paths] replaced (fixture trees, the bench's generated tree)."""
    changes: dict[str, Any] = dict(roots)
    return replace(config, paths=replace(config.paths, **changes))
