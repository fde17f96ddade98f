"""drush, the one way every Drupal step runs it (koumbit_infra/sites/drush.py): the site's
own vendor/bin/drush, its PHP, its user, its limits, its address, never a password; and
the deploy's ``drush site:install`` run against fake ``mariadb`` and ``runuser``."""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
from pathlib import Path

from koumbit_infra.inventory import load_inventory
from koumbit_infra.operations.sites import drupal_install_script
from koumbit_infra.sites.copy import new_address_command
from koumbit_infra.sites.drush import drush_argv, drush_command, drush_line
from koumbit_infra.sites.files import site_files
from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.runner import site_command

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory" / "lab")
DRUPAL = SiteLayout.of(INV, INV.site("centre-femmes.test"))
WORDPRESS = SiteLayout.of(INV, INV.site("erables.test"))


def _without_tls(site: SiteLayout) -> SiteLayout:
    plain = site.placed.site.model_copy(update={"tls": False})
    return dataclasses.replace(site, placed=dataclasses.replace(site.placed, site=plain))


def _as_site(line: str) -> tuple[list[str], list[str]]:
    """``runuser``'s words up to ``sh -c``, and the words of the script it runs."""
    words = shlex.split(line)
    start = words.index("runuser")
    script = words[words.index("-c", start) + 1]
    return words[start:words.index("-c", start)], shlex.split(script)


def test_drush_is_the_sites_own_run_by_its_php_as_its_user() -> None:
    outer, script = _as_site(drush_line(DRUPAL, "cache:rebuild"))
    assert outer[:4] == ["runuser", "-u", DRUPAL.name, "--"]  # never root
    assert f"PHP_INI_SCAN_DIR={DRUPAL.php_cli_env}" in outer  # the pool's limits
    assert f"TMPDIR={DRUPAL.tmp}" in outer
    # In its code folder, its PHP (the pool's version, not the server's default php).
    assert script[script.index("cd") + 1] == DRUPAL.web
    assert script[-4:] == [DRUPAL.php.cli, f"{DRUPAL.web}/vendor/bin/drush",
                           f"--root={DRUPAL.web}", "cache:rebuild"]


def test_drush_is_told_the_sites_address_https_when_it_has_tls() -> None:
    outer, _ = _as_site(drush_line(DRUPAL, "user:login"))
    assert "DRUSH_OPTIONS_URI=https://centre-femmes.test" in outer
    outer, _ = _as_site(drush_line(_without_tls(DRUPAL), "user:login"))
    assert "DRUSH_OPTIONS_URI=http://centre-femmes.test" in outer
    # koumbit-infra run gives a person's drush the same address; WordPress gets none.
    assert "DRUSH_OPTIONS_URI=https://centre-femmes.test" in site_command(DRUPAL, "true")
    assert "DRUSH_OPTIONS_URI" not in site_command(WORDPRESS, "true")


def test_only_updatedb_may_start_drushs_own_batch_workers() -> None:
    """drush updatedb runs its batches in processes it starts (proc_open); the pool, the
    timer's cron and every other drush run keep every function the pool forbids."""
    forbidden = set(DRUPAL.php_disabled_functions.split(","))
    assert "proc_open" in forbidden
    update = drush_argv(DRUPAL, "updatedb", "--yes")
    allowed = update[update.index("-d") + 1].removeprefix("disable_functions=").split(",")
    assert set(allowed) == forbidden - {"proc_open"}
    for args in (("cron",), ("cache:rebuild",), ("site:install", "standard")):
        assert "-d" not in drush_argv(DRUPAL, *args)


def test_the_timer_runs_the_same_drush_with_the_same_environment() -> None:
    unit = next(f for f in site_files(DRUPAL) if f.dest.endswith(".service")).content
    assert f"User={DRUPAL.name}\n" in unit
    for name, value in DRUPAL.cli_env.items():
        assert f"\nEnvironment={name}={value}\n" in unit
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert start.endswith(shlex.join(drush_argv(DRUPAL, "cron")))
    assert f"--nonblock --conflict-exit-code 0 {DRUPAL.lock_file} " in start
    assert f"ExecCondition=/usr/bin/test -e {DRUPAL.web}/vendor/bin/drush" in unit


def test_update_and_copy_call_drush_under_the_sites_lock() -> None:
    line = drush_command(DRUPAL, "updatedb", "--yes")
    words = shlex.split(line)
    assert words[words.index("flock") + 5] == DRUPAL.lock_file
    copy = SiteLayout.of(INV, INV.site("logiciel-libre.test"))
    told = new_address_command(DRUPAL, copy)
    assert told == drush_command(copy, "cache:rebuild", missing_ok=True)


def test_no_password_reaches_a_drush_command_line() -> None:
    for line in (drush_command(DRUPAL, "updatedb"), drupal_install_script(DRUPAL)):
        assert "--db-url" not in line and "--account-pass" not in line
        assert "db_password" not in line and "mysql://" not in line


# --- drush site:install, as the deploy runs it -------------------------------------------


FAKE_RUNUSER = """#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_DIR/runuser.args"
echo " [success] Installation complete.  User name: admin  User password: s3cret-Pa55"
exit "$FAKE_RC"
"""


def _install(tmp_path: Path, state: str | None, rc: int = 0) -> subprocess.CompletedProcess[str]:
    """The deploy's install script with fakes first on PATH: ``mariadb`` answers Drupal's
    install state (``None``: no such table yet), ``runuser`` stands for drush."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    mariadb = bin_dir / "mariadb"
    mariadb.write_text("#!/bin/sh\nexit 1\n" if state is None
                       else f"#!/bin/sh\nprintf '%s\\n' '{state}'\n")
    (bin_dir / "runuser").write_text(FAKE_RUNUSER)
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    marker = tmp_path / "installed"
    script = drupal_install_script(DRUPAL).replace(DRUPAL.installed_marker, str(marker))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path),
           "FAKE_RC": str(rc)}
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env,
                          check=False, timeout=30)


def test_install_runs_the_sites_drush_once_and_hides_the_password(tmp_path: Path) -> None:
    done = _install(tmp_path, None)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "installed").exists()
    args = (tmp_path / "runuser.args").read_text().splitlines()
    assert args[:3] == ["-u", DRUPAL.name, "--"]
    script = shlex.split(args[args.index("-c") + 1])
    assert script[script.index(DRUPAL.php.cli):] == [
        DRUPAL.php.cli, f"{DRUPAL.web}/vendor/bin/drush", f"--root={DRUPAL.web}",
        "site:install", "standard", "--yes", f"--site-name={DRUPAL.title}",
        f"--account-mail={DRUPAL.admin_email}"]
    assert "Installation complete" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout and "(hidden" in done.stderr


def test_a_failed_install_is_not_marked_and_says_why(tmp_path: Path) -> None:
    done = _install(tmp_path, None, rc=1)
    assert done.returncode != 0
    assert not (tmp_path / "installed").exists()
    assert "Installation complete" in done.stderr  # drush's own words reach the deploy


def test_an_installed_site_whose_mark_was_lost_is_never_installed_over(tmp_path: Path) -> None:
    """drush site:install drops every table first: a live site must never get there."""
    done = _install(tmp_path, 's:4:"done";')
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "installed").exists()
    assert not (tmp_path / "runuser.args").exists()  # drush never ran


def test_a_half_done_install_is_installed_again(tmp_path: Path) -> None:
    """A first run cut short leaves Drupal's install state at some other task."""
    done = _install(tmp_path, 's:23:"install_profile_modules";')
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runuser.args").exists()
