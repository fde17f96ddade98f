"""The lab's code sources on this machine's loopback, asked what composer 2.5 (Debian 12's,
installed here) really asks, and koumbit-site-code run for real against them in a scratch
site tree (koumbit_infra/lab/localcode.py: runuser faked, the tests cannot switch users;
what it runs as the site is recorded instead)."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from koumbit_infra.inventory import Cms
from koumbit_infra.lab import sources
from koumbit_infra.lab.localacme import free_ports
from koumbit_infra.lab.localcode import (
    LocalSources,
    ScratchSite,
    local_sources,
    rig_ca,
    scratch_site,
    site_user,
)
from koumbit_infra.lab.paths import DRUPAL_WIRING
from koumbit_infra.lab.sources import SourcesFiles, base_url, package_names
from koumbit_infra.lab.wordpress import release_archive

ROOT = Path(__file__).resolve().parents[2]
COMPOSER = shutil.which("composer")
needs_composer = pytest.mark.skipif(COMPOSER is None, reason="composer is not installed")
# The scratch site's user: whoever runs the tests (the script chowns its cache to it).
USER = site_user()


@dataclass
class Served:
    """A running sources server, and the advisory requests it got and answers it gives."""

    rig: LocalSources
    asked: list[list[str]]
    answer: dict[str, list[dict[str, Any]]]

    @property
    def files(self) -> SourcesFiles:
        return self.rig.files

    @property
    def url(self) -> str:
        return self.rig.url

    @property
    def ca(self) -> Path:
        return self.rig.ca


def _wordpress_tree(root: Path, version: str) -> Path:
    """A small WordPress release: what koumbit-site-code reads and replaces."""
    tree = root / f"wp-{version}"
    for path, text in {
        "index.php": f"<?php // index of {version}\n",
        "wp-login.php": f"<?php // login of {version}\n",
        "wp-admin/about.php": f"<?php // about {version}\n",
        f"wp-includes/only-in-{version}.php": "<?php\n",
        "wp-includes/version.php": f"<?php\n$wp_version = '{version}';\n",
        "wp-content/themes/twentytwentyfive/style.css": f"/* theme of {version} */\n",
    }.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text(text)
    return tree


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("sources")
    releases = {v: release_archive(_wordpress_tree(root, v)) for v in ("6.1.1", "6.1.2", "6.8.0")}
    asked: list[list[str]] = []
    answer: dict[str, list[dict[str, Any]]] = {}

    def advisories(names: list[str]) -> dict[str, Any]:
        asked.append(names)
        return {"advisories": {n: answer.get(n, []) for n in names}}

    original = sources._advisories
    sources._advisories = advisories
    try:
        with local_sources(root, releases) as rig:
            yield Served(rig, asked, answer)
    finally:
        sources._advisories = original


def _composer(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert COMPOSER is not None
    return subprocess.run([COMPOSER, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


# --- the server itself -----------------------------------------------------------------


def test_the_request_composer_sends_gives_its_package_names() -> None:
    # PHP's http_build_query(['packages' => [...]]), as composer 2.5 and 2.8 send it.
    body = b"packages%5B0%5D=drupal%2Fcore&packages%5B1%5D=Symfony%2FHttp-Kernel"
    assert package_names(body) == ["drupal/core", "symfony/http-kernel"]
    assert package_names(b"packages[]=drupal/core&packages[]=drupal/core") == ["drupal/core"]


def test_hostile_package_names_are_never_looked_up() -> None:
    body = (b"packages[]=../../etc/passwd&packages[]=a/b%0Ac&packages[]=%2Fetc%2Fshadow"
            b"&other=drupal/core&packages[]=drupal/core")
    assert package_names(body) == ["drupal/core"]


def test_folders_are_not_listed_and_only_the_api_takes_posts(served: Served) -> None:
    import ssl

    context = ssl.create_default_context(cafile=str(served.ca))
    for url, data in ((f"{served.url}/composer/", None), (f"{served.url}/wordpress/x", b"a")):
        with pytest.raises(urllib.request.HTTPError) as error:
            urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10,
                                   context=context)
        assert error.value.code in (404, 501)
    with urllib.request.urlopen(f"{served.url}/wordpress/releases.json", timeout=10,
                                context=context) as answer:
        assert json.load(answer) == {"latest": "6.8.0",
                                     "security": {"6.1": "6.1.2", "6.8": "6.8.0"},
                                     "versions": ["6.1.1", "6.1.2", "6.8.0"]}


def test_the_served_certificate_is_refused_without_the_lab_ca(served: Served) -> None:
    import ssl

    with pytest.raises(urllib.request.URLError) as error:
        urllib.request.urlopen(f"{served.url}/composer/packages.json", timeout=10,
                               context=ssl.create_default_context())
    assert isinstance(error.value.reason, ssl.SSLCertVerificationError)


def test_the_served_certificate_passes_strict_verification(served: Served) -> None:
    """Debian 13's python3 (3.13) verifies strictly by default (VERIFY_X509_STRICT): the
    site audit reads releases.json through it. Found in the lab: "Missing Authority Key
    Identifier" before the lab's certificates carried it."""
    import ssl

    context = ssl.create_default_context(cafile=str(served.ca))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    with urllib.request.urlopen(f"{served.url}/composer/packages.json", timeout=10,
                                context=context) as answer:
        assert answer.status == 200


