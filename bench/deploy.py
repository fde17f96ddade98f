"""Converge time of the whole lab (`koumbit-infra deploy --env lab`) and of a no-change re-run.

The first run is a *first converge* only on a freshly created lab (no server
carries the deploy's firewall yet); on an already deployed lab it is reported
as a converge with the number of changes it made. The re-run must change
nothing. Optionally (--lynis) runs lynis on a server and prints its
hardening index. Prints figures; asserts only the no-change re-run.
Usage (root, lab up): .venv/bin/python bench/deploy.py [--reruns N] [--lynis web1]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from koumbit_infra.envs import load_env
from koumbit_infra.lab import lab_paths, lab_servers
from koumbit_infra.lab.ssh import remote

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("koumbit-infra"))


def deploy() -> tuple[float, int, int, int]:
    """Seconds, exit status, operations changed, operation errors."""
    start = time.perf_counter()
    done = subprocess.run([CLI, "deploy", "--env", "lab", "--json"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    try:
        totals = json.loads(done.stdout)["results"]["totals"]
    except (json.JSONDecodeError, KeyError, TypeError):
        totals = {"success": -1, "error": -1}
    return seconds, done.returncode, totals["success"], totals["error"]


def already_deployed() -> bool:
    servers = lab_servers(load_env("lab").servers)
    paths = lab_paths()
    return any(
        remote(s, paths, "grep -q koumbit-infra /etc/nftables.conf").returncode == 0
        for s in servers
    )


def lynis_index(name: str) -> str:
    server = next(s for s in lab_servers(load_env("lab").servers) if s.name == name)
    done = remote(server, lab_paths(),
                  "DEBIAN_FRONTEND=noninteractive apt-get install -qq -y"
                  " --no-install-recommends lynis >/dev/null 2>&1;"
                  " lynis audit system --quick --no-colors 2>/dev/null", timeout=900)
    match = re.search(r"Hardening index : (\d+)", done.stdout)
    return match[1] if match else f"? (exit {done.returncode})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reruns", type=int, default=3)
    parser.add_argument("--lynis", metavar="SERVER", default=None)
    args = parser.parse_args()

    kind = "converge (lab already deployed)" if already_deployed() else "first converge"
    seconds, status, changed, errors = deploy()
    print(f"{kind:<34} {seconds:7.1f} s  exit {status}  changed {changed}  errors {errors}")
    times = []
    for _ in range(args.reruns):
        seconds, status, changed, errors = deploy()
        times.append(seconds)
        print(f"{'no-change re-run':<34} {seconds:7.1f} s  exit {status}  changed {changed}"
              f"  errors {errors}")
        assert status == 0 and changed == 0, "a re-run must change nothing"
    print(f"{'re-run median':<34} {statistics.median(times):7.1f} s  (target: under 60 s)")
    if args.lynis:
        print(f"{'lynis hardening index ' + args.lynis:<34} {lynis_index(args.lynis):>7}"
              "  (target: 80 or more)")


if __name__ == "__main__":
    main()
