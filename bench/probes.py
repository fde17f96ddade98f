"""What probing 1,000 sites costs the monitoring server: the blackbox exporter's CPU and memory.

Starts, in a temporary folder and on loopback ports above 20000, a throw-away nginx
with 1,000 server names (``siteNNNN.bench.test``; one in twenty disabled, answering
the real maintenance page with 503, the others a 60 KiB page; plain HTTP answers 301
to HTTPS as the vhosts do) and a self-signed wildcard certificate made with openssl,
then Debian's blackbox exporter with the modules koumbit-infra writes (the exporter
trusts that certificate alone, through SSL_CERT_FILE). Then, as Prometheus would:

- ``rounds`` rounds of the 1,000 site probes, spread evenly over the site scrape
  interval (30 s: koumbit_infra/monitoring/probes.py), each through /probe with the
  site's module and Host/SNI name;
- one round of the 1,000 redirect probes (http -> https), spread the same way;
- a burst: the 1,000 site probes as fast as 32 at a time allow (the headroom).

Each round prints the exporter's CPU seconds (utime + stime from /proc) and resident
memory, and the distribution of the probes' latency (the /probe round trip). nginx's
CPU is printed beside it: it stands in for the web servers, which are not on the
monitoring server. Everything is stopped and removed at the end. Prints figures;
asserts nothing but that the probes succeeded.

    .venv/bin/python bench/probes.py [--targets 1000] [--rounds 3] [--interval 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from koumbit_infra.envs import load_env
from koumbit_infra.monitoring.probes import (
    MAINTENANCE_MODULE,
    SITE_INTERVAL_SECONDS,
    SITE_MODULE,
    blackbox_modules,
    redirect_check,
)
from koumbit_infra.sites.files import server_files
from koumbit_infra.sites.layout import MAINTENANCE_ROOT

DOMAIN = "bench.test"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
PAGE_BYTES = 60 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port(start: int) -> int:
    """The first port from ``start`` that nothing listens on (all of them above 20000)."""
    for port in range(start, start + 2000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port from {start}")


def names(count: int) -> list[str]:
    return [f"site{i:04d}.{DOMAIN}" for i in range(count)]


def disabled(name: str) -> bool:
    return int(name[4:8]) % 20 == 0


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


def make_site_files(root: Path) -> tuple[Path, Path]:
    """The wildcard certificate and key, the page, and the real maintenance page."""
    cert, key = root / "bench.crt", root / "bench.key"
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30",
        "-subj", f"/CN=*.{DOMAIN}", "-addext", f"subjectAltName=DNS:*.{DOMAIN}")
    html = root / "html"
    (html / "maintenance").mkdir(parents=True)
    filler = "<p>Nouvelles du quartier, assemblée générale, bénévoles recherchés.</p>\n"
    body = "<!DOCTYPE html><html><head><title>Un site</title></head><body>\n"
    body += filler * (PAGE_BYTES // len(filler.encode())) + "</body></html>\n"
    (html / "index.html").write_text(body)
    inv = load_env("lab")
    page = next(f for f in server_files(inv, inv.server("web1"))
                if f.dest == f"{MAINTENANCE_ROOT}/503.html")
    (html / "maintenance/503.html").write_text(page.content)
    for path in (root, html, html / "maintenance"):
        path.chmod(0o755)  # nginx's workers run as nobody
    return cert, key


def nginx_config(root: Path, sites: list[str], https: int, http: int, cert: Path,
                 key: Path) -> str:
    """1,000 server blocks, each answering as a koumbit vhost of its state would."""
    html = root / "html"
    out = [f"pid {root}/nginx.pid;", f"error_log {root}/error.log warn;", "worker_processes 2;",
           "user nobody nogroup;", "events { worker_connections 1024; }", "http {",
           "access_log off;", "default_type text/html;", "server_names_hash_bucket_size 64;",
           "server_names_hash_max_size 4096;", "gzip on;", f"client_body_temp_path {root}/tmp;",
           f"proxy_temp_path {root}/tmp;", f"fastcgi_temp_path {root}/tmp;",
           f"uwsgi_temp_path {root}/tmp;", f"scgi_temp_path {root}/tmp;",
           "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_session_cache shared:SSL:10m;",
           f"ssl_certificate {cert};", f"ssl_certificate_key {key};",
           f"server {{ listen 127.0.0.1:{https} ssl default_server; server_name _;"
           " ssl_reject_handshake on; }",
           f"server {{ listen 127.0.0.1:{http} default_server; server_name _; return 444; }}"]
    for name in sites:
        out.append(f"server {{ listen 127.0.0.1:{http}; server_name {name};"
                   f" return 301 https://{name}$request_uri; }}")
        if disabled(name):
            out.append(f"server {{ listen 127.0.0.1:{https} ssl; server_name {name};"
                       f" error_page 503 /503.html; location = /503.html"
                       f" {{ root {html}/maintenance; internal; }}"
                       " location / { return 503; } }")
        else:
            out.append(f"server {{ listen 127.0.0.1:{https} ssl; server_name {name};"
                       f" root {html}; index index.html; }}")
    return "\n".join([*out, "}"]) + "\n"


def blackbox_config(sites: list[str]) -> str:
    """koumbit-infra's shared modules, and one redirect module per site (as it writes them)."""
    shared = blackbox_modules(load_env("lab"))
    modules = {m: shared[m] for m in (SITE_MODULE, MAINTENANCE_MODULE)}
    for name in sites:
        modules[f"redirect_{name.split('.')[0]}"] = redirect_check(f"https://{name}/")
    return yaml.safe_dump({"modules": modules}, sort_keys=True)


