"""Scrape latency and memory of the koumbit exporter at 1,000 and 10,000 sites.

Generates a tree of N sites (each with web/, files/, tmp/, sessions/, logs/,
a few files and a JSON access log) under a temporary directory, runs the
exporter on 127.0.0.1 in its own process with every background refresh
looping (intervals of a few seconds, so refreshes overlap the scrapes),
scrapes /metrics 200 times as Prometheus does (gzip, keep-alive), and prints
p50/p99 and the exporter's RSS. In the same run, prometheus-node-exporter
(if installed) is started on 127.0.0.1:9100, scraped the same way, stopped.

PHP-FPM status and MariaDB are stand-ins returning recorded answers: this
measures the exporter, not FPM or MariaDB.

    .venv/bin/python bench/exporter.py [--sites 1000 10000] [--scrapes 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECORDED_FPM = (Path(__file__).parents[1] / "tests/fixtures/exporter/fpm-status-php8.2.json")
LOG_LINE = json.dumps({"time": "2026-11-27T05:00:00-05:00", "host": "x", "status": 200,
                       "bytes_sent": 5120, "request_time": 0.05,
                       "upstream_response_time": "0.048"}) + "\n"


def name(i: int) -> str:
    return f"site{i:05d}_bench_{i:08x}"


def generate(root: Path, sites: int) -> Path:
    """A tree of ``sites`` sites and the exporter's configuration for them; the config path."""
    lines = [
        'server = "bench1"', 'listen_address = "127.0.0.1"', "port = 19100",
        "[capacity]", f"disk_bytes = {2000 * 1024**3}", f"memory_bytes = {256 * 1024**3}",
        "[paths]", f'sites_root = "{root}/srv/sites"', f'log_root = "{root}/logs"',
        f'cgroup_root = "{root}/cgroup"',
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
    config = load_config(config_path).model_copy(update={"port": 0})  # any free port
    fpm = RECORDED_FPM.read_bytes()
    sizes = "".join(f"{s.system_name}\t{1_000_000 + i}\n" for i, s in enumerate(config.sites))
    uids = {s.system_name: 200_000 + i for i, s in enumerate(config.sites)}
    exporter = build(config, Seams(users=lambda: uids, php_status=lambda s, p: fpm,
                                   database_query=lambda: sizes))
    exporter.start()
    print(exporter.port, flush=True)
    while True:
        time.sleep(3600)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(label: str, times: list[float], size: int, rss: float | None) -> None:
    memory = f"  RSS {rss:6.1f} MiB" if rss is not None else ""
    print(f"{label:<34} p50 {statistics.median(times):7.2f} ms  p99 {percentile(times, 0.99):7.2f}"
          f" ms  max {max(times):7.2f} ms  body {size / 1024:8.0f} KiB{memory}", flush=True)


def bench_exporter(sites: int, scrapes: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="koumbit-bench-") as tmp:
        started = time.perf_counter()
        config = generate(Path(tmp), sites)
        print(f"\n{sites} sites generated in {time.perf_counter() - started:.1f} s", flush=True)
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(config)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            port = int(child.stdout.readline())
            time.sleep(8)  # first refreshes done; later ones keep running during the scrapes
            times, size = scrape(port, scrapes)
            rss = rss_mib(child.pid)
            report(f"koumbit exporter, {sites} sites", times, size, rss)
            return percentile(times, 0.99), rss
        finally:
            child.terminate()
            child.wait(10)


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
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
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
