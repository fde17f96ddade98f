"""koumbit-backup-verify run for real on this machine: real restic repositories, a real
throw-away MariaDB, as it runs on a backup target.

The script is rendered from the lab inventory's backup1, then pointed at a
temporary folder: its wrapper is a stand-in for the lead's koumbit-backup-repo
(restic on a local repository, as root here), the repository accounts and the
database user are `nobody` (no account is made on this machine), and the
sites' trees and dumps live under the temporary folder, so each snapshot holds
the same paths as on a web server, under that prefix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from koumbit_infra.envs import load_env
from koumbit_infra.serverconf.backupverify import SCRIPT, verify_files
from koumbit_infra.templating import render

PASSWORD = "not-a-secret-test-repository"
TOOLS = ("restic", "mariadbd", "mariadb", "mariadb-install-db", "python3",
         "runuser", "flock")
WORDPRESS = "erables_test_41a771b4"  # web1's sites in the lab inventory
DRUPAL = "centre_femmes_test_d33127a7"
WORDPRESS_DOMAIN = "erables.test"
DRUPAL_DOMAIN = "centre-femmes.test"


def _need_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("the verification runs as root (it hands each step to an account)")
    missing = [t for t in TOOLS if shutil.which(t) is None
               and not Path(f"/usr/sbin/{t}").exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run scripts/bootstrap"
                    " (scripts/host-packages.txt)")


def dump_sql(database: str, tables: tuple[str, ...], extra: str = "") -> str:
    """A dump shaped like mariadb-dump --databases: the database, then its tables."""
    out = [f"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{database}`;", f"USE `{database}`;"]
    for table in tables:
        out += [f"CREATE TABLE `{table}` (id INT PRIMARY KEY, v TEXT);",
                f"INSERT INTO `{table}` VALUES (1, 'une ligne');"]
    return "\n".join(out) + "\n" + extra


@dataclass
class World:
    """A backup target in a folder: repositories, the rendered script and its outputs."""

    base: Path
    script: Path
    state: Path
    textfile: Path
    repos: Path

    def restic(self, client: str, *args: str) -> str:
        env = {**os.environ, "RESTIC_REPOSITORY": str(self.repos / client),
               "RESTIC_PASSWORD": PASSWORD, "RESTIC_CACHE_DIR": str(self.base / "cache")}
        done = subprocess.run(["restic", *args], env=env, capture_output=True, text=True,
                              check=False, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def site(self, client: str, name: str, dump: str, files: dict[str, bytes]) -> None:
        """Back up one site the way a client does: its tree and its dump, tagged."""
        tree = self.base / "srv/sites" / name
        dumps = self.base / "var/backups/koumbit/sites" / name
        for rel, content in files.items():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_bytes(content)
        dumps.mkdir(parents=True, exist_ok=True)
        (dumps / "db.sql").write_text(dump)
        self.restic(client, "backup", "--quiet", "--tag", "koumbit-site", "--tag",
                    f"site:{name}", str(tree), str(dumps))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.script), *args], capture_output=True, text=True,
                              check=False, timeout=600)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of the metrics file: (name, sorted labels) -> value."""
        samples = {}
        for line in self.textfile.read_text().splitlines():
            if line.startswith("#"):
                continue
            found = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
            assert found, line
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', found[2])))
            samples[(found[1], labels)] = float(found[3])
        return samples

    def site_value(self, metric: str, domain: str, server: str = "web1") -> float:
        key = (metric, (("server", server), ("site", domain), ("target", "backup1")))
        return self.metrics()[key]

    def repo_value(self, metric: str, server: str) -> float:
        return self.metrics()[(metric, (("server", server), ("target", "backup1")))]


def render_script(base: Path, **overrides: Any) -> str:
    """backup1's script from the lab inventory, with its paths under ``base``."""
    inv = load_env("lab")
    cfg = next(f for f in verify_files(inv, inv.server("backup1")) if f.dest == SCRIPT)
    ctx = dict(cfg.context)
    ctx["paths"] = {"wrapper": str(base / "koumbit-backup-repo"),
                    "state": str(base / "state/verify.state"),
                    "scratch": str(base / "scratch"),
                    "textfile": str(base / "textfile/koumbit_backup.prom"),
                    "lock": str(base / "state/verify.lock"),
                    "dump_root": str(base / "var/backups/koumbit/sites")}
    ctx["verify_user"] = "nobody"
    ctx.update(overrides)
    text = render(cfg.template, **ctx)
    # No account of the inventory exists here: the repositories' are `nobody` too.
    return re.sub(r"\brestic-(web1|web2|mon1)\b", "nobody", text)


