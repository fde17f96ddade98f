"""Disk used by each site: quota accounting where the filesystem keeps it, else a walk."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from koumbit_infra.exporter.config import DiskMethod, ExporterConfig, SiteEntry
from koumbit_infra.exporter.diskscan import ScanError, TreeWalk
from koumbit_infra.exporter.measurement import SITE_LABELS, Measurement, paged
from koumbit_infra.exporter.quota import parse_repquota, run_repquota
from koumbit_infra.exporter.users import UserTable, system_users, uids_of

Labels = tuple[str, str, str]
Snapshot = dict[Labels, float]


class DiskCollector(Measurement):
    """Bytes each site occupies on disk (code, uploads, tmp, sessions, logs).

    # HELP koumbit_site_disk_bytes Disk allocated to the site's tree.
    # TYPE koumbit_site_disk_bytes gauge
    koumbit_site_disk_bytes{client="...",server="web1",site="..."} 1.2345e+08
    # HELP koumbit_site_disk_scan_within_budget 1 if the site's last disk walk ended within budget.
    # TYPE koumbit_site_disk_scan_within_budget gauge
    koumbit_site_disk_scan_within_budget{client="...",server="web1",site="..."} 1.0

    The second family exists with the ``scan`` method only.
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
        clock: Callable[[], float] = time.monotonic,
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
        self.site_budget = config.disk.site_budget_seconds
        self.clock = clock
        self.snapshot: Snapshot = {}
        # Sites whose last walk did not fit in one budget (scan only).
        self.over_budget: frozenset[Labels] = frozenset()
        # Walks stopped at their budget, to go on at the next refresh.
        self._walks: dict[Labels, TreeWalk] = {}

    def refresh(self) -> list[str]:
        if self.method is DiskMethod.SCAN:
            return self._scan()
        return self._from_quota()

    def _scan(self) -> list[str]:
        """Walk the sites one after the other, publishing progress as it goes.

        Sites not reached yet keep their value from the previous pass, so a
        long pass over thousands of trees never blanks the metric. Each site
        walks for at most its budget; a walk that does not finish keeps the
        site's last complete figure, is flagged, and goes on where it stopped
        at the next refresh.
        """
        problems: list[str] = []
        wanted = {site.labels for site in self.sites}
        current = {key: value for key, value in self.snapshot.items() if key in wanted}
        over = set(self.over_budget & wanted)
        published = self.clock()
        for site in self.sites:
            key = site.labels
            # A str, not a Path: pathlib would intern every site's name for good.
            walk = self._walks.pop(key, None) or TreeWalk(
                os.path.join(self.sites_root, site.system_name))
            try:
                done = walk.run(self.clock() + self.site_budget, self.clock)
            except ScanError as exc:
                current.pop(key, None)
                over.discard(key)
                problems.append(str(exc))
            else:
                if done:
                    current[key] = float(walk.bytes)
                else:
                    self._walks[key] = walk
                if done and walk.passes == 1:
                    over.discard(key)
                else:  # still going, or finished over several refreshes
                    over.add(key)
            if self.clock() - published > self.publish_every:
                self.snapshot, self.over_budget = dict(current), frozenset(over)
                published = self.clock()
        self.snapshot, self.over_budget = current, frozenset(over)
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
        yield from paged(lambda: GaugeMetricFamily("koumbit_site_disk_bytes",
                                                   "Disk allocated to the site's tree.",
                                                   labels=SITE_LABELS),
                         self.snapshot.items(), limit)
        if self.method is DiskMethod.SCAN:
            over = self.over_budget
            yield from paged(lambda: GaugeMetricFamily(
                "koumbit_site_disk_scan_within_budget",
                "1 if the site's last disk walk ended within budget.",
                labels=SITE_LABELS),
                ((s.labels, 0 if s.labels in over else 1) for s in self.sites), limit)
