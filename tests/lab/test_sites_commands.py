"""``koumbit-infra site backup|restore|clone|migrate|verify`` and ``run`` on the lab,
end to end, on two scratch sites (web1 and web2) of a scratch copy of the lab inventory.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, deployed, lab_trust
from test_sites_lifecycle import sites_deploy

from koumbit_infra.inventory import load_inventory
from koumbit_infra.sites.http import Answer, fetch
from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("koumbit-infra"))
SOURCE, COPY = "commandes.essai.test", "copie.essai.test"
ADDRESS = {"web1": "10.77.0.11", "web2": "10.77.0.12"}
TEXT = "Contenu des commandes 91c2"


def _edit(source_server: str = "web1", source_state: str = "active",
          copy_state: str = "active") -> Any:
    def edit(clients: Clients) -> None:
        clients["essai-commandes"] = scratch_client("essai-commandes", [
            {"domain": SOURCE, "cms": "wordpress", "server": source_server,
             "state": source_state, "title": "Essai des commandes"},
            {"domain": COPY, "cms": "wordpress", "server": "web2", "state": copy_state,
             "title": "Copie de préproduction"}])
    return edit


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inventory-commands")


def cli(scratch: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "KOUMBIT_INVENTORY": str(scratch)}, check=False)


def layout(scratch: Path, domain: str) -> SiteLayout:
    inv = load_inventory(scratch / "lab")
    return SiteLayout.of(inv, inv.site(domain))


def sh(lab: Lab, server: str, command: str) -> str:
    return lab.run(server, command, timeout=300)


def get(server: str, domain: str, path: str = "/") -> Answer:
    answer = fetch(ADDRESS[server], domain, path, ca_file=lab_trust())
    if answer.status == 301 and answer.headers["location"].startswith(f"https://{domain}/"):
        answer = fetch(ADDRESS[server], domain,
                       answer.headers["location"].removeprefix(f"https://{domain}"),
                       ca_file=lab_trust())
    return answer


def _absent_everywhere(scratch: Path) -> None:
    for server in ("web1", "web2"):
        env = write_variant(ROOT / "inventory" / "lab", scratch,
                            _edit(server, "absent", "absent"))
        assert sites_deploy(env, server).returncode == 0


@pytest.fixture(scope="module")
def sites(deployed: Deployment, scratch: Path) -> Iterator[Path]:
    _absent_everywhere(scratch)  # leftovers of an interrupted run: archived, removed
    env = write_variant(ROOT / "inventory" / "lab", scratch, _edit())
    for server in ("web1", "web2"):
        run = sites_deploy(env, server)
        assert run.returncode == 0, run.output[-3000:]
    yield scratch
    _absent_everywhere(scratch)


@pytest.fixture(scope="module")
def content(sites: Path, lab: Lab) -> tuple[int, str]:
    site = layout(sites, SOURCE)
    php = ("define('WP_USE_THEMES', false); $_SERVER['HTTP_HOST'] = '" + SOURCE + "';"
           " require 'wp-load.php'; echo wp_insert_post(['post_title' => 'Commandes',"
           f" 'post_content' => '{TEXT} https://{SOURCE}/x', 'post_status' => 'publish']);")
    post = int(sh(lab, "web1",
                  f"cd {site.web} && runuser -u {site.name} -- php -r {shlex.quote(php)}"))
    upload = f"{site.files}/2026/11/commandes.bin"
    # umask 022, as the site's PHP-FPM pool writes (Debian 13's runuser would apply 027).
    digest = sh(lab, "web1", f"runuser -u {site.name} -- sh -c 'umask 022"
                             f" && mkdir -p {site.files}/2026/11"
                             f" && head -c 200000 /dev/urandom > {upload}'"
                             f" && sha256sum {upload}").split()[0]
    return post, digest


def _check(server: str, domain: str, post: int, digest: str) -> str:
    page = get(server, domain, f"/?p={post}")
    assert page.status == 200 and TEXT in page.text, (server, domain, page.status)
    upload = get(server, domain, "/wp-content/uploads/2026/11/commandes.bin")
    assert hashlib.sha256(upload.body).hexdigest() == digest
    return page.text


def test_run_as_each_selected_site(sites: Path) -> None:
    done = cli(sites, "run", "--sites", "client:essai-commandes", "--", "id", "-un")
    assert done.returncode == 0, done.stderr
    for domain in (SOURCE, COPY):
        assert layout(sites, domain).name in done.stdout
    assert "2 ok, 0 failed" in done.stdout
    failing = cli(sites, "run", "--sites", SOURCE, "--", "cat", "/etc/shadow")
    assert failing.returncode == 1 and "FAILED" in failing.stdout
    assert cli(sites, "run", "--sites", "nothing.example", "--", "true").returncode == 2


def test_backup_then_restore_brings_back_post_and_upload(sites: Path, lab: Lab,
                                                         content: tuple[int, str]) -> None:
    post, digest = content
    site = layout(sites, SOURCE)
    done = cli(sites, "site", "backup", SOURCE)
    assert done.returncode == 0 and "verified" in done.stdout, done.stderr
    php = ("define('WP_USE_THEMES', false); $_SERVER['HTTP_HOST'] = '" + SOURCE + "';"
           f" require 'wp-load.php'; wp_delete_post({post}, true);")
    sh(lab, "web1", f"cd {site.web} && runuser -u {site.name} -- php -r {shlex.quote(php)}"
                    f" && echo changed > {site.files}/2026/11/commandes.bin"
                    f" && touch {site.files}/made-after-backup")
    assert get("web1", SOURCE, f"/?p={post}").status == 404
    done = cli(sites, "site", "restore", SOURCE)
    assert done.returncode == 0, done.stderr
    _check("web1", SOURCE, post, digest)
    sh(lab, "web1", f"test ! -e {site.files}/made-after-backup")


def _fingerprint(lab: Lab, site: SiteLayout, server: str) -> str:
    """Every file of the site's code and uploads with its checksum, and its database."""
    return sh(lab, server, f"cd {site.root} && find web files -printf '%p %y %l\\n'"
                           f" | LC_ALL=C sort && find web files -type f -print0"
                           f" | LC_ALL=C sort -z | xargs -0 sha256sum"
                           f" && mariadb-dump --skip-dump-date --single-transaction {site.name}"
                           f" | sha256sum")