def make_world(**overrides: Any) -> World:
    # Not under pytest's tmp folder: that one is private to root, and `nobody` must enter.
    base = Path(tempfile.mkdtemp(prefix="koumbit-verify-", dir="/var/tmp"))
    base.chmod(0o711)
    (base / "textfile").mkdir()
    repos = base / "repos"
    wrapper = base / "koumbit-backup-repo"
    wrapper.write_text(
        "#!/bin/sh\n# Stand-in for koumbit-backup-repo: restic on a local repository.\n"
        f'client=$1; shift\nexport RESTIC_REPOSITORY="{repos}/$client"'
        f' RESTIC_PASSWORD="{PASSWORD}" RESTIC_CACHE_DIR="{base}/cache"\n'
        'exec restic "$@"\n')
    wrapper.chmod(0o700)
    script = base / "koumbit-backup-verify"
    script.write_text(render_script(base, **overrides))
    script.chmod(0o700)
    world = World(base, script, base / "state/verify.state",
                  base / "textfile/koumbit_backup.prom", repos)
    for client in ("web1", "web2"):
        world.restic(client, "init")
    return world


@pytest.fixture
def world() -> Iterator[World]:
    _need_tools()
    made = make_world()
    try:
        yield made
    finally:
        shutil.rmtree(made.base, ignore_errors=True)


def wordpress(world: World, extra_sql: str = "") -> None:
    world.site("web1", WORDPRESS,
               dump_sql(WORDPRESS, ("wp_posts", "wp_options", "wp_users"), extra_sql),
               {"web/index.php": b"<?php // WordPress\n", "files/photo.jpg": os.urandom(300_000),
                "files/vide": b""})


def test_a_good_site_is_proven_and_a_site_missing_its_cms_tables_fails(world: World) -> None:
    wordpress(world)
    # The lab's Drupal stand-in must have koumbit_wiring: this dump lacks it.
    world.site("web1", DRUPAL, dump_sql(DRUPAL, ("users",)), {"web/index.php": b"<?php\n"})
    done = world.run()
    assert done.returncode == 1, done.stderr
    assert "the drupal database lacks its tables: koumbit_wiring" in done.stderr
    assert world.site_value("koumbit_backup_verification_success", WORDPRESS_DOMAIN) == 1
    assert world.site_value("koumbit_backup_verification_success", DRUPAL_DOMAIN) == 0
    assert world.site_value("koumbit_backup_last_verified_timestamp_seconds", DRUPAL_DOMAIN) == 0
    restored = world.site_value("koumbit_backup_restored_bytes", WORDPRESS_DOMAIN)
    assert 300_000 < restored < 310_000
    snapshots = json.loads(world.restic("web1", "snapshots", "--json", "--tag",
                                        f"site:{WORDPRESS}"))
    taken = world.site_value("koumbit_backup_last_snapshot_timestamp_seconds", WORDPRESS_DOMAIN)
    assert snapshots[0]["time"].startswith(
        subprocess.run(["date", "-u", "-d", f"@{int(taken)}", "+%Y-%m-%dT%H:%M:%S"],
                       capture_output=True, text=True, check=True).stdout.strip())
    # Every repository checked; web2's sites have no snapshot yet.
    for server in ("web1", "web2"):
        assert world.repo_value("koumbit_backup_repository_check_success", server) == 1
    assert world.site_value("koumbit_backup_last_snapshot_timestamp_seconds",
                            "comite-parents.test", "web2") == 0
    assert ("koumbit_backup_verification_success",
            (("server", "web2"), ("site", "comite-parents.test"), ("target", "backup1"))
            ) not in world.metrics()
    # Nothing left behind: no scratch, no database process of `nobody`'s from this run.
    assert list((world.base / "scratch").iterdir()) == []
    assert oct(world.state.stat().st_mode & 0o777) == "0o600"
    assert oct(world.textfile.stat().st_mode & 0o777) == "0o644"


