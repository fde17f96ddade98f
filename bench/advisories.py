"""Advisories on this machine alone: how long the PHP Security Advisories Database takes to
load (read in place, once per process), to answer composer's request for a real Drupal
lock, and one real ``composer audit --locked`` of that lock against a loopback repository
serving that answer (what koumbit-site-audit runs per composer site), median of N runs.

Needs the data in shared/data beside the checkout and Debian's composer.
Usage: .venv/bin/python bench/advisories.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from advisorydata import (
    LOCKS,
    advisory_server,
    composer_audit,
    locked_versions,
)

from koumbit_infra.advisories.composer_api import advisories_for
from koumbit_infra.advisories.database import DEFAULT_ROOT, advisories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    start = time.perf_counter()
    every = advisories(DEFAULT_ROOT)
    load = time.perf_counter() - start
    print(f"load: {sum(map(len, every.values()))} advisories of {len(every)} packages"
          f" in {load:.2f} s")
    for release in ("10.2.4", "10.6.15"):
        lock = LOCKS / release / "composer.lock"
        packages = locked_versions(lock)
        times, found = [], 0
        for _ in range(runs):
            start = time.perf_counter()
            answer = advisories_for(packages, DEFAULT_ROOT)["advisories"]
            times.append(time.perf_counter() - start)
            found = sum(map(len, answer.values()))
        print(f"{release}: advisories_for {len(packages)} locked packages:"
              f" {statistics.median(times) * 1000:.1f} ms (median of {runs}), {found} found")
        audits, listed = [], 0
        with advisory_server(DEFAULT_ROOT) as (url, _asked):
            for _ in range(runs):
                start = time.perf_counter()
                _status, out, _err = composer_audit(lock, url)
                audits.append(time.perf_counter() - start)
                listed = sum(len(v) for v in (out.get("advisories") or {}).values())
        print(f"{release}: composer audit --locked: {statistics.median(audits):.2f} s"
              f" (median of {runs}), {listed} listed")


if __name__ == "__main__":
    main()
