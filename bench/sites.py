"""Sites deploy: time to create one site, and no-change runs with 1, 50 and 200 sites.

On the lab's web2 only, from a scratch copy of the lab inventory in which
web2 holds only bench sites (WordPress, the lab's codebase); web2's own
inventory sites are left alone (a deploy never touches sites it is not
given). Targets: create within 30 s (issue 5); the 200-site no-change run
within 2 times the 1-site run (issue 16). At the end the bench sites are made
absent, so each is archived, the archive verified, and removed (--keep skips that).
Usage (root, lab up and deployed):
  .venv/bin/python bench/sites.py [--runs 3] [--sizes 1,50,200] [--keep] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

ROOT = Path(__file__).resolve().parents[1]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
SERVER = "web2"
SIZES = (1, 50, 200)
RATIO_TARGET = 2


def bench_sites(count: int, state: str = "active") -> Any:
    def edit(clients: Clients) -> None:
        for client in clients.values():
            client["sites"] = [s for s in client.get("sites", []) if s["server"] != SERVER]
            # People reach only sites that remain (an SFTP person of a removed site would
            # make the scratch inventory invalid).
            kept = {s["domain"] for s in client["sites"]}
            for person in client.get("people", []):
                person["sites"] = [d for d in person.get("sites", []) if d in kept]
            client["people"] = [p for p in client.get("people", []) if p["sites"]]
        clients["bench"] = scratch_client("bench", [
            {"domain": f"s{i:02d}.bench.test", "cms": "wordpress", "server": SERVER,
             "state": state, "title": f"Bench {i:02d}"} for i in range(count)])
    return edit


def deploy(env_file: Path) -> tuple[float, int]:
    """Seconds and operations changed; exits if the deploy fails."""
    start = time.perf_counter()
    done = subprocess.run([PYINFRA, "-y", str(env_file), "deploys/sites.py", "--limit", SERVER,
                           "--json"], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"sites deploy failed:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)["results"]["totals"]["success"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="no-change runs per size")
    parser.add_argument("--keep", action="store_true", help="leave the bench sites in place")
    parser.add_argument("--reuse", action="store_true",
                        help="keep bench sites an earlier run left (skip archiving them first)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="site counts to measure, smallest first (default: %(default)s)")
    args = parser.parse_args()
    sizes = sorted({int(n) for n in args.sizes.split(",")})
    largest = sizes[-1]
    src = ROOT / "inventory" / "lab"
    no_change: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sites-") as tmp:
        if not args.reuse:
            env0 = write_variant(src, Path(tmp), bench_sites(largest, "absent"))
            deploy(env0)  # leftovers of an interrupted bench, archived and removed
        previous = 0
        for count in sizes:
            env = write_variant(src, Path(tmp), bench_sites(count))
            seconds, changed = deploy(env)
            label = "create one site" if count == 1 else f"add {count - previous} sites"
            print(f"{label}: {seconds:.1f} s ({changed} operations changed)")
            runs = []
            for _ in range(args.runs):
                seconds, changed = deploy(env)
                if changed:
                    sys.exit(f"a no-change run changed {changed} operations")
                runs.append(seconds)
            no_change[count] = statistics.median(runs)
            previous = count
            print(f"no-change run, {count} site(s) on {SERVER}: median {no_change[count]:.2f} s"
                  f" of {args.runs} ({', '.join(f'{r:.2f}' for r in runs)})")
        ratio = no_change[largest] / no_change[sizes[0]]
        print(f"ratio {largest}:{sizes[0]} = {ratio:.2f} (target <= {RATIO_TARGET})")
        if not args.keep:
            seconds, _ = deploy(write_variant(src, Path(tmp), bench_sites(largest, "absent")))
            print(f"{largest} sites made absent (archived, verified, removed): {seconds:.1f} s")


if __name__ == "__main__":
    main()