def test_a_second_run_the_same_day_proves_nothing_again_and_keeps_the_values(
        world: World) -> None:
    wordpress(world)
    assert world.run().returncode == 0
    before = world.metrics()
    again = world.run()
    assert again.returncode == 0, again.stderr
    assert "restored and proven" not in again.stderr
    assert world.metrics() == before
    forced = world.run("--all")
    assert "restored and proven" in forced.stderr
    assert world.site_value("koumbit_backup_last_verification_timestamp_seconds",
                            WORDPRESS_DOMAIN) >= before[(
                                "koumbit_backup_last_verification_timestamp_seconds",
                                (("server", "web1"), ("site", WORDPRESS_DOMAIN),
                                 ("target", "backup1")))]


def test_a_corrupted_pack_fails_the_restore_and_the_repository_check(world: World) -> None:
    wordpress(world)
    assert world.run().returncode == 0
    packs = sorted((world.repos / "web1/data").rglob("*"), key=lambda p: p.stat().st_size)
    biggest = [p for p in packs if p.is_file()][-1]  # the photo's data
    data = bytearray(biggest.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
    biggest.chmod(0o600)
    biggest.write_bytes(bytes(data))
    done = world.run("--all")
    assert done.returncode == 1
    assert f"web1/{WORDPRESS}: verification FAILED" in done.stderr
    assert world.site_value("koumbit_backup_verification_success", WORDPRESS_DOMAIN) == 0
    assert world.repo_value("koumbit_backup_repository_check_success", "web1") == 0
    assert world.repo_value("koumbit_backup_repository_check_success", "web2") == 1
    # The last success is kept: it says how old the newest proven copy is.
    assert world.site_value("koumbit_backup_last_verified_timestamp_seconds",
                            WORDPRESS_DOMAIN) > 0


def test_a_dump_that_runs_a_shell_command_is_refused_and_runs_nothing(world: World) -> None:
    planted = world.base / "planted"
    wordpress(world, extra_sql=f"\\! touch {planted}\n")
    done = world.run()
    assert done.returncode == 1
    assert "its database dump did not load" in done.stderr
    assert not planted.exists()
    assert world.site_value("koumbit_backup_verification_success", WORDPRESS_DOMAIN) == 0


def test_a_restore_larger_than_the_free_space_fails_with_a_clear_message() -> None:
    _need_tools()
    world = make_world(margin=10**18)
    try:
        wordpress(world)
        done = world.run()
        assert done.returncode == 1
        assert re.search(rf"web1/{WORDPRESS}: its restore needs \d+ bytes, .* has \d+ free",
                         done.stderr), done.stderr
        assert world.site_value("koumbit_backup_verification_success", WORDPRESS_DOMAIN) == 0
        assert list((world.base / "scratch").iterdir()) == []
    finally:
        shutil.rmtree(world.base, ignore_errors=True)


def helper_program(script: str) -> str:
    """The script's embedded python3 helper (between <<'PY' and PY)."""
    found = re.search(r"<<'PY'\n(.*?)\nPY\n", script, re.DOTALL)
    assert found
    return found[1]


def test_the_tree_comparison_finds_a_missing_an_extra_and_a_resized_file(
        world: World) -> None:
    wordpress(world)
    listing = world.base / "listing.json"
    listing.write_text(world.restic("web1", "ls", "--json", "latest"))
    restored = world.base / "restored"
    world.restic("web1", "restore", "latest", "--target", str(restored))
    program = helper_program(world.script.read_text())

    def compare() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["python3", "-I", "-c", program, "compare", str(listing),
                               str(restored)], capture_output=True, text=True, check=False)

    assert compare().returncode == 0, compare().stderr
    tree = restored / str(world.base).lstrip("/") / "srv/sites" / WORDPRESS
    (tree / "files/vide").write_bytes(b"x")
    (tree / "files/extra").write_bytes(b"")
    (tree / "web/index.php").unlink()
    done = compare()
    assert done.returncode != 0
    assert "3 differences" in done.stderr
    assert re.search(r"missing /.*/web/index.php", done.stderr)
    assert re.search(r"not in the snapshot /.*/files/extra", done.stderr)
    assert re.search(r"/files/vide: snapshot \('file', 0\), restored \('file', 1\)",
                     done.stderr)
