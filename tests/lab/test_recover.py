"""The disaster drill: web1 is lost and re-created empty; ``server recover web1`` brings every
site back (same post, byte-identical upload, same home page) from the escrow and an admin's
key alone, even with web1's password copies on the targets gone.

The real admins' private keys are not on the lab host: a scratch copy of the lab inventory
makes the lab's own SSH key an admin's, and deploying it re-encrypts the escrow (which
proves that adding an admin does). The lab is deployed with its own inventory at the end.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deploy_fixture import Deployment, deploy_lab, deployed, lab_trust, timed_json

from koumbit_infra.inventory import Cms, Inventory, Role, SiteState, load_inventory
from koumbit_infra.lab import lifecycle
from koumbit_infra.recover import escrow
from koumbit_infra.recover.errors import RecoverError
from koumbit_infra.recover.steps import PASSWORD_FILE
from koumbit_infra.sites.files import layouts
from koumbit_infra.sites.http import Answer, fetch
from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.variant import add_admin, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("koumbit-infra"))
SERVER = "web1"
TITLE = "Exercice de reprise 5e1a"
UPLOAD = "2026/11/reprise-5e1a.bin"


def drill_inventory(base: Path, lab: Lab) -> Path:
    """A copy of the lab inventory whose admins include the lab's own key; its folder."""
    env_file = write_variant(ROOT / "inventory" / "lab", base, lambda clients: None)
    add_admin(env_file.with_suffix(""), "reprise", "Exercice de reprise",
              lab.paths.ssh_public_key.read_text())
    return base


def cli(inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args, "--inventory", str(inventory)], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600, check=False,
                          env=dict(os.environ))


def get(inv: Inventory, site: SiteLayout, path: str = "/") -> Answer:
    return fetch(str(inv.server(SERVER).address), site.domain, path, tls=site.tls,
                 ca_file=lab_trust())


def upload_url(site: SiteLayout) -> str:
    prefix = "/wp-content/uploads" if site.cms is Cms.WORDPRESS else "/sites/default/files"
    return f"{prefix}/{UPLOAD}"


def post_query(site: SiteLayout) -> str:
    """Root's line reading the drill's post back from the site's database."""
    if site.cms is Cms.WORDPRESS:
        sql = f"SELECT ID, post_title FROM wp_posts WHERE post_title = '{TITLE}'"
    else:  # the lab's Drupal stand-in has no nodes: a row of its own table
        sql = "SELECT id, title FROM koumbit_drill"
    return f"mariadb -N {site.name} -e {shlex.quote(sql)}"


def home(inv: Inventory, site: SiteLayout) -> tuple[int, str]:
    """The home page as a person sees it: its status and its title (or its body)."""
    answer = get(inv, site)
    title = re.search(r"<title>([^<]*)</title>", answer.text)
    return answer.status, title[1] if title else answer.text


@dataclass(frozen=True)
class Recorded:
    post: str
    post_id: int
    upload: str
    home: tuple[int, str]


def record(lab: Lab, inv: Inventory, site: SiteLayout) -> Recorded:
    """A post, an upload made by the site's own user, and the home page, of one site."""
    run = lab.run
    # umask 022, as the site's PHP-FPM pool writes (Debian 13's runuser would apply 027).
    digest = run(SERVER, f"runuser -u {site.name} -- sh -c 'umask 022"
                         f" && mkdir -p {site.files}/2026/11"
                         f" && head -c 300000 /dev/urandom > {site.files}/{UPLOAD}'"
                         f" && sha256sum {site.files}/{UPLOAD}").split()[0]
    if site.cms is Cms.WORDPRESS:
        php = ("define('WP_USE_THEMES', false); $_SERVER['HTTP_HOST'] = '" + site.domain + "';"
               " require 'wp-load.php'; echo wp_insert_post(['post_title' => '" + TITLE + "',"
               " 'post_content' => 'Reprise', 'post_status' => 'publish']);")
        run(SERVER, f"cd {site.web} && runuser -u {site.name} -- php -r {shlex.quote(php)}")
    else:
        sql = ("CREATE TABLE IF NOT EXISTS koumbit_drill (id INT PRIMARY KEY, title TEXT);"
               f" REPLACE INTO koumbit_drill VALUES (1, '{TITLE}')")
        run(SERVER, f"mariadb {site.name} -e {shlex.quote(sql)}")
    post = run(SERVER, post_query(site)).strip()
    assert TITLE in post, site.domain
    return Recorded(post, int(post.split()[0]), digest, home(inv, site))


