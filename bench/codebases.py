"""The sites' code, on this machine alone: seconds ``koumbit-site-code`` takes to make a
site's code, to move it to another version, and to find it already there ("unchanged"),
for WordPress (a release the size of WordPress's: about 3,000 files) and for Drupal
(composer, against the lab's stand-in packages: composer's own cost, not Drupal's size).

The lab's sources server runs on a free loopback port and the real script runs in a
scratch tree (koumbit_infra/lab/localcode.py: runuser is the rig's, so everything runs as
whoever runs the bench); no lab is needed. Each figure is the median of --runs.
Usage: .venv/bin/python bench/codebases.py [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from koumbit_infra.inventory import Cms
from koumbit_infra.lab.localcode import LocalSources, ScratchSite, local_sources, scratch_site
from koumbit_infra.lab.wordpress import release_archive

FILES = 3000  # WordPress 6.8 holds about 3,300 files, 6.1 about 2,900
VERSIONS = ("6.8.1", "6.8.2")


def release(root: Path, version: str) -> bytes:
    """A release of WordPress's size and shape: folders of PHP files, version.php."""
    tree = root / f"wordpress-{version}"
    for i in range(FILES):
        folder = ("wp-admin", "wp-includes", "wp-content/themes/t")[i % 3]
        path = tree / folder / f"d{i % 40}" / f"f{i}.php"
        path.parent.mkdir(parents=True, exist_ok=True)
        # About 12 KB each, as little compressible as code, different per release:
        # WordPress is about 35 MB unpacked, 13 to 21 MB packed.
        path.write_text(random.Random(f"{version}/{i}").randbytes(6000).hex())
    (tree / "wp-includes" / "version.php").write_text(f"<?php\n$wp_version = '{version}';\n")
    (tree / "index.php").write_text("<?php\n")
    return release_archive(tree)


def timed(site: ScratchSite, *args: str) -> float:
    start = time.perf_counter()
    done = site.code(*args)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"koumbit-site-code {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds


def measure(root: Path, rig: LocalSources, cms: Cms, runs: int,
            steps: Callable[[ScratchSite], list[tuple[str, float]]]) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    for run in range(runs):
        scratch = root / f"{cms.value}-{run}"
        for what, seconds in steps(scratch_site(scratch, rig, cms)):
            figures.setdefault(what, []).append(seconds)
        shutil.rmtree(scratch)
    return figures


def wordpress(site: ScratchSite) -> list[tuple[str, float]]:
    user = site.web.parent.name
    return [("make (newest release)", timed(site, user, VERSIONS[1])),
            ("move to another version", timed(site, user, VERSIONS[0])),
            ("already there (unchanged)", timed(site, user, VERSIONS[0]))]


def drupal(site: ScratchSite) -> list[tuple[str, float]]:
    user = site.web.parent.name
    return [("make (create-project, drush)", timed(site, user, "10.6.15")),
            ("move to another version (composer require)", timed(site, user, "10.2.4")),
            ("newest of its major (composer show, require)", timed(site, user)),
            ("already there (unchanged)", timed(site, user))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="koumbit-bench-code-") as scratch:
        root = Path(scratch)
        releases = {v: release(root, v) for v in VERSIONS}
        size = len(releases[VERSIONS[0]]) / 1e6
        print(f"WordPress releases: {FILES + 2} files, {size:.1f} MB packed")
        with local_sources(root / "rig", releases) as rig:
            for cms, steps in ((Cms.WORDPRESS, wordpress), (Cms.DRUPAL, drupal)):
                for what, seconds in measure(root, rig, cms, args.runs, steps).items():
                    print(f"{cms.value} {what}: median {statistics.median(seconds):.2f} s,"
                          f" max {max(seconds):.2f} s ({len(seconds)} runs)")


if __name__ == "__main__":
    main()
