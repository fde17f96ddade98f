"""Load-and-validate time of inventories: the example env and a generated 2,000-client one,
also with a staging copy of every site (each checked and derived as a site of its own).

Prints figures; asserts nothing (the machines are shared and noisy). Target:
under 1 s for 5,000 sites.
Usage: .venv/bin/python bench/inventory.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from koumbit_infra.envs import inventory_base
from koumbit_infra.inventory import load_inventory
from koumbit_infra.inventory.synthetic import Shape, write


def measure(root: Path, repeat: int) -> tuple[float, float, int]:
    times = []
    sites = 0
    for _ in range(repeat):
        start = time.perf_counter()
        inv = load_inventory(root)
        times.append(time.perf_counter() - start)
        sites = sum(1 for _ in inv.placed_sites())
    return statistics.median(times), min(times), sites


def with_staging(root: Path) -> None:
    """Every site of the inventory under ``root`` gets ``staging: active``."""
    for path in (root / "clients").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        for site in data.get("sites", []):
            site["staging"] = "active"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'inventory':<28} {'sites':>6} {'median s':>9} {'best s':>8}")
    median, best, sites = measure(inventory_base() / "example", args.repeat)
    print(f"{'example':<28} {sites:>6} {median:>9.3f} {best:>8.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = write(Shape(clients=2000, sites=5000, web_servers=40), Path(tmp) / "big")
        median, best, sites = measure(root, args.repeat)
        print(f"{'generated 2000 clients':<28} {sites:>6} {median:>9.3f} {best:>8.3f}")
        with_staging(root)
        median, best, sites = measure(root, args.repeat)
        print(f"{'  the same, staging copies':<28} {sites:>6} {median:>9.3f} {best:>8.3f}")
    print("target: under 1 s for 5,000 sites")


if __name__ == "__main__":
    main()