def assert_back(lab: Lab, inv: Inventory, site: SiteLayout, before: Recorded) -> None:
    assert lab.run(SERVER, post_query(site)).strip() == before.post, site.domain
    assert home(inv, site) == before.home, site.domain
    on_disk = lab.run(SERVER, f"sha256sum {site.files}/{UPLOAD}").split()[0]
    assert on_disk == before.upload, site.domain
    if site.state is SiteState.DISABLED:
        assert before.home[0] == 503  # the maintenance page, as before the loss
        return
    upload = get(inv, site, upload_url(site))
    assert upload.status == 200, site.domain
    assert hashlib.sha256(upload.body).hexdigest() == before.upload, site.domain
    if site.cms is Cms.WORDPRESS:
        page = get(inv, site, f"/?p={before.post_id}")
        if page.status == 301:  # to the post's pretty permalink, on the same site
            page = get(inv, site, page.headers["location"].removeprefix(
                f"https://{site.domain}"))
        assert page.status == 200 and TITLE in page.text, site.domain
    else:
        assert json.loads(get(inv, site, "/node/1").text)["connected"] is True, site.domain


def escrow_password_digest(lab: Lab, key: Path) -> str:
    """sha256 of web1's password as the escrow on backup1 holds it, opened with ``key``."""
    b64 = lab.run("backup1", f"base64 -w0 {escrow.escrow_file(SERVER)}")
    password = escrow.decrypt(base64.b64decode(b64), key, SERVER)
    return hashlib.sha256(password.encode()).hexdigest()


@pytest.fixture(scope="module")
def drill(deployed: Deployment, lab: Lab,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    inventory = drill_inventory(tmp_path_factory.mktemp("inventory-recover"), lab)
    try:
        yield inventory
    finally:
        # Whatever happened, the lab ends as the other tests expect it: its own inventory.
        run = deploy_lab()
        assert run.returncode == 0, run.stderr[-5000:]


def test_web1_is_lost_and_every_site_comes_back(drill: Path, lab: Lab) -> None:
    inv = load_inventory(drill / "lab")
    sites = [s for s in layouts(inv, inv.server(SERVER)) if s.state is not SiteState.ABSENT]
    assert len(sites) >= 3
    key = lab.paths.ssh_key
    # Before: the lab's key is no admin's, so it cannot open the escrow.
    with pytest.raises(RecoverError, match="not one of the admins' keys"):
        escrow_password_digest(lab, key)
    run = timed_json([CLI, "deploy", "--env", "lab", "--inventory", str(drill), "--json"],
                     timeout=1800)
    assert run.returncode == 0, run.stderr[-5000:]
    # Adding an admin re-encrypted the escrow: the new admin's key opens it now.
    password = lab.run(SERVER, f"sha256sum {PASSWORD_FILE}").split()[0]
    assert escrow_password_digest(lab, key) == password

    recorded = {s.domain: record(lab, inv, s) for s in sites}
    lab.run(SERVER, "systemctl start koumbit-backup.service", timeout=1800)
    dry = cli(drill, "server", "recover", SERVER, "--dry", "--identity", str(key))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    for site in sites:
        assert re.search(rf"^{re.escape(site.domain)}: snapshot [0-9a-f]{{8}} of .*"
                         r"would be restored$", dry.stdout, re.MULTILINE), dry.stdout

    # The loss: web1 made anew from the empty base, its password copies on the targets gone.
    lifecycle.recreate(lab.servers, [SERVER])
    lab.run(SERVER, f"test ! -e /srv/sites && test ! -e {PASSWORD_FILE}")
    for target in inv.servers_with(Role.BACKUP):
        lab.run(target.name, f"rm -f {escrow.TARGET_KEYS_DIR}/{SERVER}.age")

    done = cli(drill, "server", "recover", SERVER, "--identity", str(key))
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-5000:]
    for site in sites:
        line = re.search(rf"^{re.escape(site.domain)}: snapshot ([0-9a-f]{{8}}) of (\S+)"
                         r" \((.+) old\): restored$", done.stdout, re.MULTILINE)
        assert line, done.stdout
        assert_back(lab, inv, site, recorded[site.domain])
    assert password == lab.run(SERVER, f"sha256sum {PASSWORD_FILE}").split()[0]
    assert lab.run(SERVER, f"stat -c '%U %a' {PASSWORD_FILE}").split() == ["root", "600"]
    for target in inv.servers_with(Role.BACKUP):  # the deploy made the target's copy again
        lab.run(target.name, f"test -s {escrow.TARGET_KEYS_DIR}/{SERVER}.age")
    # The sites' scheduled tasks run again (a recovery once left their locks out of reach).
    for site in sites:
        if site.state is SiteState.ACTIVE:
            lab.run(SERVER, f"systemctl start {site.cron_unit}.service")
    assert lab.run(SERVER, "systemctl is-system-running || true").strip() == "running"

    # Run again: nothing is restored twice, nothing made by the recovery is restored.
    again = cli(drill, "server", "recover", SERVER, "--identity", str(key))
    assert again.returncode == 0, again.stdout[-5000:] + again.stderr[-3000:]
    for site in sites:
        assert f"{site.domain}: already restored from" in again.stdout
        assert_back(lab, inv, site, recorded[site.domain])
