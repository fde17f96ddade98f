"""Disk per site: a walk over fixture trees, and repquota output."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.exporter.fakes import HERE, SITES, make_config, many_files, ticking, users
from prometheus_client import CollectorRegistry

from koumbit_infra.exporter.app import Exporter, Seams, build, with_roots
from koumbit_infra.exporter.config import DiskMethod
from koumbit_infra.exporter.disk import DiskCollector
from koumbit_infra.exporter.diskscan import ScanError, tree_bytes
from koumbit_infra.exporter.measurement import Job
from koumbit_infra.exporter.quota import parse_repquota


def labels(index: int) -> dict[str, str]:
    domain, _name, client, *_ = SITES[index]
    return {"server": "web1", "site": domain, "client": client}


def make_site(root: Path, name: str, payload: int) -> Path:
    tree = root / "srv" / "sites" / name
    for sub in ("web", "files", "tmp", "sessions", "logs"):
        (tree / sub).mkdir(parents=True)
    (tree / "web" / "index.php").write_text("<?php echo 1;")
    (tree / "files" / "photo.jpg").write_bytes(os.urandom(payload))
    return tree


def allocated(tree: Path) -> int:
    """What du --apparent-size=no would say, computed independently of the collector."""
    seen: set[int] = set()
    total = 0
    for path in [tree, *tree.rglob("*")]:
        info = path.lstat()
        if info.st_ino not in seen:
            seen.add(info.st_ino)
            total += info.st_blocks * 512
    return total


def registry_for(collector: DiskCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def test_scan_counts_allocated_blocks_of_each_site(tmp_path: Path) -> None:
    trees = [make_site(tmp_path, name, 50_000 * (i + 1)) for i, (_, name, *_r) in
             enumerate(SITES)]
    collector = DiskCollector(make_config(tmp_path))
    assert collector.refresh() == []
    registry = registry_for(collector)
    for i, tree in enumerate(trees):
        assert registry.get_sample_value("koumbit_site_disk_bytes", labels(i)) == allocated(tree)


def test_hard_links_count_once_and_symlinks_are_not_followed(tmp_path: Path) -> None:
    tree = make_site(tmp_path, "alpha", 100_000)
    before = tree_bytes(tree)
    os.link(tree / "files" / "photo.jpg", tree / "files" / "same-photo.jpg")
    (tree / "web" / "etc").symlink_to("/etc")
    assert tree_bytes(tree) - before < 8192  # one directory entry, one tiny link at most


def test_site_deleted_between_passes_leaves_no_series(tmp_path: Path) -> None:
    for _, name, *_rest in SITES:
        make_site(tmp_path, name, 10_000)
    collector = DiskCollector(make_config(tmp_path))
    collector.refresh()
    registry = registry_for(collector)
    assert registry.get_sample_value("koumbit_site_disk_bytes", labels(1)) is not None
    import shutil

    shutil.rmtree(tmp_path / "srv" / "sites" / SITES[1][1])
    problems = collector.refresh()
    assert len(problems) == 1 and "does not exist" in problems[0]
    assert registry.get_sample_value("koumbit_site_disk_bytes", labels(1)) is None
    assert registry.get_sample_value("koumbit_site_disk_bytes", labels(0)) is not None


class _Vanishing:
    """os.scandir's iterator, deleting ``ghost`` just after listing it (before its stat)."""

    def __init__(self, listing: Iterator[os.DirEntry[str]], ghost: Path) -> None:
        self.listing, self.ghost = listing, ghost

    def __iter__(self) -> _Vanishing:
        return self

    def __next__(self) -> os.DirEntry[str]:
        entry = next(self.listing)
        if entry.name == self.ghost.name:
            self.ghost.unlink()
        return entry

    def close(self) -> None:
        self.listing.close()  # type: ignore[attr-defined]


def test_entry_vanishing_mid_scan_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    tree = make_site(tmp_path, "alpha", 10_000)
    ghost = tree / "tmp" / "ghost"
    ghost.write_bytes(b"x" * 10_000)
    expected = allocated(tree) - ghost.lstat().st_blocks * 512
    original_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda fd: _Vanishing(original_scandir(fd), ghost))
    assert tree_bytes(tree) == expected


