"""Traffic per site from koumbit_json logs: incremental reads, rotation, truncation."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fixtures.exporter.fakes import SITES, make_config
from prometheus_client import CollectorRegistry

from koumbit_infra.exporter.logtail import LogTail
from koumbit_infra.exporter.traffic import TrafficCollector

ALPHA = {"server": "web1", "site": SITES[0][0], "client": SITES[0][2]}


def line(status: int, sent: int) -> str:
    """One line as nginx writes it with the koumbit_json log_format."""
    return json.dumps({"time": "2026-11-27T05:00:00-05:00", "host": SITES[0][0],
                       "status": status, "bytes_sent": sent, "request_time": 0.012,
                       "upstream_response_time": "0.010"}) + "\n"


def setup(tmp_path: Path) -> tuple[Path, TrafficCollector, CollectorRegistry]:
    logs = tmp_path / "var/log/nginx/sites"
    logs.mkdir(parents=True)
    collector = TrafficCollector(make_config(tmp_path))
    registry = CollectorRegistry()
    registry.register(collector)
    return logs / f"{SITES[0][1]}.access.log", collector, registry


def requests(registry: CollectorRegistry, status_class: str) -> float | None:
    return registry.get_sample_value("koumbit_site_http_requests_total",
                                     {**ALPHA, "status_class": status_class})


def sent(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("koumbit_site_http_sent_bytes_total", ALPHA)


def test_lines_are_counted_once_by_status_class(tmp_path: Path) -> None:
    log, collector, registry = setup(tmp_path)
    log.write_text(line(200, 1000) + line(404, 200) + line(200, 500))
    collector.refresh()
    with log.open("a") as handle:
        handle.write(line(503, 100))
    collector.refresh()
    collector.refresh()
    assert requests(registry, "2xx") == 2
    assert requests(registry, "4xx") == 1
    assert requests(registry, "5xx") == 1
    assert requests(registry, "3xx") == 0  # every class is there from the start
    assert sent(registry) == 1800


def test_partial_line_waits_for_its_end(tmp_path: Path) -> None:
    log, collector, registry = setup(tmp_path)
    whole = line(200, 1000)
    log.write_text(line(200, 10) + whole[:20])
    collector.refresh()
    assert sent(registry) == 10
    with log.open("a") as handle:
        handle.write(whole[20:])
    collector.refresh()
    assert sent(registry) == 1010


def test_rotation_finishes_the_old_file_then_reads_the_new(tmp_path: Path) -> None:
    log, collector, registry = setup(tmp_path)
    log.write_text(line(200, 1))
    collector.refresh()
    with log.open("a") as handle:  # written after our last read, before rotation
        handle.write(line(200, 10))
    os.rename(log, log.with_name(log.name + ".1"))  # logrotate with delaycompress
    log.write_text(line(500, 100))  # nginx reopened its log
    collector.refresh()
    assert sent(registry) == 111
    assert requests(registry, "5xx") == 1


def test_rotation_seen_before_nginx_reopens(tmp_path: Path) -> None:
    log, collector, registry = setup(tmp_path)
    log.write_text(line(200, 1))
    collector.refresh()
    with log.open("a") as handle:
        handle.write(line(200, 10))
    os.rename(log, log.with_name(log.name + ".1"))
    collector.refresh()  # no current log for a moment
    log.write_text(line(200, 100))
    collector.refresh()
    assert sent(registry) == 111


def test_compressed_rotation_loses_only_the_unread_tail(tmp_path: Path) -> None:
    log, collector, registry = setup(tmp_path)
    log.write_text(line(200, 1))
    collector.refresh()
    log.unlink()  # rotated and compressed away before we looked
    log.write_text(line(200, 100))
    collector.refresh()
    assert sent(registry) == 101
    assert collector.tails[0].lost_rotations == 1


def test_new_log_reusing_the_old_inode_is_read_from_its_start(tmp_path: Path) -> None:
    log, collector, registry = setup(tmp_path)
    log.write_text(line(200, 1))
    collector.refresh()
    inode = log.stat().st_ino
    log.unlink()
    log.write_text(line(404, 100) + line(404, 100))
    collector.refresh()
    if log.stat().st_ino != inode:  # the filesystem chose another inode: still right
        assert collector.tails[0].lost_rotations == 1
    assert sent(registry) == 201
    assert requests(registry, "4xx") == 2


def test_truncated_log_is_read_from_the_start(tmp_path: Path) -> None:
    log, collector, registry = setup(tmp_path)
    log.write_text(line(200, 1) + line(200, 1))
    collector.refresh()
    with log.open("w") as handle:  # copytruncate, then one new line
        handle.write(line(200, 5))
    collector.refresh()
    assert sent(registry) == 7


def test_malformed_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    log, collector, registry = setup(tmp_path)
    log.write_text('127.0.0.1 - - "GET / HTTP/1.1" 200\n' + line(200, 3) + '{"status": "x"}\n')
    assert collector.refresh() == []
    assert sent(registry) == 3
    assert registry.get_sample_value("koumbit_http_log_malformed_lines_total",
                                     {"server": "web1"}) == 2


def test_site_without_log_has_no_series(tmp_path: Path) -> None:
    _log, collector, registry = setup(tmp_path)
    assert collector.refresh() == []
    assert sent(registry) is None


def test_unreadable_log_fails_that_site_only(tmp_path: Path) -> None:
    log, collector, registry = setup(tmp_path)
    log.write_text(line(200, 3))
    other = log.with_name(f"{SITES[1][1]}.access.log")
    other.mkdir()  # reading it fails (IsADirectoryError), as a permission error would
    problems = collector.refresh()
    assert len(problems) == 1 and str(other) in problems[0]
    assert sent(registry) == 3


def test_large_backlog_is_read_over_several_refreshes(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text(line(200, 1) * 100)
    tail = LogTail(log, max_read=len(line(200, 1)) * 30 + 5)
    counts = [len(tail.read_lines()) for _ in range(5)]
    assert sum(counts) == 100 and counts[0] == 30


def test_status_outside_the_classes_is_other_once_seen(tmp_path: Path) -> None:
    log, collector, registry = setup(tmp_path)
    log.write_text(line(200, 4))
    collector.refresh()
    assert requests(registry, "other") is None  # no series until such a status is seen
    with log.open("a") as handle:
        handle.write(line(999, 6) + line(301, 1))
    collector.refresh()
    assert requests(registry, "other") == 1
    assert requests(registry, "3xx") == 1
    assert requests(registry, "2xx") == 1
    assert sent(registry) == 11
    beta = {**ALPHA, "site": SITES[1][0], "client": SITES[1][2]}
    assert registry.get_sample_value("koumbit_site_http_sent_bytes_total", beta) is None


def test_reading_a_small_log_allocates_what_it_holds(tmp_path: Path) -> None:
    """read(n) allocates n bytes first: a tail must not ask for 16 MiB to read 100 bytes."""
    import tracemalloc

    log = tmp_path / "site.log"
    log.write_text(line(200, 1) * 3)
    tail = LogTail(log)
    tracemalloc.start()
    try:
        lines = tail.read_lines()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(lines) == 3
    assert peak < 256 * 1024, peak
