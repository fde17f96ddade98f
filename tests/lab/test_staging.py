"""Staging copies on the lab's web1, end to end: ``koumbit-infra site staging DOMAIN
[--refresh]`` on a WordPress site of a scratch copy of the lab inventory whose entry says
``staging: active`` (its copy: staging.<domain>, made by the sites deploy).

A post is written on production, then the copy is made: it serves that post under its
staging name only with the password the command showed, says noindex on every answer,
and links to its own address. A post changed on staging leaves production untouched. A
new post on production reaches staging with --refresh, which first archives the copy
(a verified snapshot, listed afterwards), and keeps the password. Nothing copies staging
back: the command refuses the staging name.
"""

from __future__ import annotations

import json
import re
import shlex
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, deployed, lab_trust
from test_sites_commands import cli, layout, sh
from test_sites_lifecycle import sites_deploy

from koumbit_infra.sites.http import Answer, fetch
from koumbit_infra.sites.layout import AUDIT, STAGING_ROBOTS, STAGING_USER, SiteLayout
from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
SERVER, ADDRESS = "web1", "10.77.0.11"
SITE = "preprod.essai.test"
STAGING = f"staging.{SITE}"  # the lab inventory's settings.staging_name is the default
FIRST, CHANGED, LATER = "Premier billet 5d1e", "Modifié en préproduction 77a0", "Nouveau c9f3"


def _edit(state: str = "active", staging: str = "active") -> Any:
    def edit(clients: Clients) -> None:
        clients["essai-staging"] = scratch_client("essai-staging", [
            {"domain": SITE, "cms": "wordpress", "server": SERVER, "state": state,
             "title": "Essai de préproduction", "staging": staging}])
    return edit


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inventory-staging")


def _absent(scratch: Path) -> None:
    env = write_variant(ROOT / "inventory" / "lab", scratch, _edit("absent", "absent"))
    run = sites_deploy(env, SERVER)
    assert run.returncode == 0, run.output[-3000:]


@pytest.fixture(scope="module")
def sites(deployed: Deployment, scratch: Path) -> Iterator[Path]:
    _absent(scratch)  # leftovers of an interrupted run: archived, removed
    env = write_variant(ROOT / "inventory" / "lab", scratch, _edit())
    run = sites_deploy(env, SERVER)
    assert run.returncode == 0, run.output[-3000:]
    yield scratch
    _absent(scratch)


def _php(lab: Lab, site: SiteLayout, code: str) -> str:
    """``code`` after WordPress loaded, as the site's own user, with its own address."""
    php = (f"define('WP_USE_THEMES', false); $_SERVER['HTTP_HOST'] = '{site.domain}';"
           f" require 'wp-load.php'; {code}")
    return sh(lab, SERVER, f"cd {site.web} && runuser -u {site.name} --"
                           f" php -r {shlex.quote(php)}")


def _post(lab: Lab, site: SiteLayout, title: str, text: str) -> int:
    return int(_php(lab, site, f"echo wp_insert_post(['post_title' => '{title}',"
                               f" 'post_content' => '{text} https://{SITE}/lien',"
                               " 'post_status' => 'publish']);"))


def _get(domain: str, path: str, password: str | None = None,
         login: str = STAGING_USER) -> Answer:
    """``path`` of ``domain`` on web1, with the staging password if given; WordPress's own
    redirect of ``?p=N`` to the post's permalink on the same name is followed once."""
    headers = ({"Authorization": "Basic " + b64encode(f"{login}:{password}".encode()).decode()}
               if password is not None else None)
    answer = fetch(ADDRESS, domain, path, ca_file=lab_trust(), headers=headers)
    own = f"https://{domain}/"
    if answer.status == 301 and answer.headers.get("location", "").startswith(own):
        answer = fetch(ADDRESS, domain, answer.headers["location"].removeprefix(own[:-1]),
                       ca_file=lab_trust(), headers=headers)
    return answer


def _robots(answer: Answer) -> str | None:
    return answer.headers.get("x-robots-tag")


@pytest.fixture(scope="module")
def made(sites: Path, lab: Lab) -> tuple[int, str]:
    """Production's first post, then the staging copy made: (post, password)."""
    post = _post(lab, layout(sites, SITE), FIRST, FIRST)
    done = cli(sites, "site", "staging", SITE)
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"mot de passe / password: ([A-Za-z0-9]{24})$", done.stdout, re.MULTILINE)
    assert found, done.stdout
    # Shown, not kept: the server holds its hash only.
    copy = layout(sites, STAGING)
    assert found[1] not in sh(lab, SERVER, f"cat {copy.htpasswd_file}")
    assert sh(lab, SERVER, f"stat -c '%U:%G %a' {copy.htpasswd_file}").strip() == (
        "root:www-data 640")
    return post, found[1]


def test_staging_serves_the_same_post_only_with_the_password_and_says_noindex(
        sites: Path, made: tuple[int, str]) -> None:
    post, password = made
    path = f"/?p={post}"
    closed = _get(STAGING, path)
    assert closed.status == 401 and closed.headers["www-authenticate"].startswith("Basic ")
    assert _robots(closed) == STAGING_ROBOTS
    assert _get(STAGING, path, password[::-1]).status == 401
    assert _get(STAGING, path, password, login="admin").status == 401
    page = _get(STAGING, path, password)
    assert page.status == 200 and FIRST in page.text, page.status
    assert _robots(page) == STAGING_ROBOTS
    # Its links follow its own address; production's page is production's, and indexable.
    assert f"https://{STAGING}/lien" in page.text
    production = _get(SITE, path)
    assert production.status == 200 and FIRST in production.text
    assert _robots(production) is None and f"https://{SITE}/lien" in production.text
    # Plain HTTP's redirect to HTTPS says noindex too.
    plain = fetch(ADDRESS, STAGING, "/", tls=False)
    assert plain.status == 301 and _robots(plain) == STAGING_ROBOTS


