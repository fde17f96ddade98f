"""What clients' SFTP adds to a deploy's preparation: validating people, and deriving and
rendering sshd_config, the key files and the mount units of the busiest web server.

A generated inventory (2,000 clients, 5,000 sites on 40 web servers) where one client in
``--every`` has a person reaching each of its sites. Prints figures; asserts nothing.
Usage: .venv/bin/python bench/sftp.py [--repeat N] [--every K]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from koumbit_infra.facts.sftp import SftpState
from koumbit_infra.inventory import Inventory, load_inventory
from koumbit_infra.inventory.synthetic import Shape, write
from koumbit_infra.serverconf.files import base_config, sftp_config
from koumbit_infra.sites.sftp import KEYS_DIR, SFTP_ROOT, UNIT_DIR, UNIT_PREFIX, sftp_sites
from koumbit_infra.templating import render

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDnXk3LjJ44ralIWj0Qjn+5xHTBO8/WD7Y/J9UX2wrNZ dev"


def _add_people(root: Path, every: int) -> int:
    """One person per ``every``-th client, given all its sites; the number of people."""
    people = 0
    for i, path in enumerate(sorted((root / "clients").glob("*.yaml"))):
        data: dict[str, Any] = yaml.safe_load(path.read_text())
        if i % every or not data.get("sites"):
            continue
        data["people"] = [{"name": "dev", "full_name": "Développeuse", "ssh_keys": [KEY],
                           "sites": [s["domain"] for s in data["sites"]
                                     if s.get("state") != "absent"]}]
        if data["people"][0]["sites"]:
            path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
            people += 1
    return people


def _time(repeat: int, work: Callable[[], object]) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def _render_server(inv: Inventory, name: str) -> int:
    server = inv.server(name)
    sshd = base_config(inv, server).sshd
    files = [render(sshd.template, **sshd.context)]
    files += [render(c.template, **c.context) for c in sftp_config(inv, server).all()]
    return len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--every", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = write(Shape(clients=2000, sites=5000, web_servers=40), Path(tmp) / "big")
        before, _ = _time(args.repeat, lambda: load_inventory(root))
        people = _add_people(root, args.every)
        median, best = _time(args.repeat, lambda: load_inventory(root))
        inv = load_inventory(root)
        busiest = max((s for s in inv.servers),
                      key=lambda s: len(sftp_sites(inv, s)))
        chroots = len(sftp_sites(inv, busiest))
        print(f"{'step':<44} {'median s':>9} {'best s':>8}")
        print(f"{'load + validate, no people':<44} {before:>9.3f}")
        print(f"{f'load + validate ({people} people)':<44} {median:>9.3f} {best:>8.3f}")
        count = _render_server(inv, busiest.name)
        median, best = _time(args.repeat, lambda: _render_server(inv, busiest.name))
        label = f"{busiest.name}: {chroots} chroots, {count} files rendered"
        print(f"{label:<44} {median:>9.3f} {best:>8.3f}")
        # The server's one SftpState question: one shell line, under Linux's 128 KiB.
        plans = [s.plan for s in sftp_sites(inv, busiest)]
        command = SftpState().command(
            SFTP_ROOT, KEYS_DIR, UNIT_DIR, UNIT_PREFIX,
            units=tuple(v.unit for c in plans for v in c.views),
            paths=tuple(p for c in plans for p in (*(d.path for d in c.directories),
                                                   *(x for v in c.views
                                                     for x in (v.target, v.source)))))
        print(f"{'SftpState command, bytes (limit 131072)':<44} {len(command):>9}")


if __name__ == "__main__":
    main()
