"""Scrape latency and memory of the koumbit exporter at 1,000 and 10,000 sites.

Generates a tree of N sites (each with web/, files/, tmp/, sessions/, logs/,
a few files and a JSON access log) under a temporary directory, runs the
exporter on 127.0.0.1 in its own process with every background refresh
looping (intervals of a few seconds, so refreshes overlap the scrapes),
scrapes /metrics 200 times as Prometheus does (gzip, keep-alive), and prints
p50/p99, the exporter's RSS and the time it took to read and validate its
configuration. In the same run, prometheus-node-exporter
(if installed) is started on 127.0.0.1:9100, scraped the same way, stopped.

With ``--huge N``, one run instead measures a site planting N files in one
directory (a hostile site, or a runaway cache): the exporter over ``--sites``
sites is scraped once as they are, then again, freshly started, after the
first site's files/cache/ received N empty files, while the disk walk goes
through them (it loops every 5 s). It prints both scrape latencies, the
exporter's RSS and its peak (VmHWM), and what the disk collector reported for
that site; the N files are deleted afterwards. ``--tmp`` chooses where the
tree is made (tmpfs makes a million files in seconds, ext4 in minutes).

PHP-FPM status and MariaDB are stand-ins returning recorded answers: this
measures the exporter, not FPM or MariaDB.

    .venv/bin/python bench/exporter.py [--sites 1000 10000] [--scrapes 200]
    .venv/bin/python bench/exporter.py --huge 1000000 [--sites 1000] [--tmp /dev/shm]
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RECORDED_FPM = (Path(__file__).parents[1] / "tests/fixtures/exporter/fpm-status-php8.2.json")
LOG_LINE = json.dumps({"time": "2026-11-27T05:00:00-05:00", "host": "x", "status": 200,
                       "bytes_sent": 5120, "request_time": 0.05,
                       "upstream_response_time": "0.048"}) + "\n"


def name(i: int) -> str:
    return f"site{i:05d}_bench_{i:08x}"


def generate(root: Path, sites: int) -> Path:
    """A tree of ``sites`` sites and the exporter's configuration for them; the config path."""
    # Here, not at the top: the exporter's child process must not carry the inventory's imports.
    from koumbit_infra.sites.layout import FPM_STATUS_PATH, FPM_STATUS_SOCKET, SITE_CGROUP

    lines = [
        'server = "bench1"', 'listen_address = "127.0.0.1"', "port = 19100",
        "[capacity]", f"disk_bytes = {2000 * 1024**3}", f"memory_bytes = {256 * 1024**3}",
        "[paths]", f'sites_root = "{root}/srv/sites"', f'log_root = "{root}/logs"',
        f'cgroup_root = "{root}/cgroup"', f'php_status_path = "{FPM_STATUS_PATH}"',
        f'site_state_root = "{root}/state"',
        f'php_status_socket = "{FPM_STATUS_SOCKET}"', f'site_cgroup = "{SITE_CGROUP}"',
        "[refresh_seconds]", "disk = 5", "database = 2", "cpu = 2", "traffic = 2", "php = 2",
        "[database]", "enabled = true",
    ]
    (root / "logs").mkdir(parents=True)
    for i in range(sites):
        tree = root / "srv/sites" / name(i)
        for sub in ("web", "files", "tmp", "sessions", "logs"):
            (tree / sub).mkdir(parents=True)
        (tree / "web/index.php").write_text("<?php require 'wp-blog-header.php';\n")
        (tree / "web/wp-config.php").write_text("<?php\n" * 40)
        (tree / "files/upload.jpg").write_bytes(b"\xff" * (4096 * (1 + i % 7)))
        (root / "logs" / f"{name(i)}.access.log").write_text(LOG_LINE * (1 + i % 20))
        lines += [
            "[[sites]]", f'domain = "site{i}.bench.test"', f'system_name = "{name(i)}"',
            'server = "bench1"', f'client = "client{i // 2}"', 'cms = "wordpress"',
            'plan = "standard"', f"solidarity = {'true' if i % 5 == 0 else 'false'}",
            f"disk_quota_bytes = {10 * 1024**3}", "php_workers = 6",
            f"php_memory_limit_bytes = {256 * 1024**2}",
        ]
    config = root / "exporter.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def serve(config_path: Path) -> None:
    """Child process: the exporter with stand-ins for FPM, MariaDB and the user table."""
    from koumbit_infra.exporter.app import Seams, build
    from koumbit_infra.exporter.config import load_config
    from koumbit_infra.exporter.memory import tune_malloc

    tune_malloc()  # where `python3 -m koumbit_infra.exporter` does it: before the config
    started = time.perf_counter()
    config = load_config(config_path)
    loaded = time.perf_counter() - started
    config = dataclasses.replace(config, port=0)  # any free port
    fpm = RECORDED_FPM.read_bytes()
    sizes = "".join(f"{s.system_name}\t{1_000_000 + i}\n" for i, s in enumerate(config.sites))
    uids = {s.system_name: 200_000 + i for i, s in enumerate(config.sites)}
    exporter = build(config, Seams(users=lambda: uids, php_status=lambda s, p: fpm,
                                   database_query=lambda: sizes))
    exporter.start()
    print(exporter.port, f"{loaded:.3f}", flush=True)
    while True:
        time.sleep(3600)


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """The process's resident memory now (VmRSS) or at its highest so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scrape(port: int, count: int) -> tuple[list[float], int]:
    """Latencies (ms) of ``count`` scrapes over one keep-alive connection; body size."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Accept-Encoding": "gzip", "Accept": "text/plain;version=0.0.4"}
    times, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        connection.request("GET", "/metrics", headers=headers)
        answer = connection.getresponse()
        size = len(answer.read())
        times.append((time.perf_counter() - started) * 1000)
        if answer.status != 200:
            raise RuntimeError(f"scrape answered {answer.status}")
        time.sleep(0.01)
    connection.close()
    return times, size


