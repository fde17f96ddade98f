"""Disk used by each site: quota accounting where the filesystem keeps it, else a walk."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from koumbit_infra.exporter.config import DiskMethod, ExporterConfig, SiteEntry
from koumbit_infra.exporter.diskscan import ScanError, tree_bytes
from koumbit_infra.exporter.measurement import SITE_LABELS, Measurement, paged
from koumbit_infra.exporter.quota import parse_repquota, run_repquota
from koumbit_infra.exporter.users import UserTable, system_users, uids_of

Snapshot = dict[tuple[str, str, str], float]


class DiskCollector(Measurement):
    """Bytes each site occupies on disk (code, uploads, tmp, sessions, logs).

    # HELP koumbit_site_disk_bytes Disk allocated to the site's tree.
    # TYPE koumbit_site_disk_bytes gauge
    koumbit_site_disk_bytes{client="...",server="web1",site="..."} 1.2345e+08
    """

    name = "disk"

    def __init__(
        self,
        config: ExporterConfig,
        *,
        sites_root: Path | None = None,
        users: UserTable = system_users,
        repquota: Callable[[str], str] | None = None,
        publish_every: float = 10.0,
    ) -> None:
        self.sites = config.local_sites
        self.method = config.disk.method
        self.sites_root = sites_root or config.paths.sites_root
        self.users = users
        kind = "project" if self.method is DiskMethod.PROJECT_QUOTA else "user"
        self.repquota = repquota or (
            lambda _kind: run_repquota(config.disk.repquota, kind, config.disk.quota_filesystem)
        )
        self.publish_every = publish_every
        self.snapshot: Snapshot = {}

    def refresh(self) -> list[str]:
        if self.method is DiskMethod.SCAN:
            return self._scan()
        return self._from_quota()

    def _scan(self) -> list[str]:
        """Walk the sites one after the other, publishing progress as it goes.

        Sites not reached yet keep their value from the previous pass, so a
        long pass over thousands of trees never blanks the metric.
        """
        problems: list[str] = []
        current = dict(self.snapshot)
        wanted = {site.labels for site in self.sites}
        for key in list(current):
            if key not in wanted:
                del current[key]
        published = time.monotonic()
        for site in self.sites:
            try:
                # A str, not a Path: pathlib would intern every site's name for good.
                current[site.labels] = tree_bytes(os.path.join(self.sites_root, site.system_name))
            except ScanError as exc:
                current.pop(site.labels, None)
                problems.append(str(exc))
            if time.monotonic() - published > self.publish_every:
                self.snapshot = dict(current)
                published = time.monotonic()
        self.snapshot = current
        return problems

    def _from_quota(self) -> list[str]:
        used = parse_repquota(self.repquota(self.method.value))
        ids: dict[int, SiteEntry]
        problems: list[str] = []
        if self.method is DiskMethod.PROJECT_QUOTA:
            ids = {s.project_id: s for s in self.sites if s.project_id is not None}
        else:
            by_name = {s.system_name: s for s in self.sites}
            uids = uids_of(by_name, self.users)
            ids = {uid: by_name[name] for uid, name in uids.items()}
            problems = [f"{s.system_name}: no such user" for s in self.sites
                        if s.system_name not in uids.values()]
        # An id with no row owns no block on that filesystem yet.
        self.snapshot = {site.labels: float(used.get(i, 0)) for i, site in ids.items()}
        return problems

    def collect(self, limit: int | None = None) -> Iterable[Metric]:
        return paged(lambda: GaugeMetricFamily("koumbit_site_disk_bytes",
                                               "Disk allocated to the site's tree.",
                                               labels=SITE_LABELS),
                     self.snapshot.items(), limit)