@pytest.mark.parametrize("user", [None, "nobody"])
def test_the_daemon_starts_once_serves_and_stops(tmp_path: Path, user: str | None) -> None:
    """As the lab runs it: started by root, serving as nobody (who cannot read root's
    Python here: everything it needs is loaded first)."""
    if user and os.geteuid() != 0:
        pytest.skip("only root starts a daemon that becomes nobody")
    # nobody reads what is served, as under /var/lib/koumbit-lab (pytest's own tmp is 0700).
    root = Path(tempfile.mkdtemp(prefix="koumbit-sources-"))
    root.chmod(0o755)
    ca = rig_ca(tmp_path)
    files = SourcesFiles(root / "sources")
    address = ("127.0.0.1", free_ports(1)[0])
    try:
        first = sources.ensure_sources(files, ca, address, user=user)
        assert any(c.startswith(f"{sources.NAME} started on") for c in first), first
        assert sources.ensure_sources(files, ca, address, user=user) == []  # nothing to do
        pid = sources.daemon(files, address, user).pid(files)
        assert pid is not None
        uid = int(Path(f"/proc/{pid}/status").read_text().split("\nUid:")[1].split()[0])
        assert uid == (pwd.getpwnam(user).pw_uid if user else os.geteuid())
        import ssl

        context = ssl.create_default_context(cafile=str(ca.api_ca))
        with urllib.request.urlopen(f"{base_url(address)}/composer/packages.json",
                                    timeout=10, context=context) as answer:
            index = json.load(answer)
        assert index["security-advisories"] == {
            "metadata": False, "api-url": f"{base_url(address)}/composer/api/security-advisories/"}
        request = urllib.request.Request(index["security-advisories"]["api-url"],
                                         data=b"packages%5B0%5D=drupal%2Fcore")
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            assert set(json.load(answer)["advisories"]) == {"drupal/core"}
    finally:
        stopped = sources.stop_sources(files, address, user=user)
        shutil.rmtree(root)
    assert stopped == [f"stopped {sources.NAME}"]


# --- real composer against it ------------------------------------------------------------


@needs_composer
def test_composer_installs_the_stand_ins_and_audits_through_the_api(
        served: Served, tmp_path: Path) -> None:
    env = served.rig.composer_env(tmp_path / "composer-home")
    done = _composer(env, tmp_path, "create-project", "drupal/recommended-project", "project")
    assert done.returncode == 0, done.stderr
    project = tmp_path / "project"
    assert (project / "web/index.php").read_text() == (DRUPAL_WIRING / "index.php").read_text()
    assert "'10.6.15'" in (project / "vendor/drupal/core/lib/Drupal.php").read_text()
    done = _composer(env, project, "require", "--update-with-all-dependencies",
                     "drupal/core-recommended:10.2.4", "drush/drush")
    assert done.returncode == 0, done.stderr
    drush = subprocess.run([str(project / "vendor/bin/drush"), "--version"],
                           capture_output=True, text=True, timeout=30, check=False)
    assert "stand-in" in drush.stdout
    # What composer audit POSTs: every locked package's name, answered from the API.
    served.asked.clear()
    served.answer["drupal/core"] = [{
        "advisoryId": "LAB-1", "packageName": "drupal/core", "remoteId": "lab-1",
        "title": "Lab advisory", "link": "https://example.org/lab-1", "cve": "CVE-2099-0001",
        "affectedVersions": ">=10.0.0,<10.2.5", "source": "lab",
        "reportedAt": "2026-01-01 00:00:00", "composerRepository": None,
        "sources": [{"name": "lab", "remoteId": "lab-1"}], "severity": None}]
    try:
        audit = _composer(env, project, "audit", "--format=json")
    finally:
        served.answer.clear()
    assert served.asked, (audit.stdout, audit.stderr)
    assert sorted(served.asked[-1]) == ["drupal/core", "drupal/core-recommended", "drush/drush"]
    assert audit.returncode != 0  # composer audit fails when an advisory matches
    found = json.loads(audit.stdout)["advisories"]
    assert [a["advisoryId"] for a in found["drupal/core"]] == ["LAB-1"]