def test_unreadable_directory_fails_that_site_only(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for _, name, *_rest in SITES:
        make_site(tmp_path, name, 10_000)
    original_open = os.open
    locked = tmp_path / "srv" / "sites" / SITES[2][1] / "files"

    def refusing_open(path: str, flags: int, *args: object, dir_fd: int | None = None) -> int:
        fd = original_open(path, flags, *args, dir_fd=dir_fd)  # type: ignore[arg-type]
        if path == "files" and os.fstat(fd).st_ino == locked.stat().st_ino:
            os.close(fd)  # chmod 000 does not stop root, who runs these tests here
            raise PermissionError(13, "Permission denied", path)
        return fd

    monkeypatch.setattr(os, "open", refusing_open)
    collector = DiskCollector(make_config(tmp_path))
    problems = collector.refresh()
    assert problems == [f"{locked}: Permission denied"]
    registry = registry_for(collector)
    assert registry.get_sample_value("koumbit_site_disk_bytes", labels(2)) is None
    assert registry.get_sample_value("koumbit_site_disk_bytes", labels(0)) is not None


def disk_of(exporter: Exporter) -> tuple[Job, DiskCollector]:
    job = exporter.jobs[0]
    assert isinstance(job.measurement, DiskCollector)
    return job, job.measurement


DISK_JOB = {"server": "web1", "collector": "disk"}


def test_site_past_its_budget_is_flagged_and_keeps_its_last_figure(tmp_path: Path) -> None:
    trees = [make_site(tmp_path, name, 10_000) for _, name, *_rest in SITES]
    # The clock moves 1 s each time it is read, and the walk reads it every 64
    # entries: a site of 3,000 entries needs two refreshes of 30 s.
    exporter = build(make_config(tmp_path), Seams(users=users, clock=ticking()))
    job, disk = disk_of(exporter)
    get = exporter.registry().get_sample_value
    job.run_once()
    first = allocated(trees[2])
    assert get("koumbit_site_disk_bytes", labels(2)) == first
    assert get("koumbit_site_disk_scan_within_budget", labels(2)) == 1

    many_files(trees[2] / "files" / "cache", 3_000, every_with_data=10)
    (trees[0] / "files" / "new.jpg").write_bytes(b"x" * 100_000)
    job.run_once()
    assert get("koumbit_site_disk_bytes", labels(2)) == first  # its last complete figure
    assert get("koumbit_site_disk_scan_within_budget", labels(2)) == 0
    assert get("koumbit_site_disk_bytes", labels(0)) == allocated(trees[0])  # measured anew
    assert get("koumbit_site_disk_scan_within_budget", labels(0)) == 1
    assert get("koumbit_collector_success", DISK_JOB) == 1  # late, not failed

    job.run_once()  # the walk goes on where it stopped, and ends
    assert get("koumbit_site_disk_bytes", labels(2)) == allocated(trees[2]) > first
    assert get("koumbit_site_disk_scan_within_budget", labels(2)) == 0  # it took two

    disk.site_budget = 1000
    job.run_once()
    assert get("koumbit_site_disk_scan_within_budget", labels(2)) == 1


def test_site_never_walked_whole_has_no_figure_until_it_is(tmp_path: Path) -> None:
    trees = [make_site(tmp_path, name, 10_000) for _, name, *_rest in SITES]
    many_files(trees[1] / "files" / "cache", 10_000)
    exporter = build(make_config(tmp_path), Seams(users=users, clock=ticking()))
    job, _disk = disk_of(exporter)
    get = exporter.registry().get_sample_value
    refreshes = 0
    while get("koumbit_site_disk_bytes", labels(1)) is None:
        job.run_once()
        refreshes += 1
        assert get("koumbit_site_disk_scan_within_budget", labels(1)) == 0
        for other in (0, 2):  # every refresh measures the others
            assert get("koumbit_site_disk_bytes", labels(other)) == allocated(trees[other])
        assert refreshes < 50
    assert refreshes >= 5
    assert get("koumbit_site_disk_bytes", labels(1)) == allocated(trees[1])


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="does not exist"):
        tree_bytes(tmp_path / "nope")


def test_sites_root_is_passed_in(tmp_path: Path) -> None:
    config = with_roots(make_config(tmp_path), sites_root=tmp_path / "elsewhere")
    make_site(tmp_path / "x", "alpha", 1)
    assert DiskCollector(config).sites_root == tmp_path / "elsewhere"


def test_repquota_rows_in_bytes() -> None:
    used = parse_repquota((HERE / "repquota-user.txt").read_text())
    assert used == {0: 20 * 1024, 1001: 204800 * 1024, 1002: 10485761 * 1024}


def test_user_quota_method_maps_uids_to_sites(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config = replace(config, disk=replace(config.disk, method=DiskMethod.USER_QUOTA))
    recorded = (HERE / "repquota-user.txt").read_text()
    collector = DiskCollector(config, users=users, repquota=lambda kind: recorded)
    assert collector.refresh() == []
    registry = registry_for(collector)
    assert registry.get_sample_value("koumbit_site_disk_bytes", labels(0)) == 204800 * 1024
    assert registry.get_sample_value("koumbit_site_disk_bytes", labels(2)) == 0  # no row yet
    # No walk, so no walk to flag as late.
    assert {family.name for family in collector.collect()} == {"koumbit_site_disk_bytes"}