def test_clone_to_another_server(sites: Path, lab: Lab, content: tuple[int, str]) -> None:
    post, digest = content
    copy = layout(sites, COPY)
    sh(lab, "web2", f"systemctl stop {copy.cron_unit}.timer")  # nothing changes it meanwhile
    before = _fingerprint(lab, copy, "web2")
    # A deployed WordPress has content: two swapped arguments must not wipe it.
    refused = cli(sites, "site", "clone", SOURCE, COPY)
    assert refused.returncode == 2 and "--force" in refused.stderr, refused.stderr
    assert _fingerprint(lab, copy, "web2") == before
    done = cli(sites, "site", "clone", SOURCE, COPY, "--force")
    assert done.returncode == 0, done.stderr
    page = _check("web2", COPY, post, digest)
    assert f"https://{COPY}/x" in page  # links inside posts follow the new address
    assert _check("web1", SOURCE, post, digest)  # the source is untouched
    # What the clone replaced is in a verified snapshot, and restores byte for byte.
    undo = next(line for line in done.stdout.splitlines() if "to undo:" in line)
    snapshot = undo.rsplit("--snapshot ", 1)[1].strip()
    back = cli(sites, "site", "restore", COPY, "--snapshot", snapshot)
    assert back.returncode == 0, back.stderr
    sh(lab, "web2", f"systemctl stop {copy.cron_unit}.timer")
    assert _fingerprint(lab, copy, "web2") == before
    again = cli(sites, "site", "clone", SOURCE, COPY, "--force")
    assert again.returncode == 0, again.stderr
    sh(lab, "web2", f"systemctl start {copy.cron_unit}.timer")


def test_verify_reports_and_corrects_drift(sites: Path, lab: Lab) -> None:
    site = layout(sites, COPY)
    sh(lab, "web2", f"chmod 666 {site.config_file}")
    done = cli(sites, "site", "verify", COPY)
    assert done.returncode == 0, done.stderr
    assert "drift corrected" in done.stdout and "answers 200" in done.stdout
    assert sh(lab, "web2", f"stat -c %a {site.config_file}").strip() == "640"
    again = cli(sites, "site", "verify", COPY)
    assert f"{COPY}: 0 drift(s)" in again.stdout


def test_migrate_verifies_on_target_and_keeps_the_source(sites: Path, lab: Lab,
                                                         content: tuple[int, str]) -> None:
    post, digest = content
    done = cli(sites, "site", "migrate", SOURCE, "--to", "web2")
    assert done.returncode == 0, done.stdout + done.stderr
    _check("web2", SOURCE, post, digest)
    assert get("web1", SOURCE).status == 503
    site = layout(sites, SOURCE)
    sh(lab, "web1", f"test -s {site.files}/2026/11/commandes.bin && test -s {site.config_file}"
                    f" && mariadb -N -e 'SHOW DATABASES' | grep -qx {site.name}")
    assert "set 'server: web2'" in done.stdout
    # web2 now serves it: a second migrate there is refused, and changes nothing.
    again = cli(sites, "site", "migrate", SOURCE, "--to", "web2")
    assert again.returncode == 2 and "already holds" in again.stderr, again.stderr
    _check("web2", SOURCE, post, digest)