# --- koumbit-site-code in a scratch tree -----------------------------------------------------


def _site(tmp: Path, served: Served, cms: Cms) -> ScratchSite:
    return scratch_site(tmp, served.rig, cms)


def test_wordpress_is_installed_updated_and_left_alone(served: Served, tmp_path: Path) -> None:
    site = _site(tmp_path, served, Cms.WORDPRESS)
    done = site.code(USER)
    assert (done.returncode, done.stdout) == (0, "from none to 6.8.0\n"), done.stderr
    assert (site.web / "wp-content/themes/twentytwentyfive/style.css").is_file()
    # The site's own files: its config, uploads, theme, a file of its own at the top.
    own = {"wp-config.php": "<?php // the site's\n", "robots.txt": "User-agent: *\n",
           "wp-content/uploads/photo.jpg": "jpeg", "wp-content/themes/mine/style.css": "/**/",
           "wp-content/themes/twentytwentyfive/style.css": "/* edited by the site */\n"}
    for path, text in own.items():
        (site.web / path).parent.mkdir(parents=True, exist_ok=True)
        (site.web / path).write_text(text)
    done = site.code(USER, "6.1.1")
    assert (done.returncode, done.stdout) == (0, "from 6.8.0 to 6.1.1\n"), done.stderr
    assert all((site.web / p).read_text() == t for p, t in own.items())
    assert not (site.web / "wp-includes/only-in-6.8.0.php").exists()  # old core removed
    assert (site.web / "wp-admin/about.php").read_text() == "<?php // about 6.1.1\n"
    # Without a version: the newest security release of the branch it runs.
    done = site.code(USER)
    assert (done.returncode, done.stdout) == (0, "from 6.1.1 to 6.1.2\n"), done.stderr
    before = site.listing()
    done = site.code(USER)
    assert (done.returncode, done.stdout) == (0, "unchanged 6.1.2\n"), done.stderr
    assert site.listing() == before
    assert set(site.calls.read_text().split()) == {USER}  # all of it as the site's user


def test_a_wordpress_dry_run_says_the_move_and_writes_nothing(
        served: Served, tmp_path: Path) -> None:
    site = _site(tmp_path, served, Cms.WORDPRESS)
    assert site.code(USER, "6.1.1").returncode == 0
    before = site.listing()
    done = site.code("--dry", USER)  # the branch's newest security release
    assert (done.returncode, done.stdout) == (0, "from 6.1.1 to 6.1.2\n"), done.stderr
    done = site.code("--dry", USER, "6.8.0")
    assert (done.returncode, done.stdout) == (0, "from 6.1.1 to 6.8.0\n"), done.stderr
    done = site.code("--dry", USER, "6.1.1")
    assert (done.returncode, done.stdout) == (0, "unchanged 6.1.1\n"), done.stderr
    assert site.listing() == before
    assert site.code("--dry", USER, "9.9.9").returncode == 1  # not offered: said, as for real


def test_a_core_folder_the_site_swapped_for_a_link_is_never_written_through(
        served: Served, tmp_path: Path) -> None:
    site = _site(tmp_path, served, Cms.WORDPRESS)
    assert site.code(USER, "6.1.1").returncode == 0
    elsewhere = tmp_path / "roots-folder"
    elsewhere.mkdir()
    (elsewhere / "kept.conf").write_text("root's\n")
    admin = site.web / "wp-admin"
    admin.rename(site.web / "wp-admin.kept")
    admin.symlink_to(elsewhere)
    done = site.code(USER, "6.8.0")
    assert done.returncode == 1
    assert "wp-admin is a link, not a folder: not followed" in done.stderr
    assert "WordPress 6.8.0 was not installed" in done.stderr
    assert [p.name for p in elsewhere.iterdir()] == ["kept.conf"]


