"""WordPress's database upgrade for ``site update`` (wp-upgrade.php), run by the real PHP
CLI, as koumbit-site-update runs it (the script on standard input), against a stand-in
WordPress: just the functions it calls, acting as the test says. The real WordPress
runs it in the lab (tests/lab/test_site_update.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from koumbit_infra.inventory import load_inventory
from koumbit_infra.sites.files import server_files
from koumbit_infra.sites.layout import WP_UPGRADER

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory" / "lab")
SCRIPT = next(f for f in server_files(INV, INV.server("web1")) if f.dest == WP_UPGRADER).content

# $mode (from the file "mode" beside it): ok, die (a plugin stops during the upgrade),
# stuck (the database stays behind), fresh (WordPress not installed).
FAKE_WP_LOAD = r"""<?php
define('ABSPATH', __DIR__ . '/');
$mode = trim(file_get_contents(__DIR__ . '/mode'));
$wp_db_version = 58975;
$koumbit_db = 57155;
class FakeDb {
    public $options = 'wp_options';
    public $last_error = '';
    public function get_var($sql) { global $koumbit_db; return (string) $koumbit_db; }
}
$wpdb = new FakeDb();
function is_blog_installed() { global $mode; return $mode !== 'fresh'; }
function get_option($name) { global $koumbit_db; return (string) $koumbit_db; }
function wp_cache_flush() {}
file_put_contents(__DIR__ . '/host',
                  $_SERVER['HTTP_HOST'] . (defined('WP_INSTALLING') ? ' installing' : ''));
"""
FAKE_UPGRADE = r"""<?php
function wp_upgrade() {
    global $mode, $koumbit_db, $wp_db_version;
    if ($mode === 'die') { die('Plugin says bye'); }
    if ($mode !== 'stuck') { $koumbit_db = $wp_db_version; }
}
"""


def _wordpress(tmp: Path, mode: str) -> Path:
    docroot = tmp / "web"
    (docroot / "wp-admin/includes").mkdir(parents=True)
    (docroot / "wp-load.php").write_text(FAKE_WP_LOAD)
    (docroot / "wp-admin/includes/upgrade.php").write_text(FAKE_UPGRADE)
    (docroot / "mode").write_text(mode)
    return docroot


def _upgrade(*args: str) -> subprocess.CompletedProcess[str]:
    php = shutil.which("php")
    if php is None:
        pytest.fail("php is missing: run scripts/bootstrap (scripts/host-packages.txt)")
    return subprocess.run([php, "--", *args], input=SCRIPT, capture_output=True, text=True,
                          timeout=30, check=False)


def test_the_upgrade_brings_the_database_to_the_code_s_version(tmp_path: Path) -> None:
    docroot = _wordpress(tmp_path, "ok")
    done = _upgrade(str(docroot), "https://erables.test")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "database 57155 to 58975\n"
    assert (docroot / "host").read_text() == "erables.test installing"


@pytest.mark.parametrize(("mode", "why"), [
    ("die", "WordPress stopped before its database upgrade was proven done"),
    ("stuck", "the database is at 57155 after wp_upgrade(), the code expects 58975"),
    ("fresh", "WordPress is not installed here"),
])
def test_an_upgrade_that_did_not_finish_is_a_failure(tmp_path: Path, mode: str,
                                                     why: str) -> None:
    done = _upgrade(str(_wordpress(tmp_path, mode)), "https://erables.test")
    assert done.returncode == 1 and why in done.stderr
    assert "database 57155 to 58975" not in done.stdout


@pytest.mark.parametrize("url", ["https://erables.test/$(id)", "javascript:alert(1)", ""])
def test_a_bad_address_is_refused_before_wordpress_is_loaded(tmp_path: Path, url: str) -> None:
    docroot = _wordpress(tmp_path, "ok")
    done = _upgrade(str(docroot), url)
    assert done.returncode == 2 and not (docroot / "host").exists()