@dataclass(frozen=True)
class Process:
    popen: subprocess.Popen[bytes]
    pid: int

    def cpu_seconds(self) -> float:
        """utime + stime of the process and its children, from /proc."""
        total = 0.0
        for pid in [self.pid, *children(self.pid)]:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return total

    def memory_mib(self) -> tuple[float, float]:
        """Resident memory now and at its peak (VmRSS, VmHWM), MiB, children included."""
        now = peak = 0.0
        for pid in [self.pid, *children(self.pid)]:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    now += int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak += int(line.split()[1]) / 1024
        return now, peak


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


@contextmanager
def started(argv: list[str], env: dict[str, str] | None = None,
            ready: Callable[[], bool] | None = None) -> Iterator[Process]:
    popen = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while ready is not None and not ready():
            if popen.poll() is not None or time.monotonic() > deadline:
                err = popen.stderr.read().decode() if popen.stderr else ""
                raise SystemExit(f"{argv[0]} did not start: {err}")
            time.sleep(0.1)
        yield Process(popen, popen.pid)
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
        if popen.stderr:
            popen.stderr.close()


def answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/-/healthy", timeout=1):
            return True
    except OSError:
        return False


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class Probe:
    target: str
    module: str
    hostname: str


def probe(blackbox: str, p: Probe) -> tuple[float, bool, float]:
    """(seconds for the /probe round trip, success, probe_duration_seconds it reported)."""
    query = urllib.parse.urlencode({"target": p.target, "module": p.module,
                                    "hostname": p.hostname})
    start = time.perf_counter()
    with urllib.request.urlopen(f"http://{blackbox}/probe?{query}", timeout=30) as got:
        text = got.read().decode()
    took = time.perf_counter() - start
    values = {line.split(" ")[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line and not line.startswith("#")}
    return took, values["probe_success"] == 1, values["probe_duration_seconds"]


def spread(blackbox: str, probes: list[Probe], seconds: float,
           workers: int = 128) -> list[tuple[float, bool, float]]:
    """Every probe once, started evenly over ``seconds`` (``seconds`` 0: all at once,
    ``workers`` at a time)."""
    start = time.monotonic() + 0.5
    step = seconds / len(probes)

    def at(i: int, p: Probe) -> tuple[float, bool, float]:
        delay = start + i * step - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return probe(blackbox, p)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(at, range(len(probes)), probes))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(label: str, results: list[tuple[float, bool, float]], cpu: float, wall: float,
           memory: tuple[float, float], nginx_cpu: float) -> None:
    lat = [r[0] * 1000 for r in results]
    failed = sum(1 for r in results if not r[1])
    print(f"{label:<30} {len(results):>5} {failed:>4} {cpu:>8.2f} {cpu / len(results) * 1000:>8.2f}"
          f" {cpu / wall:>6.3f} {memory[0]:>7.1f} {memory[1]:>7.1f}"
          f" {statistics.median(lat):>6.1f} {pct(lat, 0.9):>6.1f} {pct(lat, 0.99):>6.1f}"
          f" {max(lat):>7.1f} {nginx_cpu:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, default=SITE_INTERVAL_SECONDS,
                        help="seconds each round of probes is spread over (the scrape interval)")
    args = parser.parse_args()
    if not Path(BLACKBOX).exists() or not shutil.which("nginx"):
        raise SystemExit("needs Debian's prometheus-blackbox-exporter and nginx"
                         " (scripts/bootstrap installs them)")
    sites = names(args.targets)
    root = Path(tempfile.mkdtemp(prefix="koumbit-bench-probes-"))
    try:
        (root / "tmp").mkdir()
        cert, key = make_site_files(root)
        https, http = free_port(27443), free_port(27080)
        blackbox = f"127.0.0.1:{free_port(29115)}"
        (root / "nginx.conf").write_text(nginx_config(root, sites, https, http, cert, key))
        (root / "blackbox.yml").write_text(blackbox_config(sites))
        # -e: nginx's own log stays in the folder too, before and after it reads its config.
        subprocess.run(["nginx", "-t", "-q", "-e", str(root / "error.log"), "-c",
                        str(root / "nginx.conf")], check=True)
        env = {**os.environ, "SSL_CERT_FILE": str(cert), "SSL_CERT_DIR": str(root / "tmp")}
        nginx_argv = ["nginx", "-e", str(root / "error.log"), "-c", str(root / "nginx.conf"),
                      "-g", "daemon off;"]
        bb_argv = [BLACKBOX, f"--config.file={root / 'blackbox.yml'}",
                   f"--web.listen-address={blackbox}", "--log.level=warn"]
        with started(nginx_argv, ready=lambda: listening(https)) as nginx, \
                started(bb_argv, env, ready=lambda: answers(blackbox)) as bb:
            print(f"blackbox_exporter 0.23 (Debian 12) at {blackbox}, nginx with {len(sites)}"
                  f" server names at 127.0.0.1:{https}/{http}; {sum(map(disabled, sites))}"
                  f" disabled; page {PAGE_BYTES // 1024} KiB; {os.cpu_count()} CPUs (shared)")
            print(f"blackbox RSS after start with {len(sites) + 2} modules:"
                  f" {bb.memory_mib()[0]:.1f} MiB")
            site_probes = [Probe(f"https://127.0.0.1:{https}/",
                                 MAINTENANCE_MODULE if disabled(n) else SITE_MODULE, n)
                           for n in sites]
            redirect_probes = [Probe(f"http://127.0.0.1:{http}/", f"redirect_{n.split('.')[0]}",
                                     n) for n in sites]
            print(f"\n{'round':<30} {'probes':>5} {'fail':>4} {'cpu s':>8} {'ms/probe':>8}"
                  f" {'cores':>6} {'rss MiB':>7} {'peak':>7} {'p50 ms':>6} {'p90':>6}"
                  f" {'p99':>6} {'max ms':>7} {'nginx s':>7}")
            plan = [(f"sites {i + 1} (over {args.interval:.0f} s)", site_probes, args.interval)
                    for i in range(args.rounds)]
            plan += [(f"redirects (over {args.interval:.0f} s)", redirect_probes, args.interval),
                     ("burst: sites, 32 at a time", site_probes, 0.0)]
            durations: list[float] = []
            for label, probes, seconds in plan:
                cpu0, ncpu0, wall0 = bb.cpu_seconds(), nginx.cpu_seconds(), time.monotonic()
                results = spread(blackbox, probes, seconds, 32 if seconds == 0 else 128)
                wall = time.monotonic() - wall0
                report(label, results, bb.cpu_seconds() - cpu0, wall, bb.memory_mib(),
                       nginx.cpu_seconds() - ncpu0)
                if label.startswith("sites"):
                    durations += [r[2] for r in results]
                if label.startswith("burst"):
                    print(f"{'':<30} burst: {len(results) / wall:.0f} probes/s in {wall:.1f} s")
                if any(not r[1] for r in results):
                    raise SystemExit(f"{label}: some probes failed; see {root}/error.log")
            ms = [d * 1000 for d in durations]
            print(f"\nprobe_duration_seconds as the exporter reports it (sites rounds): p50"
                  f" {statistics.median(ms):.1f} ms, p90 {pct(ms, 0.9):.1f} ms,"
                  f" p99 {pct(ms, 0.99):.1f} ms, max {max(ms):.1f} ms")
            print("cores: the exporter's CPU seconds per second of the round, i.e. the share"
                  " of one core that probing at this rate keeps busy on the monitoring server")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