def test_a_release_that_does_not_match_its_checksum_changes_nothing(
        served: Served, tmp_path: Path) -> None:
    site = _site(tmp_path, served, Cms.WORDPRESS)
    assert site.code(USER, "6.1.1").returncode == 0
    before = site.listing()
    archive = served.files.wordpress / "wordpress-6.1.2.tar.gz"
    good = archive.read_bytes()
    archive.write_bytes(release_archive(_wordpress_tree(tmp_path, "6.1.2")) + b"tampered")
    try:
        done = site.code(USER, "6.1.2")
    finally:
        archive.write_bytes(good)
    assert done.returncode == 1
    assert "wordpress-6.1.2.tar.gz does not match its SHA-256" in done.stderr
    assert f"{USER}: WordPress 6.1.2 was not installed" in done.stderr
    assert site.listing() == before


def test_a_version_the_source_does_not_offer_is_an_error(served: Served, tmp_path: Path) -> None:
    site = _site(tmp_path, served, Cms.WORDPRESS)
    done = site.code(USER, "9.9.9")
    assert done.returncode == 1
    assert "offers no WordPress 9.9.9" in done.stderr
    assert site.listing() == {}


@pytest.mark.parametrize("args", [
    ("root;id",), ("../etc",), ("",), ("nosuchsite",), (USER, "6.1.1;touch /tmp/x"),
    (USER, "--help"), (USER, "$(id)"), (USER, "1" * 41)])
def test_bad_arguments_exit_2_and_touch_nothing(served: Served, tmp_path: Path,
                                                args: tuple[str, ...]) -> None:
    site = _site(tmp_path, served, Cms.WORDPRESS)
    done = site.code(*args)
    assert done.returncode == 2, (args, done.stdout, done.stderr)
    assert site.listing() == {} and not site.calls.exists()


def test_a_version_file_the_site_garbled_stops_the_update(served: Served, tmp_path: Path) -> None:
    site = _site(tmp_path, served, Cms.WORDPRESS)
    (site.web / "wp-includes").mkdir()
    (site.web / "wp-includes/version.php").write_text("<?php $wp_version = '1;rm -rf /';\n")
    done = site.code(USER)
    assert done.returncode == 1
    assert "names no WordPress version" in done.stderr
    assert site.listing() == {"wp-includes/version.php": hashlib.sha256(
        b"<?php $wp_version = '1;rm -rf /';\n").hexdigest()}


@needs_composer
def test_drupal_is_made_then_moved_between_versions_through_composer(
        served: Served, tmp_path: Path) -> None:
    site = _site(tmp_path, served, Cms.DRUPAL)
    site.web.chmod(0o750)  # as the deploy leaves it (group www-data: nginx enters)
    done = site.code(USER, "10.2.4")
    assert (done.returncode, done.stdout) == (0, "from none to 10.2.4\n"), done.stderr
    assert (site.web / "web/index.php").is_file() and (site.web / "vendor/bin/drush").is_file()
    # The code goes into the site's folder; the folder itself keeps its mode.
    assert oct(site.web.stat().st_mode & 0o777) == "0o750"
    (site.web / "web/modules/custom/mine").mkdir(parents=True)
    (site.web / "web/modules/custom/mine/mine.module").write_text("<?php\n")
    done = site.code(USER)  # the newest of its major
    assert (done.returncode, done.stdout) == (0, "from 10.2.4 to 10.6.15\n"), done.stderr
    assert (site.web / "web/modules/custom/mine/mine.module").read_text() == "<?php\n"
    assert json.loads((site.web / "composer.json").read_text())["require"]["drush/drush"]
    before = site.listing()
    done = site.code(USER)
    assert (done.returncode, done.stdout) == (0, "unchanged 10.6.15\n"), done.stderr
    assert site.listing() == before
    done = site.code("--dry", USER, "10.2.4")  # said from composer.lock, nothing written
    assert (done.returncode, done.stdout) == (0, "from 10.6.15 to 10.2.4\n"), done.stderr
    assert site.listing() == before
    assert set(site.calls.read_text().split()) == {USER}
    # composer's cache is the site's, outside its tree.
    cache = site.cache_root / USER
    assert cache.is_dir() and oct(cache.stat().st_mode & 0o777) == "0o700"
    assert any(cache.rglob("*.zip"))


@needs_composer
def test_a_drupal_codebase_cut_short_before_its_index_is_made_again(
        served: Served, tmp_path: Path) -> None:
    site = _site(tmp_path, served, Cms.DRUPAL)
    assert site.code(USER).returncode == 0
    (site.web / "web/index.php").unlink()  # a run killed before its last copy
    done = site.code(USER)
    assert (done.returncode, done.stdout) == (0, "from none to 10.6.15\n"), done.stderr
    assert (site.web / "web/index.php").read_text() == (DRUPAL_WIRING / "index.php").read_text()
