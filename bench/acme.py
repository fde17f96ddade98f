"""Certificates through certbot against the lab's Pebble, on this machine alone: time to
issue N certificates (one site each, two names), to ask again for the same ones (certbot
answers "not due", as a second deploy would if it asked), to run the renewal with
nothing due (what certbot.timer costs twice a day), and to force the renewal of all.

Pebble, its DNS and an nginx answering HTTP-01 run on free loopback ports in a scratch
folder (koumbit_infra/lab/localacme.py), with Pebble's random validation wait off, as in
the lab; nothing of the host's configuration is used, and no lab is needed.
Usage: .venv/bin/python bench/acme.py [--count 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from koumbit_infra.lab.localacme import LocalAcme, local_acme


def timed(rig: LocalAcme, *args: str) -> float:
    start = time.perf_counter()
    done = rig.certificate(*args, timeout=1800)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"koumbit-certificate {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds


def line(what: str, seconds: list[float]) -> str:
    total = sum(seconds)
    if len(seconds) == 1:
        return f"{what}: {total:.2f} s"
    return (f"{what}: {total:.2f} s for {len(seconds)} (median {statistics.median(seconds):.2f} s,"
            f" max {max(seconds):.2f} s, {len(seconds) / total:.2f} certificates/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="certificates to issue")
    options = parser.parse_args()
    sites = [(f"site_{i:02d}", f"s{i:02d}.bench.test") for i in range(options.count)]
    with tempfile.TemporaryDirectory(prefix="koumbit-bench-acme-") as tmp:
        started = time.perf_counter()
        with local_acme(Path(tmp)) as rig:
            print(f"Pebble, its DNS and nginx up: {time.perf_counter() - started:.2f} s")
            rig.point(d for _, domain in sites for d in (domain, f"www.{domain}"))
            issue = [timed(rig, "issue", name, domain, f"www.{domain}")
                     for name, domain in sites]
            print(line("issue (new account first)", issue[:1]))
            print(line("issue, HTTP-01 for 2 names each", issue[1:]))
            again = [timed(rig, "issue", name, domain, f"www.{domain}")
                     for name, domain in sites]
            print(line("ask again, not due (nothing asked of Pebble)", again))
            print(line(f"renew with nothing due, {options.count} certificates",
                       [timed(rig, "renew")]))
            print(line(f"renew --force-renewal, {options.count} certificates and their hooks",
                       [timed(rig, "renew", "--force-renewal")]))


if __name__ == "__main__":
    main()
