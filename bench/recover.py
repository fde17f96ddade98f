"""Recovery time of the lab's web1: from an empty server to every site serving again.

Prepares like the disaster drill (tests/lab/test_recover.py): a scratch copy of the lab
inventory makes the lab's own key an admin's, it is deployed (the escrow re-encrypted),
and web1's daily backup runs, so the snapshots are minutes old. Then web1 is re-created
from the empty base and ``koumbit-infra server recover web1`` runs; each step is timed
from the lines it prints, then every site's home page is asked until it answers as the
inventory says (200, or 503 for a disabled site). Prints the figures and the age of each
snapshot used. At the end the lab is deployed with its own inventory again.
Usage (root, lab up and deployed; it WIPES web1):
  .venv/bin/python bench/recover.py [--server web1]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from koumbit_infra.inventory import SiteState, load_inventory
from koumbit_infra.lab import lab_paths, lab_servers, recreate
from koumbit_infra.lab.ssh import remote
from koumbit_infra.sites.files import layouts
from koumbit_infra.sites.http import fetch
from koumbit_infra.sites.variant import add_admin, write_variant

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("koumbit-infra"))
STEP = re.compile(r"^(\d)\. ")
SITE = re.compile(r"^(\S+): snapshot ([0-9a-f]{8}) of (\S+) \((.+) old\): (.*)$")


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(argv[:4])} failed:\n{done.stdout[-3000:]}"
                 f"{done.stderr[-3000:]}")
    return time.perf_counter() - start


def on(server: str, command: str, timeout: float = 1800) -> float:
    paths = lab_paths()
    target = next(s for s in lab_servers(load_inventory(ROOT / "inventory" / "lab").servers)
                  if s.name == server)
    start = time.perf_counter()
    done = remote(target, paths, command, timeout=timeout)
    if done.returncode != 0:
        sys.exit(f"bench: {server}: {command} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def recover(inventory: Path, server: str) -> tuple[dict[str, float], list[str]]:
    """Run the recovery; answers seconds per step and its per-site lines."""
    argv = [CLI, "server", "recover", server, "--identity", str(lab_paths().ssh_key),
            "--inventory", str(inventory)]
    marks: list[tuple[str, float]] = []
    sites: list[str] = []
    # Unbuffered, so each line is timed when it is printed, not when a buffer fills.
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stderr.write(line)  # the recovery's own account, as it goes
            step = STEP.match(line)
            if step:
                marks.append((line.split(";")[0].split("(")[0].strip(), time.perf_counter()))
            if SITE.match(line.strip()):
                sites.append(line.strip())
        status = proc.wait()
    end = time.perf_counter()
    if status != 0:
        sys.exit(f"bench: the recovery failed (exit {status}); its output is above")
    steps = {label: (marks[i + 1][1] if i + 1 < len(marks) else end) - at
             for i, (label, at) in enumerate(marks)}
    return steps, sites


def serving(inventory: Path, server: str, deadline_s: float = 300) -> float:
    """Seconds until every site of ``server`` answers as the inventory says."""
    inv = load_inventory(inventory / "lab")
    want = {s.domain: (503 if s.state is SiteState.DISABLED else 200, s)
            for s in layouts(inv, inv.server(server)) if s.state is not SiteState.ABSENT}
    address = str(inv.server(server).address)
    start = time.perf_counter()
    while want:
        for domain, (status, site) in list(want.items()):
            try:
                answer = fetch(address, domain, "/", tls=site.tls,
                               ca_file=inv.settings.acme_ca_bundle)
            except OSError:
                continue
            if answer.status == status:
                del want[domain]
        if time.perf_counter() - start > deadline_s:
            sys.exit(f"bench: not serving after {deadline_s} s: {', '.join(want)}")
        if want:
            time.sleep(0.2)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="web1")
    args = parser.parse_args()
    server = args.server
    lab = lab_servers(load_inventory(ROOT / "inventory" / "lab").servers)
    with tempfile.TemporaryDirectory(prefix="bench-recover-") as tmp:
        env_file = write_variant(ROOT / "inventory" / "lab", Path(tmp), lambda clients: None)
        add_admin(env_file.with_suffix(""), "reprise", "Exercice de reprise",
                  lab_paths().ssh_public_key.read_text())
        try:
            setup = timed([CLI, "deploy", "--env", "lab", "--inventory", tmp])
            backup = on(server, "systemctl start koumbit-backup.service")
            start = time.perf_counter()
            recreate(lab, [server])
            wiped = time.perf_counter() - start
            steps, sites = recover(Path(tmp), server)
            serve = serving(Path(tmp), server)
            total = time.perf_counter() - start
        finally:
            restored = timed([CLI, "deploy", "--env", "lab"])
    print(f"recovery of {server}, {len(sites)} site(s)")
    print(f"  deploy with the drill's admin (set-up)   {setup:8.1f} s")
    print(f"  daily backup of {server} (set-up)          {backup:8.1f} s")
    print(f"  {server} re-created empty                   {wiped:8.1f} s")
    for label, seconds in steps.items():
        print(f"  {label[:40]:<40} {seconds:8.1f} s")
    print(f"  every site serving after the recovery    {serve:8.1f} s")
    print(f"  empty server to every site serving       {total - wiped:8.1f} s"
          f" (with the re-creation: {total:.1f} s)")
    print(f"  lab deployed with its own inventory      {restored:8.1f} s")
    for line in sites:
        found = SITE.match(line)
        assert found is not None
        domain, snap, when, age, result = found.groups()
        print(f"  {domain}: snapshot {snap} of {when}, {age} old, {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
