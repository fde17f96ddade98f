"""Site updates: seconds per site for 20 sites on one server, and the rollback time.

On the lab's web2 only, from a scratch copy of the lab inventory in which web2
holds only bench sites (WordPress; bench/sites.py's, made and removed the same way).
Each site's code is first put at an older release of the lab's WordPress source
(``koumbit-site-code``, not timed), then:
1. ``site update`` of every site to the newest release, one at a time (as the
   command does on one server): seconds per site, and the median of each step
   (snapshot, code, database, smoke test);
2. ``--rollbacks`` sites (3) put back at the older release and updated with the
   test hook failing their smoke test, the last step (the most to undo): the
   rollback's seconds (koumbit-site-restore: archive of the failed state, tree and
   database put back) and the whole failed update's;
3. a second update of every site, with nothing new: seconds per site (no snapshot).
At the end the bench sites are made absent (archived, verified, removed; --keep skips).
Prints figures; asserts nothing.
Usage (root, lab up and deployed, with the lab host's WordPress source):
  .venv/bin/python bench/update.py [--sites 20] [--rollbacks 3] [--keep] [--reuse]
  .venv/bin/python bench/update.py --dry    # what it would do; contacts nothing
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sites import SERVER, bench_sites, deploy  # bench/sites.py: the same bench sites

from koumbit_infra.inventory import Inventory, load_inventory
from koumbit_infra.lab.wordpress_sites import older_and_newest, release_theme_line
from koumbit_infra.remote import connect, run
from koumbit_infra.sites.layout import CODE, TEST_HOOK_ROOT, SiteLayout
from koumbit_infra.sites.selection import select
from koumbit_infra.sites.update import Outcome, Result, reach_servers, tool_command, update_sites
from koumbit_infra.sites.variant import write_variant

ROOT = Path(__file__).resolve().parents[1]


def _versions(inv: Inventory) -> tuple[str, str]:
    """An older release and the newest, from the WordPress source's releases.json, read
    on the server (the lab host's source is reached, and trusted, from there)."""
    source = inv.settings.codebases.wordpress_source  # the codebases' settings (issue 14)
    with connect(inv, SERVER) as conn:
        done = run(conn, f"curl -fsS --max-time 30 {source}/releases.json", 60)
    if not done.ok:
        sys.exit(f"cannot read {source}/releases.json on {SERVER}: {done.stderr}")
    try:
        return older_and_newest(json.loads(done.stdout))
    except ValueError as exc:
        sys.exit(f"{source}: {exc}")


def _theme_of(inv: Inventory, sites: list[SiteLayout], version: str) -> None:
    """Each site made as if on ``version``: that release's theme (koumbit_infra.lab.
    wordpress_sites: the newest release's theme would end older code in a fatal error)."""
    source = inv.settings.codebases.wordpress_source
    with connect(inv, SERVER) as conn:
        for site in sites:
            done = run(conn, release_theme_line(site, source, version))
            if not done.ok:
                sys.exit(f"{site.domain}: the theme of WordPress {version}: {done.stderr[-2000:]}")


def _put_at(inv: Inventory, sites: list[SiteLayout], version: str, fail: str = "") -> None:
    """Each site's code at ``version`` (and the test hook set to fail ``fail``, if given)."""
    with connect(inv, SERVER) as conn:
        for site in sites:
            hook = (f" && mkdir -p {TEST_HOOK_ROOT} && chmod 700 {TEST_HOOK_ROOT}"
                    f" && echo {fail} > {TEST_HOOK_ROOT}/{site.name}.update-fail") if fail else ""
            done = run(conn, f"{CODE} {site.name} {version}{hook}")
            if not done.ok:
                sys.exit(f"{site.domain}: {CODE} {version} failed: {done.stderr[-2000:]}")


def _update(inv: Inventory, sites: list[SiteLayout], version: str) -> tuple[list[Outcome], float]:
    start = time.perf_counter()
    done = update_sites(sites, version=version, dry=False, reach=reach_servers(inv),
                        say=lambda o: None)
    return done, time.perf_counter() - start


def _figures(label: str, outcomes: list[Outcome], wall: float, want: Result) -> None:
    wrong = [f"{o.domain}: {o.result.value}" for o in outcomes if o.result is not want]
    if wrong:
        print(f"{label}: not all {want.value}: {', '.join(wrong[:5])}")
    seconds = [o.seconds for o in outcomes]
    print(f"{label}: {len(outcomes)} sites in {wall:.1f} s; per site median"
          f" {statistics.median(seconds):.1f} s (min {min(seconds):.1f}, max {max(seconds):.1f})")
    for step in ("snapshot", "code", "database", "smoke", "rollback"):
        taken = [o.timings[step] for o in outcomes if step in o.timings]
        if taken:
            print(f"  {step}: median {statistics.median(taken):.1f} s"
                  f" (max {max(taken):.1f}, {len(taken)} sites)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20,
                        help=f"bench sites on {SERVER} (default: %(default)s)")
    parser.add_argument("--rollbacks", type=int, default=3,
                        help="updates made to fail and rolled back (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="leave the bench sites in place")
    parser.add_argument("--reuse", action="store_true",
                        help="keep bench sites an earlier run left (skip archiving them first)")
    parser.add_argument("--dry", action="store_true",
                        help="only show the sites and the commands; contact nothing")
    args = parser.parse_args()
    src = ROOT / "inventory" / "lab"
    with tempfile.TemporaryDirectory(prefix="bench-update-") as tmp:
        if not args.reuse and not args.dry:
            # leftovers of an interrupted bench, archived and removed
            deploy(write_variant(src, Path(tmp), bench_sites(args.sites, "absent")))
        env = write_variant(src, Path(tmp), bench_sites(args.sites))
        inv = load_inventory(env.with_suffix(""))
        sites = select(inv, "client:bench")
        if args.dry:
            print(f"would deploy {len(sites)} bench sites on {SERVER}, put each at an older"
                  f" WordPress release ({CODE} SITE OLD), then run, one site at a time:")
            for site in sites[:3]:
                print(f"  {tool_command(site, 'NEW', dry=False)}")
            print(f"  ... ({len(sites)} in all); then {args.rollbacks} made to fail at the"
                  f" smoke test ({TEST_HOOK_ROOT}/SITE.update-fail) and rolled back; then"
                  " a second update of all, with nothing new")
            return
        seconds, _ = deploy(env)
        print(f"{len(sites)} bench sites deployed on {SERVER}: {seconds:.1f} s")
        old, new = _versions(inv)
        _theme_of(inv, sites, old)
        _put_at(inv, sites, old)
        done, wall = _update(inv, sites, new)
        _figures(f"update {old} -> {new}", done, wall, Result.UPDATED)
        failing = sites[:args.rollbacks]
        if failing:
            _put_at(inv, failing, old, fail="smoke")
            done, wall = _update(inv, failing, new)
            _figures("failed at the smoke test, rolled back", done, wall, Result.ROLLED_BACK)
            _put_at(inv, failing, new)  # as the others, for the no-change run
        done, wall = _update(inv, sites, new)
        _figures("second update, nothing new", done, wall, Result.UNCHANGED)
        if not args.keep:
            seconds, _ = deploy(write_variant(src, Path(tmp), bench_sites(args.sites, "absent")))
            print(f"{len(sites)} sites made absent (archived, verified, removed): {seconds:.1f} s")


if __name__ == "__main__":
    main()