def metrics_page(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/metrics")
    page = connection.getresponse().read().decode()
    connection.close()
    return page


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(label: str, times: list[float], size: int, rss: float | None) -> None:
    memory = f"  RSS {rss:6.1f} MiB" if rss is not None else ""
    print(f"{label:<34} p50 {statistics.median(times):7.2f} ms  p99 {percentile(times, 0.99):7.2f}"
          f" ms  max {max(times):7.2f} ms  body {size / 1024:8.0f} KiB{memory}", flush=True)


def run_exporter(config: Path, scrapes: int, label: str,
                 watch: Callable[[str], bool] | None = None) -> tuple[float, float, float]:
    """Start the exporter on ``config``, scrape it, report; its p99, RSS and peak RSS (MiB).

    With ``watch``, its peak RSS and the lines of its page ``watch`` keeps are printed too.
    """
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(config)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port_text, loaded = child.stdout.readline().split()
        port = int(port_text)
        print(f"{label:<34} configuration read and validated in {float(loaded) * 1000:.0f} ms",
              flush=True)
        time.sleep(8)  # first refreshes done; later ones keep running during the scrapes
        times, size = scrape(port, scrapes)
        rss = rss_mib(child.pid)
        report(label, times, size, rss)
        if watch:
            started = time.perf_counter()
            page = metrics_page(port)
            while 'koumbit_collector_duration_seconds{collector="disk"' not in page:
                time.sleep(1)  # the first disk pass is still walking: wait for its end
                page = metrics_page(port)
            if time.perf_counter() - started > 1:
                print(f"{'':<34} (the first disk pass ended "
                      f"{time.perf_counter() - started:.0f} s after the scrapes)")
            for line in page.splitlines():
                if watch(line):
                    print(f"{'':<34} {line}", flush=True)
        peak = rss_mib(child.pid, "VmHWM")
        print(f"{'':<34} peak RSS (VmHWM) {peak:6.1f} MiB", flush=True)
        return percentile(times, 0.99), rss, peak
    finally:
        child.terminate()
        child.wait(10)


def bench_exporter(sites: int, scrapes: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="koumbit-bench-") as tmp:
        started = time.perf_counter()
        config = generate(Path(tmp), sites)
        print(f"\n{sites} sites generated in {time.perf_counter() - started:.1f} s", flush=True)
        p99, rss, _peak = run_exporter(config, scrapes, f"koumbit exporter, {sites} sites")
        return p99, rss


def fill(directory: Path, count: int) -> None:
    """``count`` empty files in ``directory``, one open and close each."""
    directory.mkdir(parents=True, exist_ok=True)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(count):
            os.close(os.open(f"c{i:08d}", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=dir_fd))
    finally:
        os.close(dir_fd)


def empty(directory: Path) -> None:
    """Delete the files of ``directory`` and it, reading its entries as they come."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:  # deleting while reading a directory may skip entries: read again
            with os.scandir(dir_fd) as entries:
                names = [entry.name for _, entry in zip(range(100_000), entries, strict=False)]
            if not names:
                break
            for entry_name in names:
                os.unlink(entry_name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    directory.rmdir()


def bench_huge(sites: int, files: int, scrapes: int, where: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="koumbit-bench-", dir=where) as tmp:
        root = Path(tmp)
        free = shutil.disk_usage(root).free
        started = time.perf_counter()
        config = generate(root, sites)
        print(f"\n{sites} sites generated in {time.perf_counter() - started:.1f} s under {root}"
              f" ({free / 1024**3:.0f} GiB free)", flush=True)
        huge = root / "srv/sites" / name(0) / "files/cache"

        def watch(line: str) -> bool:
            """The disk figures of the site that gets the files, and the disk collector's health."""
            return line.startswith("koumbit_") and (
                ('site="site0.bench.test"' in line
                 and line.startswith(("koumbit_site_disk_bytes", "koumbit_site_disk_scan")))
                or ('collector="disk"' in line and "_timestamp" not in line))

        _p99, _rss, before = run_exporter(config, scrapes, f"{sites} sites", watch)
        started = time.perf_counter()
        fill(huge, files)
        print(f"\n{files:,} files made in {huge.parent.parent.name}/files/cache in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        try:
            _p99, _rss, after = run_exporter(config, scrapes,
                                             f"{sites} sites, {files:,} in one dir", watch)
        finally:
            started = time.perf_counter()
            empty(huge)
            print(f"{files:,} files deleted in {time.perf_counter() - started:.1f} s")
        print(f"\ntarget: peak RSS <= 80 MB with {files:,} files in one directory: "
              f"{'ok' if after * 1.048576 <= 80 else 'OVER'} ({after:.1f} MiB, "
              f"{after - before:+.1f} MiB against the sites alone)")


def bench_node_exporter(scrapes: int) -> float | None:
    binary = shutil.which("prometheus-node-exporter")
    if binary is None:
        print("prometheus-node-exporter is not installed: no side-by-side figure")
        return None
    node = subprocess.Popen([binary, "--web.listen-address=127.0.0.1:9100"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        scrape(9100, 5)  # warm-up: its first scrape initialises collectors
        times, size = scrape(9100, scrapes)
        report("prometheus-node-exporter", times, size, rss_mib(node.pid))
        return percentile(times, 0.99)
    finally:
        node.terminate()
        node.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--huge", type=int, metavar="FILES",
                        help="one site with FILES files in one directory (uses the first --sites)")
    parser.add_argument("--tmp", help="where to make the tree (default: the system's temp dir)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.huge:
        print(f"{os.cpu_count()} CPUs; {args.scrapes} scrapes each, gzip, keep-alive, 10 ms apart")
        bench_huge(args.sites[0], args.huge, args.scrapes, args.tmp)
        return
    print(f"{os.cpu_count()} CPUs; {args.scrapes} scrapes each, gzip, keep-alive, 10 ms apart")
    node_p99 = bench_node_exporter(args.scrapes)
    results = {n: bench_exporter(n, args.scrapes) for n in args.sites}
    print("\ntargets: p99 <= 50 ms at 1,000 sites and no slower than node_exporter; RSS <= 80 MB")
    for n, (p99, rss) in results.items():
        verdict = [
            f"p99 {'ok' if p99 <= 50 else 'OVER'}",
            f"RSS {'ok' if rss * 1.048576 <= 80 else 'OVER'}",
        ]
        if node_p99 is not None:
            verdict.append(f"vs node_exporter {'ok' if p99 <= node_p99 else 'SLOWER'}")
        print(f"  {n:>6} sites: " + ", ".join(verdict))


if __name__ == "__main__":
    main()
