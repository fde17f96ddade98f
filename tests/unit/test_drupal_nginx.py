"""A Drupal site's vhost, served by this host's real nginx and php-fpm8.2 from a tree laid
out like Drupal 10's: its front controllers run; no other PHP file runs or shows its
source; the text of its code (changelogs, composer and yml files, modules as text) is not
served; the site's own files are."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nginxrun import get, serving

from koumbit_infra.inventory import load_inventory
from koumbit_infra.sites.files import site_files
from koumbit_infra.sites.layout import SiteLayout

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory" / "lab")
SITE = SiteLayout.of(INV, INV.site("centre-femmes.test"))

pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None or shutil.which("php-fpm8.2") is None,
    reason="needs nginx and php-fpm8.2")

# Drupal 10's front controllers: each must run.
FRONT = ("index.php", "update.php", "core/install.php", "core/rebuild.php",
         "core/authorize.php", "core/modules/statistics/statistics.php")
# PHP files of a Drupal tree that must neither run nor be shown.
OTHER_PHP = ("autoload.php", "core/lib/Drupal.php", "sites/default/default.settings.php",
             "core/globals.api.php", "core/modules/node/src/NodeForm.php",
             "modules/contrib/x/lib/run.php", "sites/default/files/shell.php")
# The text of Drupal's code: never served.
CODE_TEXT = ("core/CHANGELOG.txt", "core/INSTALL.txt", "core/LICENSE.txt", "INSTALL.txt",
             "README.md", "core/README.md", "core/composer.json", "core/package.json",
             "core/core.services.yml", "core/modules/node/node.info.yml",
             "core/modules/node/node.module", "core/modules/system/system.install",
             "core/themes/olivero/olivero.theme", "core/profiles/standard/standard.profile",
             "sites/example.sites.php.txt")
# The site's own files: served as they are.
SERVED = ("robots.txt", "ads.txt", ".well-known/security.txt", "core/misc/drupal.js",
          "core/themes/olivero/logo.svg", "sites/default/files/rapport-annuel.txt",
          "sites/default/files/styles/large/photo.jpg")
SOURCE = b"SOURCE-OF-THIS-FILE"


def _tree(docroot: Path, files: Path) -> None:
    """A Drupal 10 tree whose PHP files say where they ran, and hold a marker that shows
    whenever one is sent as text."""
    for rel in (*FRONT, *OTHER_PHP):
        where = files / rel.removeprefix("sites/default/files/") \
            if rel.startswith("sites/default/files/") else docroot / rel
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(f"<?php /* {SOURCE.decode()} */ echo 'ran:', $_SERVER['SCRIPT_NAME'];\n")
    for rel in (*CODE_TEXT, *SERVED):
        where = files / rel.removeprefix("sites/default/files/") \
            if rel.startswith("sites/default/files/") else docroot / rel
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_bytes(b"served:" + rel.encode())


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    # Outside pytest's private temporary folder: nginx (www-data) and PHP (nobody) read it.
    tmp = Path(tempfile.mkdtemp(prefix="koumbit-drupal-"))
    tmp.chmod(0o755)
    docroot, files, sock = tmp / "docroot", tmp / "files", tmp / "fpm.sock"
    _tree(docroot, files)
    (tmp / "fpm.conf").write_text(
        f"[global]\nerror_log = {tmp}/fpm.log\npid = {tmp}/fpm.pid\ndaemonize = no\n"
        f"[site]\nuser = nobody\ngroup = nogroup\nlisten = {sock}\nlisten.owner = www-data\n"
        "listen.group = www-data\nlisten.mode = 0660\npm = static\npm.max_children = 2\n")
    fpm = subprocess.Popen(["php-fpm8.2", "-y", str(tmp / "fpm.conf")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    vhost = next(f for f in site_files(SITE) if f.dest == SITE.vhost_file).content
    vhost = (vhost.replace(SITE.docroot, str(docroot)).replace(SITE.files, str(files))
             .replace(SITE.fpm_socket, str(sock)))
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        with serving(vhost, tmp) as answering:
            yield answering
    finally:
        fpm.terminate()
        fpm.wait(timeout=10)
        shutil.rmtree(tmp)


def _get(port: int, path: str) -> tuple[int, bytes]:
    status, _, body = get(port, SITE.domain, path)
    return status, body


@pytest.mark.parametrize("path", [f"/{p}" for p in FRONT])
def test_drupals_front_controllers_run(port: int, path: str) -> None:
    assert _get(port, path) == (200, f"ran:{path}".encode())


@pytest.mark.parametrize(("path", "script"), [
    ("/", "/index.php"), ("/node/1", "/index.php"), ("/fr/a-propos?page=2", "/index.php"),
    ("/update.php/selection", "/update.php"),
    # An image style or a CSS aggregate not made yet: Drupal makes it.
    ("/sites/default/files/styles/large/absent.jpg", "/index.php"),
    ("/sites/default/files/css/css_Ab12.css", "/index.php"),
    ("/sites/default/files/js/js_Cd34.js", "/index.php"),
])
def test_every_page_reaches_a_front_controller(port: int, path: str, script: str) -> None:
    assert _get(port, path) == (200, f"ran:{script}".encode())


@pytest.mark.parametrize("path", [f"/{p}" for p in OTHER_PHP]
                         + ["/autoload.php/x", "/AUTOLOAD.PHP", "/core/lib/Drupal.php/x"])
def test_no_other_php_file_runs_or_shows_its_source(port: int, path: str) -> None:
    status, body = _get(port, path)
    assert status == 403, (path, body[:200])
    assert SOURCE not in body and b"ran:" not in body


@pytest.mark.parametrize("path", [f"/{p}" for p in CODE_TEXT])
def test_the_text_of_drupals_code_is_not_served(port: int, path: str) -> None:
    status, body = _get(port, path)
    assert status in (403, 404), (path, body[:200])
    assert b"served:" not in body


@pytest.mark.parametrize("path", [f"/{p}" for p in SERVED])
def test_the_sites_own_files_are_served(port: int, path: str) -> None:
    assert _get(port, path) == (200, b"served:" + path.removeprefix("/").encode())


def test_settings_stay_denied(port: int) -> None:
    assert _get(port, "/sites/default/settings.php")[0] == 403
