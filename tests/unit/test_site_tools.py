"""The site tools' shared shell functions (site-lib.sh), run for real on a local tree that a
hostile site prepared: links out of the tree, a FIFO, a link loop."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from koumbit_infra.inventory import load_inventory
from koumbit_infra.sites.files import server_files
from koumbit_infra.sites.layout import SITE_LIB

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory" / "lab")
LIB = next(f for f in server_files(INV, INV.server("web1")) if f.dest == SITE_LIB).content


def _lib(tmp: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    lib = tmp / "site-lib.sh"
    lib.write_text(LIB)
    return subprocess.run(["sh", "-c", f". {lib}; {script}", "sh", *args], capture_output=True,
                          text=True, timeout=30, check=False)


def _hostile_tree(tmp: Path) -> Path:
    site = tmp / "site"
    (site / "web").mkdir(parents=True)
    (site / "web" / "index.php").write_text("<?php echo 1;\n")
    secret = tmp / "outside-secret"
    secret.write_text("root's own secret\n")
    (site / "web" / "shadow").symlink_to(secret)
    (site / "web" / "etc").symlink_to("/etc")
    (site / "web" / "loop").symlink_to("loop")
    os.mkfifo(site / "web" / "pipe")
    return site


def test_listing_never_follows_a_link_nor_opens_a_fifo(tmp_path: Path) -> None:
    site = _hostile_tree(tmp_path)
    done = _lib(tmp_path, 'listing "$1"', str(site))  # a FIFO opened would hang: timeout
    assert done.returncode == 0, done.stderr
    lines = {line.split(" ", 4)[4]: line for line in done.stdout.splitlines()}
    assert lines["./web/shadow -> " + str(tmp_path / "outside-secret")].startswith("120000 ")
    assert "./web/etc -> /etc" in lines and "./web/loop -> loop" in lines
    assert lines["./web/pipe"].startswith("10000 ")  # S_IFIFO, listed, never read
    # Only the real file is hashed; nothing under /etc or the secret was read.
    hashed = [line for line in done.stdout.splitlines() if len(line.rsplit(" ", 1)[1]) == 64]
    assert len(hashed) == 1 and "./web/index.php" in hashed[0]
    assert not any("passwd" in line for line in done.stdout.splitlines())


def test_listing_tells_a_tree_from_its_copy_that_differs(tmp_path: Path) -> None:
    site = _hostile_tree(tmp_path)
    first = _lib(tmp_path, 'listing "$1"', str(site)).stdout
    (site / "web" / "index.php").write_text("<?php echo 2;\n")
    assert _lib(tmp_path, 'listing "$1"', str(site)).stdout != first


def test_a_failed_database_listing_stops_the_tool(tmp_path: Path) -> None:
    """`mariadb ... | grep -q` read a failure as "no database"; now it is an exit 6."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mariadb").write_text("#!/bin/sh\necho 'ERROR 2002: socket' >&2\nexit 1\n")
    (bin_dir / "mariadb").chmod(0o755)
    lib = tmp_path / "site-lib.sh"
    lib.write_text(LIB)
    done = subprocess.run(
        ["sh", "-c", f'set -eu; . {lib}; dbs=$(list_databases); echo "went on: $dbs"'],
        capture_output=True, text=True, timeout=30, check=False,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert done.returncode == 6
    assert "went on" not in done.stdout
    assert "cannot list MariaDB's databases" in done.stderr


def test_the_lock_makes_a_second_command_wait_then_give_up(tmp_path: Path) -> None:
    lib = tmp_path / "site-lib.sh"
    lib.write_text(LIB.replace('lock_root="/var/lib/koumbit/site-locks"',
                               f'lock_root="{tmp_path}/locks"'))
    holder = subprocess.Popen(["sh", "-c", f". {lib}; site_lock a; echo held; sleep 20"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        done = subprocess.run(["sh", "-c", f". {lib}; site_lock a; echo got it"],
                              capture_output=True, text=True, timeout=30, check=False,
                              env={**os.environ, "KOUMBIT_LOCK_WAIT": "1"})
        assert done.returncode == 75 and "got it" not in done.stdout
        assert "a: another koumbit command holds this site's lock; waiting" in done.stderr
        other = subprocess.run(["sh", "-c", f". {lib}; site_lock b; echo got it"],
                               capture_output=True, text=True, timeout=30, check=False)
        assert other.stdout == "got it\n"  # one site's lock never blocks another site
    finally:
        holder.kill()
        holder.wait()
