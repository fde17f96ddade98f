"""Lab timings against their targets: warm `up`, restart, re-create, and (opt-in) cold `up`.

Run as root:  .venv/bin/python bench/lab.py [--cold | --warm-only] [--env lab]

- warm up:   `up` with everything already running (target < 5 s);
- restart:   `down` then `up`, disks kept;
- re-create: `destroy` then `up` with the base image and apt cache kept (target < 90 s);
- per release: re-create again, one release's servers at a time (each release's
             boot from its own cached base);
- cold up:   only with --cold, which first removes the base images and the apt
             cache (`destroy --purge`): everything is downloaded and bootstrapped
             again, one release at a time (its base built, then its servers booted);
             the first release's figure also prepares the host (bridge, apt proxy).

Restart, re-create and cold up interrupt and throw away whatever runs or was
deployed on the servers; --warm-only times warm up alone and disturbs nothing.
The lab is left up at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

from koumbit_infra.envs import load_env
from koumbit_infra.lab import LabError, LabServer, destroy, down, lab_servers, up

TARGETS = {"warm up": 5.0, "re-create": 90.0}


def timed(label: str, action: Callable[[], object]) -> float:
    print(f"bench: {label} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    action()
    return time.monotonic() - started


def by_release(servers: tuple[LabServer, ...]) -> dict[str, tuple[LabServer, ...]]:
    """The servers of each Debian release, oldest first, labelled with their names."""
    groups: dict[int, list[LabServer]] = {}
    for server in servers:
        groups.setdefault(server.debian.value, []).append(server)
    return {f"Debian {debian} ({', '.join(s.name for s in group)})": tuple(group)
            for debian, group in sorted(groups.items())}


def one_release_at_a_time(label: str, servers: tuple[LabServer, ...]) -> dict[str, float]:
    """``up`` of each release's servers in turn (the lab is down or destroyed)."""
    return {f"{label}, {release}": timed(f"{label}, {release}", partial(up, group))
            for release, group in by_release(servers).items()}


def measure(servers: tuple[LabServer, ...], cold: bool, warm_only: bool) -> dict[str, float]:
    figures: dict[str, float] = {}
    if cold:
        destroy(servers, purge=True)
        per_release = one_release_at_a_time("cold up", servers)
        figures |= per_release
        figures["cold up (all releases)"] = sum(per_release.values())
    else:
        up(servers)
    warm = [timed("warm up", lambda: up(servers)) for _ in range(5)]
    figures["warm up"] = statistics.median(warm)
    figures["warm up (slowest of 5)"] = max(warm)
    if warm_only:
        return figures
    down(servers)
    figures["restart (down then up)"] = timed("up after down", lambda: up(servers))
    destroy(servers)
    figures["re-create"] = timed("re-create after destroy, cache warm", lambda: up(servers))
    destroy(servers)
    figures |= one_release_at_a_time("re-create", servers)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="lab")
    parser.add_argument("--cold", action="store_true",
                        help="also time a cold up: removes the base image and the apt cache")
    parser.add_argument("--warm-only", action="store_true",
                        help="time warm up only, leaving running servers undisturbed")
    args = parser.parse_args()
    if args.cold and args.warm_only:
        parser.error("--cold and --warm-only exclude each other")
    servers = lab_servers(load_env(args.env).servers)
    try:
        figures = measure(servers, args.cold, args.warm_only)
    except LabError as exc:
        print(f"bench: lab error: {exc.message}", file=sys.stderr)
        return 3
    missed = 0
    print(f"lab bench, {len(servers)} servers ({', '.join(s.name for s in servers)})")
    for label, seconds in figures.items():
        target = TARGETS.get(label)
        verdict = ""
        if target is not None:
            ok = seconds < target
            missed += not ok
            verdict = f"  target < {target:.0f} s: {'ok' if ok else 'MISSED'}"
        print(f"  {label:<46} {seconds:7.2f} s{verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
