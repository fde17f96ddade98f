"""Converge time of the whole lab (`koumbit-infra deploy --env lab`) and of a no-change re-run.

The first run is a *first converge* only on a freshly created lab (no server
carries the deploy's firewall yet); on an already deployed lab it is reported
as a converge with the number of changes it made. The re-run must change
nothing (target, issue 16: at most 5 s). Then each server alone (``--limit``), grouped by
its Debian release: the no-change deploy of a Debian 12 and of a Debian 13 server.
``--before REV`` also times the deploy code of an earlier commit (checked out in a
temporary worktree) on the same lab, its runs alternating with this checkout's, and
prints the ratio.
Optionally (--lynis) runs lynis on a server and prints its hardening index.
Prints figures; asserts only the no-change re-runs.
Usage (root, lab up):
  .venv/bin/python bench/deploy.py [--reruns N] [--before REV] [--lynis web1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from koumbit_infra.envs import load_env
from koumbit_infra.lab import lab_paths, lab_servers
from koumbit_infra.lab.ssh import remote

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("koumbit-infra"))


def deploy(tree: Path | None = None, limit: str | None = None) -> tuple[float, int, int, int]:
    """Seconds, exit status, operations changed, operation errors.

    ``tree``: an earlier checkout whose deploy code runs instead (through pyinfra,
    as its ``koumbit-infra deploy`` did), for a before/after comparison.
    ``limit``: only that server (this checkout only).
    """
    if tree is None:
        argv = [CLI, "deploy", "--env", "lab", "--json", *(["--limit", limit] if limit else [])]
        cwd, env = ROOT, None
    else:
        pyinfra = str(Path(sys.executable).with_name("pyinfra"))
        argv = [pyinfra, "-y", "inventory/lab.py", "deploys/all.py", "--json"]
        cwd, env = tree, {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    try:
        totals = json.loads(done.stdout)["results"]["totals"]
    except (json.JSONDecodeError, KeyError, TypeError):
        totals = {"success": -1, "error": -1}
    return seconds, done.returncode, totals["success"], totals["error"]


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """A temporary worktree of ``rev`` (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), rev], cwd=ROOT,
                       check=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           check=False)


def already_deployed() -> bool:
    servers = lab_servers(load_env("lab").servers)
    paths = lab_paths()
    return any(
        remote(s, paths, "grep -q koumbit-infra /etc/nftables.conf").returncode == 0
        for s in servers
    )


def per_release(reruns: int) -> None:
    """The no-change deploy of each server alone, printed per server and per release."""
    by_release: dict[int, list[float]] = {}
    for server in load_env("lab").servers:
        debian = server.release.debian.value
        for _ in range(reruns):
            seconds, status, changed, errors = deploy(limit=server.name)
            by_release.setdefault(debian, []).append(seconds)
            name = f"no-change --limit {server.name} (Debian {debian})"
            print(f"{name:<34} {seconds:7.1f} s  exit {status}  changed {changed}"
                  f"  errors {errors}")
            assert status == 0 and changed == 0, "a re-run must change nothing"
    for debian, times in sorted(by_release.items()):
        print(f"{f're-run median, Debian {debian} server':<34} {statistics.median(times):7.1f} s"
              f"  ({len(times)} runs)")


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
    parser.add_argument("--before", metavar="REV", default=None,
                        help="also time the deploy code of this git revision")
    args = parser.parse_args()

    kind = "converge (lab already deployed)" if already_deployed() else "first converge"
    seconds, status, changed, errors = deploy()
    print(f"{kind:<34} {seconds:7.1f} s  exit {status}  changed {changed}  errors {errors}")
    with contextlib.ExitStack() as stack:
        before = stack.enter_context(checkout(args.before)) if args.before else None
        times: dict[str, list[float]] = {"after": [], "before": []}
        for _ in range(args.reruns):
            for label, tree in (("after", None), ("before", before)):
                if label == "before" and tree is None:
                    continue
                seconds, status, changed, errors = deploy(tree)
                times[label].append(seconds)
                name = "no-change re-run" + (f" ({args.before})" if tree else "")
                print(f"{name:<34} {seconds:7.1f} s  exit {status}  changed {changed}"
                      f"  errors {errors}")
                assert status == 0 and changed == 0, "a re-run must change nothing"
    after = statistics.median(times["after"])
    print(f"{'re-run median':<34} {after:7.1f} s  (target, issue 16: at most 5 s)")
    per_release(args.reruns)
    if times["before"]:
        earlier = statistics.median(times["before"])
        print(f"{'re-run median ' + args.before:<34} {earlier:7.1f} s  (ratio before/after"
              f" {earlier / after:.1f})")
    if args.lynis:
        print(f"{'lynis hardening index ' + args.lynis:<34} {lynis_index(args.lynis):>7}"
              "  (target: 80 or more)")


if __name__ == "__main__":
    main()
