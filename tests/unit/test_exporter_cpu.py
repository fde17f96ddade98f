"""CPU per site from a fake /proc (process churn, pid reuse) and from cgroup v2 cpu.stat."""

from __future__ import annotations

import shutil
from pathlib import Path

from fixtures.exporter.fakes import SITES, make_config, site_cgroup, users, write_process
from prometheus_client import CollectorRegistry

from koumbit_infra.exporter.cpu import CpuCollector
from koumbit_infra.exporter.proccpu import CLOCK_TICKS, PAGE_SIZE

ALPHA, BETA = 1001, 1002


def cpu(registry: CollectorRegistry, index: int) -> float | None:
    domain, _name, client, *_ = SITES[index]
    return registry.get_sample_value(
        "koumbit_site_cpu_seconds_total", {"server": "web1", "site": domain, "client": client}
    )


def memory(registry: CollectorRegistry, index: int) -> float | None:
    domain, _name, client, *_ = SITES[index]
    return registry.get_sample_value(
        "koumbit_site_memory_bytes", {"server": "web1", "site": domain, "client": client}
    )


def setup(tmp_path: Path) -> tuple[Path, CpuCollector, CollectorRegistry]:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "self").mkdir()  # non-numeric entries are ignored
    collector = CpuCollector(make_config(tmp_path), users=users)
    registry = CollectorRegistry()
    registry.register(collector)
    return proc, collector, registry


def test_cpu_accumulates_across_process_churn(tmp_path: Path) -> None:
    proc, collector, registry = setup(tmp_path)
    write_process(proc, 100, ALPHA, utime=300, stime=100, start=5000)
    write_process(proc, 101, ALPHA, utime=50, stime=50, start=5001)
    write_process(proc, 200, BETA, utime=10, stime=0, start=5002)
    write_process(proc, 1, 0, utime=99999, stime=0, start=1)  # root: not a site
    assert collector.refresh() == []
    assert cpu(registry, 0) == 500 / CLOCK_TICKS
    assert cpu(registry, 1) == 10 / CLOCK_TICKS

    # 101 exits (its last sample is kept), 100 works more, 102 is a new worker.
    shutil.rmtree(proc / "101")
    write_process(proc, 100, ALPHA, utime=400, stime=150, start=5000)
    write_process(proc, 102, ALPHA, utime=20, stime=0, start=6000)
    collector.refresh()
    assert cpu(registry, 0) == (500 + 150 + 20) / CLOCK_TICKS


def test_recycled_pid_is_a_new_process(tmp_path: Path) -> None:
    proc, collector, registry = setup(tmp_path)
    write_process(proc, 100, ALPHA, utime=1000, stime=0, start=5000)
    collector.refresh()
    # Same pid, later start, fewer ticks: another process, whose ticks all count.
    write_process(proc, 100, ALPHA, utime=30, stime=0, start=9000)
    collector.refresh()
    assert cpu(registry, 0) == 1030 / CLOCK_TICKS


def test_counter_never_decreases(tmp_path: Path) -> None:
    proc, collector, registry = setup(tmp_path)
    write_process(proc, 100, ALPHA, utime=1000, stime=0, start=5000)
    collector.refresh()
    write_process(proc, 100, ALPHA, utime=900, stime=0, start=5000)  # cannot happen; still safe
    collector.refresh()
    assert cpu(registry, 0) == 1000 / CLOCK_TICKS


def test_process_changing_user_counts_for_the_new_user_from_then(tmp_path: Path) -> None:
    proc, collector, registry = setup(tmp_path)
    write_process(proc, 100, ALPHA, utime=100, stime=0, start=5000)
    collector.refresh()
    write_process(proc, 100, BETA, utime=130, stime=0, start=5000)
    collector.refresh()
    assert cpu(registry, 0) == 100 / CLOCK_TICKS
    assert cpu(registry, 1) == 130 / CLOCK_TICKS


def test_command_names_with_spaces_and_parentheses(tmp_path: Path) -> None:
    proc, collector, registry = setup(tmp_path)
    write_process(proc, 100, ALPHA, utime=7, stime=3, start=5000, comm="php (pool) x")
    collector.refresh()
    assert cpu(registry, 0) == 10 / CLOCK_TICKS


def test_cgroup_slice_wins_where_present(tmp_path: Path) -> None:
    proc, collector, registry = setup(tmp_path)
    write_process(proc, 100, ALPHA, utime=100, stime=0, start=5000)
    slice_dir = site_cgroup(tmp_path, SITES[0][1])
    slice_dir.mkdir(parents=True)
    (slice_dir / "cpu.stat").write_text("usage_usec 12500000\nuser_usec 10000000\n")
    assert collector.refresh() == []
    assert cpu(registry, 0) == 12.5


def test_site_without_a_user_is_reported_and_others_kept(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    write_process(proc, 100, ALPHA, utime=100, stime=0, start=5000)
    collector = CpuCollector(make_config(tmp_path), users=lambda: {SITES[0][1]: ALPHA})
    registry = CollectorRegistry()
    registry.register(collector)
    problems = collector.refresh()
    assert problems == [f"{SITES[1][1]}: no such user", f"{SITES[2][1]}: no such user"]
    assert cpu(registry, 0) == 100 / CLOCK_TICKS
    assert cpu(registry, 1) is None


def test_private_memory_is_the_live_processes_own_pages(tmp_path: Path) -> None:
    proc, collector, registry = setup(tmp_path)
    # Two workers of alpha: 5,000 resident pages of which 3,000 shared, and 2,500 / 500.
    write_process(proc, 100, ALPHA, utime=1, stime=0, start=5000, pages=(5000, 3000))
    write_process(proc, 101, ALPHA, utime=1, stime=0, start=5001, pages=(2500, 500))
    write_process(proc, 1, 0, utime=1, stime=0, start=1, pages=(90000, 100))  # root
    assert collector.refresh() == []
    assert memory(registry, 0) == (2000 + 2000) * PAGE_SIZE
    assert memory(registry, 1) == 0  # beta runs nothing: holds nothing
    # A gauge: the worker that exited no longer counts.
    shutil.rmtree(proc / "101")
    collector.refresh()
    assert memory(registry, 0) == 2000 * PAGE_SIZE


def test_cgroup_memory_is_its_anonymous_memory(tmp_path: Path) -> None:
    proc, collector, registry = setup(tmp_path)
    write_process(proc, 100, ALPHA, utime=1, stime=0, start=5000, pages=(5000, 0))
    slice_dir = site_cgroup(tmp_path, SITES[0][1])
    slice_dir.mkdir(parents=True)
    (slice_dir / "cpu.stat").write_text("usage_usec 1000000\n")
    (slice_dir / "memory.stat").write_text("anon 73400320\nfile 9999999\nkernel 4096\n")
    assert collector.refresh() == []
    assert memory(registry, 0) == 73400320
