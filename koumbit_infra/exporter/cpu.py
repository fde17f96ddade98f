"""CPU seconds and private memory of each site: its cgroup where it has one, else its
user's processes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from koumbit_infra.exporter.config import ExporterConfig
from koumbit_infra.exporter.measurement import SITE_LABELS, Measurement, paged
from koumbit_infra.exporter.proccpu import UserCpu
from koumbit_infra.exporter.users import UserTable, system_users, uids_of


def cgroup_cpu_seconds(directory: str | Path) -> float | None:
    """usage_usec of a cgroup v2 ``cpu.stat`` in seconds; None where there is no such cgroup."""
    try:
        with open(os.path.join(directory, "cpu.stat"), encoding="ascii") as handle:
            text = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "usage_usec":
            return int(value) / 1e6
    return None


def cgroup_anon_bytes(directory: str | Path) -> int | None:
    """``anon`` of a cgroup v2 ``memory.stat``: memory the group's processes hold privately."""
    try:
        with open(os.path.join(directory, "memory.stat"), encoding="ascii") as handle:
            for line in handle:
                name, _, value = line.partition(" ")
                if name == "anon":
                    return int(value)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None


class CpuCollector(Measurement):
    """CPU time of each site's processes (PHP workers, cron, shells), as a counter, and the
    memory they hold privately, as a gauge: one pass over the same processes gives both.

    # HELP koumbit_site_cpu_seconds CPU time used by the site's processes.
    # TYPE koumbit_site_cpu_seconds counter
    koumbit_site_cpu_seconds_total{client="...",server="web1",site="..."} 1234.5
    # HELP koumbit_site_memory_bytes Memory the site's processes hold privately (not shared).
    # TYPE koumbit_site_memory_bytes gauge
    koumbit_site_memory_bytes{client="...",server="web1",site="..."} 8.3886e+07
    """

    name = "cpu"

    def __init__(
        self,
        config: ExporterConfig,
        *,
        proc_root: Path | None = None,
        cgroup_root: Path | None = None,
        users: UserTable = system_users,
    ) -> None:
        self.sites = config.local_sites
        self.cgroup_root = cgroup_root or config.paths.cgroup_root
        self.site_cgroup = config.paths.site_cgroup
        self.users = users
        self.by_uid = UserCpu(proc_root or config.paths.proc_root)
        self.snapshot: dict[tuple[str, str, str], float] = {}
        self.memory: dict[tuple[str, str, str], float] = {}

    def refresh(self) -> list[str]:
        snapshot: dict[tuple[str, str, str], float] = {}
        memory: dict[tuple[str, str, str], float] = {}
        from_proc = []
        for site in self.sites:
            # A str, not a Path: pathlib would intern every site's name for good.
            group = os.path.join(self.cgroup_root,
                                 self.site_cgroup.format(system_name=site.system_name))
            seconds = cgroup_cpu_seconds(group)
            if seconds is None:
                from_proc.append(site)
            else:
                snapshot[site.labels] = seconds
                memory[site.labels] = float(cgroup_anon_bytes(group) or 0)
        uids = uids_of((s.system_name for s in from_proc), self.users)
        self.by_uid.refresh(set(uids))
        uid_of = {name: uid for uid, name in uids.items()}
        problems = []
        for site in from_proc:
            uid = uid_of.get(site.system_name)
            if uid is None:
                problems.append(f"{site.system_name}: no such user")
            else:
                snapshot[site.labels] = self.by_uid.seconds(uid)
                memory[site.labels] = float(self.by_uid.memory(uid))
        self.snapshot, self.memory = snapshot, memory
        return problems

    def collect(self, limit: int | None = None) -> Iterable[Metric]:
        yield from paged(lambda: CounterMetricFamily("koumbit_site_cpu_seconds",
                                                     "CPU time used by the site's processes.",
                                                     labels=SITE_LABELS),
                         self.snapshot.items(), limit)
        yield from paged(lambda: GaugeMetricFamily(
            "koumbit_site_memory_bytes",
            "Memory the site's processes hold privately (not shared).", labels=SITE_LABELS),
            self.memory.items(), limit)