def test_its_own_user_database_and_certificate(sites: Path, lab: Lab,
                                               made: tuple[int, str]) -> None:
    site, copy = layout(sites, SITE), layout(sites, STAGING)
    assert copy.name != site.name
    owners = sh(lab, SERVER, f"stat -c %U {site.web}/index.php {copy.web}/index.php").split()
    assert owners == [site.name, copy.name]
    grants = sh(lab, SERVER, f"mariadb -N -e \"SHOW GRANTS FOR '{copy.name}'@'localhost'\"")
    assert f"`{copy.name}`" in grants and f"`{site.name}`" not in grants
    names = sh(lab, SERVER, f"openssl x509 -noout -ext subjectAltName"
                            f" -in {copy.cert_dir}/fullchain.pem")
    assert f"DNS:{STAGING}" in names and f"DNS:{SITE}" not in names


def test_sites_status_lists_the_copy_and_whose_copy_it_is(sites: Path, lab: Lab,
                                                           made: tuple[int, str]) -> None:
    copy = layout(sites, STAGING)
    audited = sh(lab, SERVER, f"{AUDIT} {layout(sites, SITE).name} {copy.name}")
    assert f"{copy.name}: wordpress " in audited, audited
    done = cli(sites, "sites", "status", "--json", "--sites", f"{SITE},{STAGING}")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r["site"]: r for r in json.loads(done.stdout)}
    assert rows[STAGING]["staging_of"] == SITE and rows[SITE]["staging_of"] is None
    assert rows[STAGING]["core"] and rows[STAGING]["core"] == rows[SITE]["core"]
    table = cli(sites, "sites", "status", "--sites", STAGING).stdout
    assert any(line.startswith(STAGING) and "copie/staging" in line
               for line in table.splitlines()), table


def test_verify_expects_the_copy_to_ask_for_its_password(sites: Path,
                                                        made: tuple[int, str]) -> None:
    done = cli(sites, "site", "verify", STAGING)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "answers 401 (expected 401)" in done.stdout


def test_a_post_changed_on_staging_leaves_production_untouched(
        sites: Path, lab: Lab, made: tuple[int, str]) -> None:
    post, password = made
    _php(lab, layout(sites, STAGING),
         f"wp_update_post(['ID' => {post}, 'post_content' => '{CHANGED}']);")
    assert CHANGED in _get(STAGING, f"/?p={post}", password).text
    production = _get(SITE, f"/?p={post}")
    assert FIRST in production.text and CHANGED not in production.text


def test_refresh_brings_productions_new_post_after_archiving_the_copy(
        sites: Path, lab: Lab, made: tuple[int, str]) -> None:
    post, password = made
    later = _post(lab, layout(sites, SITE), LATER, LATER)
    assert _get(STAGING, f"/?p={later}", password).status == 404
    # A copy already made holds its developers' work: replaced only when asked.
    again = cli(sites, "site", "staging", SITE)
    assert again.returncode == 2 and "--refresh" in again.stderr, again.stderr
    assert CHANGED in _get(STAGING, f"/?p={post}", password).text
    done = cli(sites, "site", "staging", SITE, "--refresh")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "password:" not in done.stdout  # the developers keep theirs
    page = _get(STAGING, f"/?p={later}", password)
    assert page.status == 200 and LATER in page.text and _robots(page) == STAGING_ROBOTS
    assert FIRST in _get(STAGING, f"/?p={post}", password).text  # production's again
    # What the refresh replaced is a verified snapshot of the copy, listed as its own.
    undo = next(line for line in done.stdout.splitlines() if "to undo:" in line)
    snapshot = undo.rsplit("--snapshot ", 1)[1].strip()
    listed = cli(sites, "site", "restore", STAGING, "--list")
    assert listed.returncode == 0 and snapshot[:8] in listed.stdout


def test_nothing_copies_staging_over_production(sites: Path, made: tuple[int, str]) -> None:
    post, _ = made
    refused = cli(sites, "site", "staging", STAGING, "--refresh")
    assert refused.returncode == 2 and "nothing copies staging over production" in refused.stderr
    refused = cli(sites, "site", "clone", STAGING, SITE, "--force")
    assert refused.returncode == 2
    assert FIRST in _get(SITE, f"/?p={post}").text


def test_new_credentials_alone_replace_the_password_and_nothing_else(
        sites: Path, made: tuple[int, str]) -> None:
    post, old = made
    done = cli(sites, "site", "staging", SITE, "--new-password")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "copied into" not in done.stdout
    found = re.search(r"mot de passe / password: ([A-Za-z0-9]{24})$", done.stdout, re.MULTILINE)
    assert found and found[1] != old, done.stdout
    assert _get(STAGING, f"/?p={post}", old).status == 401
    page = _get(STAGING, f"/?p={post}", found[1])
    assert page.status == 200 and FIRST in page.text
