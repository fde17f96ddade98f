"""The lab's older-release helpers for WordPress sites (the update test and bench/update.py):
which release is older, and the line that gives a site that release's theme, run here with
stand-ins for runuser, curl and php."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from koumbit_infra.envs import load_env
from koumbit_infra.lab.wordpress_sites import older_and_newest, release_theme_line
from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.selection import one


def test_the_older_release_is_the_newest_below_the_latest() -> None:
    releases = {"latest": "6.8.12", "versions": ["6.1.9", "6.8.12", "6.1.10", "5.9.3"]}
    assert older_and_newest(releases) == ("6.1.10", "6.8.12")
    with pytest.raises(ValueError, match=r"no release older than 6\.8\.12"):
        older_and_newest({"latest": "6.8.12", "versions": ["6.8.12"]})


def _archive(themes: list[str], default: str) -> bytes:
    out = io.BytesIO()
    files = {f"wordpress/wp-content/themes/{theme}/style.css": b"/* Theme Name: x */\n"
             for theme in themes}
    # As WordPress's own file says it (wp-includes/default-constants.php).
    files["wordpress/wp-includes/default-constants.php"] = (
        "<?php\n\tif ( ! defined( 'WP_DEFAULT_THEME' ) ) {\n"
        f"\t\tdefine( 'WP_DEFAULT_THEME', '{default}' );\n\t}}\n").encode()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_the_site_gets_the_release_s_themes_it_lacks_and_activates_its_default(
        tmp_path: Path) -> None:
    real = one(load_env("lab"), "erables.test")
    web, tmp = tmp_path / "web", tmp_path / "tmp"
    (web / "wp-content/themes/twentytwentyfive").mkdir(parents=True)
    (web / "wp-content/themes/twentytwentyfive/style.css").write_text("the site's own\n")
    tmp.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "release.tgz").write_bytes(
        _archive(["twentytwentyfive", "twentytwentythree"], "twentytwentythree"))
    fakes = {
        "runuser": '#!/bin/sh\necho "runuser $2" >> "$CALLS"\nshift 3\nexec "$@"\n',
        "curl": '#!/bin/sh\nwhile [ $# -gt 1 ]; do [ "$1" = -o ] && out=$2; shift; done\n'
                'echo "curl $1" >> "$CALLS"\ncp "$RELEASE" "$out"\n',
        "php": '#!/bin/sh\necho "php theme=$THEME" >> "$CALLS"\nprintf %s "$THEME"\n',
    }
    for name, text in fakes.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    site = _relocated(real, web, tmp)
    calls = tmp_path / "calls"
    done = subprocess.run(["sh", "-c", release_theme_line(site, "https://src.test/wp", "6.1.9")],
                          capture_output=True, text=True, timeout=30, check=False,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                               "CALLS": str(calls), "RELEASE": str(tmp_path / "release.tgz")})
    assert (done.returncode, done.stdout) == (0, "twentytwentythree"), done.stderr
    assert (web / "wp-content/themes/twentytwentythree/style.css").is_file()
    # A theme the site has is its own: never replaced.
    assert (web / "wp-content/themes/twentytwentyfive/style.css").read_text() == "the site's own\n"
    assert calls.read_text().splitlines() == [
        f"runuser {real.name}", "curl https://src.test/wp/wordpress-6.1.9.tar.gz",
        "php theme=twentytwentythree"]
    assert not (tmp / "release").exists()


def _relocated(site: SiteLayout, web: Path, tmp: Path) -> SiteLayout:
    """``site`` with its code and tmp folders in a scratch place."""
    class Moved(SiteLayout):
        @property
        def web(self) -> str:
            return str(web)

        @property
        def tmp(self) -> str:
            return str(tmp)

    moved = object.__new__(Moved)
    moved.__dict__.update(site.__dict__)
    return moved
