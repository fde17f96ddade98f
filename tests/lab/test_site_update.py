"""``koumbit-infra site update`` on the lab, end to end: a WordPress site and a
composer-based (Drupal) site of a scratch copy of the lab inventory, on web1, updated
from an older release of the lab's sources to a newer one; each step made to fail on
purpose (the update's test hook) and rolled back to the exact state it had; a second
update that has nothing to do.

What it stands on besides this command (issue 14): ``koumbit-site-code`` and the lab
host's sources (its WordPress source, whose ``releases.json`` names the versions; its
composer repository, which must hold the Drupal core versions below).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, deployed
from test_sites_commands import cli, get, layout, sh
from test_sites_lifecycle import sites_deploy

from koumbit_infra.inventory import load_inventory
from koumbit_infra.lab.wordpress_sites import older_and_newest, release_theme_line
from koumbit_infra.sites.layout import CODE, SITE_STATE_ROOT, TEST_HOOK_ROOT, SiteLayout
from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]  # the fixture, imported for this module's tests
ROOT = Path(__file__).resolve().parents[2]
SERVER = "web1"
WORDPRESS, DRUPAL = "maj-wp.essai.test", "maj-drupal.essai.test"
# The Drupal core releases the lab's composer repository serves (those whose real
# composer.lock ../shared/data/drupal-composer-locks holds).
DRUPAL_OLD, DRUPAL_NEW = "10.2.4", "10.6.15"
# No apostrophe: WordPress shows one as a typographic quote (wptexturize).
TEXT = "Billet avant la mise à jour 5e1a"
DUMPS = "/var/tmp/koumbit-test-update-dumps"


def _edit(state: str) -> Any:
    def edit(clients: Clients) -> None:
        clients["essai-maj"] = scratch_client("essai-maj", [
            {"domain": WORDPRESS, "cms": "wordpress", "server": SERVER, "state": state,
             "title": "Essai de mise à jour WordPress"},
            {"domain": DRUPAL, "cms": "drupal", "server": SERVER, "state": state,
             "title": "Essai de mise à jour Drupal"}])
    return edit


@pytest.fixture(scope="module")
def sites(deployed: Deployment, lab: Lab,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    scratch = tmp_path_factory.mktemp("inventory-update")
    lab_dir = ROOT / "inventory" / "lab"
    assert sites_deploy(write_variant(lab_dir, scratch, _edit("absent")), SERVER).returncode == 0
    run = sites_deploy(write_variant(lab_dir, scratch, _edit("active")), SERVER)
    assert run.returncode == 0, run.output[-3000:]
    _theme_of_the_older_release(lab, scratch)
    yield scratch
    sites_deploy(write_variant(lab_dir, scratch, _edit("absent")), SERVER)


def _theme_of_the_older_release(lab: Lab, scratch: Path) -> None:
    """The WordPress site made as if on the older release (koumbit_infra.lab.wordpress_sites:
    the newest release's theme would end the older code in a fatal error)."""
    site = layout(scratch, WORDPRESS)
    source = load_inventory(scratch / "lab").settings.codebases.wordpress_source
    older, _ = _wordpress_versions(lab, scratch)
    active = sh(lab, SERVER, release_theme_line(site, source, older)).strip()
    assert active == "twentytwentythree", active  # 6.1's, Debian's only theme


def _wordpress_versions(lab: Lab, scratch: Path) -> tuple[str, str]:
    """An older release and the newest, from the lab's WordPress source's releases.json."""
    source = load_inventory(scratch / "lab").settings.codebases.wordpress_source
    return older_and_newest(json.loads(sh(lab, SERVER,
                                          f"curl -fsS --max-time 30 {source}/releases.json")))


@pytest.fixture(scope="module")
def versions(sites: Path, lab: Lab) -> dict[str, tuple[str, str]]:
    return {WORDPRESS: _wordpress_versions(lab, sites), DRUPAL: (DRUPAL_OLD, DRUPAL_NEW)}


def _at(lab: Lab, site: SiteLayout, version: str) -> None:
    """The site's code put at ``version`` by the one code path (not by the update)."""
    out = sh(lab, SERVER, f"{CODE} {site.name} {version}")
    assert f"to {version}" in out or f"unchanged {version}" in out, out


@pytest.fixture(scope="module")
def content(sites: Path, lab: Lab) -> dict[str, tuple[int, str]]:
    """A post (WordPress) and an upload (each site) made before any update."""
    made = {}
    for domain in (WORDPRESS, DRUPAL):
        site = layout(sites, domain)
        post = 0
        if domain == WORDPRESS:
            php = ("define('WP_USE_THEMES', false); $_SERVER['HTTP_HOST'] = '" + domain + "';"
                   " require 'wp-load.php'; echo wp_insert_post(['post_title' => 'Avant',"
                   f" 'post_content' => {json.dumps(TEXT, ensure_ascii=False)},"
                   " 'post_status' => 'publish']);")
            post = int(sh(lab, SERVER, f"cd {site.web} && runuser -u {site.name} --"
                                       f" php -r {shlex.quote(php)}"))
        upload = f"{site.files}/2026/12/avant.bin"
        digest = sh(lab, SERVER, f"runuser -u {site.name} -- sh -c 'umask 022"
                                 f" && mkdir -p {site.files}/2026/12"
                                 f" && head -c 100000 /dev/urandom > {upload}'"
                                 f" && sha256sum {upload}").split()[0]
        made[domain] = (post, digest)
    return made


def _serves(domain: str, post: int, digest: str, title: str | None = None) -> None:
    """The site answers with its post (WordPress), its upload and its home page's title."""
    home = get(SERVER, domain)
    assert home.status == 200, (domain, home.status)
    if title is not None:
        assert f"<title>{title}" in home.text or title in home.text
    if post:
        page = get(SERVER, domain, f"/?p={post}")
        assert page.status == 200 and TEXT in page.text
    path = ("/wp-content/uploads" if domain == WORDPRESS else "/sites/default/files")
    upload = get(SERVER, domain, f"{path}/2026/12/avant.bin")
    assert upload.status == 200 and hashlib.sha256(upload.body).hexdigest() == digest


def _fingerprint(lab: Lab, site: SiteLayout) -> str:
    """Every file of the site's code and uploads, with its checksum, and its database but
    for what a page view writes by itself (the update's checks view pages, the rollback's
    last check included): WordPress's transients (a cache that expires: 6.1 remakes its
    global styles every 60 s; so the options' next row number too) and the lab Drupal
    stand-in's ``koumbit_wiring`` (the time of its last page view, its proof that PHP
    writes). The dump stays on the server as the last one taken, for :func:`_dump_diff`."""
    db, dump = site.name, f"{DUMPS}/{site.name}.sql"
    quiet = "mariadb-dump --skip-dump-date --single-transaction"
    sh(lab, SERVER, f"mkdir -p -m 700 {DUMPS} && {{ test ! -e {dump}"
                    f" || mv {dump} {DUMPS}/{db}.before.sql; }}"
                    f" && {quiet} --ignore-table={db}.koumbit_wiring"
                    f" --ignore-table={db}.wp_options {db} > {dump}"
                    f" && if mariadb -N -e \"SHOW TABLES LIKE 'wp\\_options'\" {db} | grep -q .;"
                    f" then {quiet} --where=\"option_name NOT LIKE '%\\_transient\\_%'\""
                    f" {db} wp_options | sed 's/ AUTO_INCREMENT=[0-9]*//' >> {dump}; fi")
    files = sh(lab, SERVER, f"cd {site.root} && find web files -printf '%p %y %l\\n'"
                            f" | LC_ALL=C sort && find web files -type f -print0"
                            f" | LC_ALL=C sort -z | xargs -0 sha256sum")
    return files + sh(lab, SERVER, f"sha256sum < {dump}")


def _dump_diff(lab: Lab, site: SiteLayout) -> str:
    """What differs between the last two dumps :func:`_fingerprint` took (for a failure's
    message)."""
    return sh(lab, SERVER, f"diff {DUMPS}/{site.name}.before.sql {DUMPS}/{site.name}.sql"
                           f" | cut -c1-400 | head -n 40 || true")


def _record(lab: Lab, site: SiteLayout) -> dict[str, Any]:
    return dict(json.loads(sh(lab, SERVER, f"cat {SITE_STATE_ROOT}/{site.name}/update.json")))


def _snapshots(scratch: Path, domain: str) -> int:
    done = cli(scratch, "site", "restore", domain, "--list")
    assert done.returncode == 0, done.stderr
    return len(done.stdout.splitlines())


def _quiet(lab: Lab, site: SiteLayout) -> None:
    """Its cron stopped, and the pages the smoke test asks for asked once already (a CMS
    may fill its caches on a first view), so nothing but the update changes the site."""
    sh(lab, SERVER, f"systemctl stop {site.cron_unit}.timer")
    for path in ("/", "/wp-login.php" if site.cms.value == "wordpress" else "/user/login"):
        get(SERVER, site.domain, path)


@pytest.mark.parametrize("domain", [WORDPRESS, DRUPAL])
def test_dry_shows_from_and_to_and_changes_nothing(sites: Path, lab: Lab, domain: str,
                                                   versions: dict[str, tuple[str, str]]) -> None:
    site, (old, new) = layout(sites, domain), versions[domain]
    _at(lab, site, old)
    _quiet(lab, site)
    before, snaps = _fingerprint(lab, site), _snapshots(sites, domain)
    done = cli(sites, "site", "update", domain, "--to", new, "--dry")
    assert done.returncode == 0, done.stderr
    assert f"{domain} ({SERVER}): {old} -> {new}" in done.stdout
    assert "Summary (dry run: nothing changed): 1 to update" in done.stdout
    assert _fingerprint(lab, site) == before and _snapshots(sites, domain) == snaps


@pytest.mark.parametrize("domain", [WORDPRESS, DRUPAL])
def test_an_update_goes_to_the_new_version_serving_the_same_content(
        sites: Path, lab: Lab, domain: str, versions: dict[str, tuple[str, str]],
        content: dict[str, tuple[int, str]]) -> None:
    site, (old, new), (post, digest) = layout(sites, domain), versions[domain], content[domain]
    _at(lab, site, old)
    _serves(domain, post, digest)
    title = get(SERVER, domain).text.split("<title>", 1)[-1].split("</title>", 1)[0]
    done = cli(sites, "site", "update", domain, "--to", new)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{domain} ({SERVER}): mis à jour / updated, {old} -> {new}" in done.stdout
    assert "Summary: 1 updated" in done.stdout
    record = _record(lab, site)
    assert (record["from"], record["to"], record["result"], record["step"]) == (
        old, new, "updated", None)
    _serves(domain, post, digest, title)
    dry = cli(sites, "site", "update", domain, "--to", new, "--dry")
    assert f"{domain} ({SERVER}): inchangé / unchanged, {new}" in dry.stdout


@pytest.mark.parametrize("step", ["code", "database", "smoke"])
@pytest.mark.parametrize("domain", [WORDPRESS, DRUPAL])
def test_a_step_made_to_fail_rolls_back_to_the_exact_state_then_the_next_update_succeeds(
        sites: Path, lab: Lab, domain: str, step: str, versions: dict[str, tuple[str, str]],
        content: dict[str, tuple[int, str]]) -> None:
    site, (old, new), (post, digest) = layout(sites, domain), versions[domain], content[domain]
    _at(lab, site, old)
    _quiet(lab, site)
    before = _fingerprint(lab, site)
    hook = f"{TEST_HOOK_ROOT}/{site.name}.update-fail"
    sh(lab, SERVER, f"mkdir -p {TEST_HOOK_ROOT} && chmod 700 {TEST_HOOK_ROOT}"
                    f" && echo {step} > {hook}")
    done = cli(sites, "site", "update", domain, "--to", new)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED at the" in done.stdout and "rolled back to snapshot" in done.stdout
    log = f"{SITE_STATE_ROOT}/{site.name}/update.log"
    assert f"the {step} step will fail on purpose" in sh(lab, SERVER, f"cat {log}")
    assert "Summary: 1 ROLLED BACK" in done.stdout
    # Same code checksums, same database dump.
    assert _fingerprint(lab, site) == before, _dump_diff(lab, site)
    _serves(domain, post, digest)
    record = _record(lab, site)
    assert (record["result"], record["step"], record["from"]) == ("rolled back", step, old)
    sh(lab, SERVER, f"test ! -e {hook}")  # the hook is used once
    again = cli(sites, "site", "update", domain, "--to", new)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"mis à jour / updated, {old} -> {new}" in again.stdout
    _serves(domain, post, digest)


@pytest.mark.parametrize("domain", [WORDPRESS, DRUPAL])
def test_a_second_update_changes_nothing_and_takes_no_snapshot(
        sites: Path, lab: Lab, domain: str, versions: dict[str, tuple[str, str]]) -> None:
    site, (_, new) = layout(sites, domain), versions[domain]
    first = cli(sites, "site", "update", domain, "--to", new)
    assert first.returncode == 0, first.stdout + first.stderr
    _quiet(lab, site)
    before, snaps = _fingerprint(lab, site), _snapshots(sites, domain)
    done = cli(sites, "site", "update", domain, "--to", new)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{domain} ({SERVER}): inchangé / unchanged, {new}" in done.stdout
    assert _fingerprint(lab, site) == before and _snapshots(sites, domain) == snaps
    assert _record(lab, site)["result"] == "unchanged"
