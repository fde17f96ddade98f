"""koumbit-site-audit, the program every web server runs for its sites, run for real here:
rendered as the deploy writes it, reading fixture site trees as each site's user (root's
tests read as ``nobody`` and ``daemon``), real composer against a loopback HTTPS
repository serving the advisory API, WordPress against a releases.json; and every trick a
hostile site can play on it."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from advisorydata import (
    advisory_root,
    advisory_server,
    composer,
    lock_of,
    locked_versions,
    self_signed,
)

from koumbit_infra.advisories import siteaudit
from koumbit_infra.advisories.composer_api import advisories_for
from koumbit_infra.envs import load_env
from koumbit_infra.sites.auditfiles import audit_program, audit_settings

__all__ = ["advisory_root"]

RELEASES = {"latest": "6.8.3", "security": {"6.8": "6.8.3", "6.1": "6.1.7"},
            "versions": ["6.1.7", "6.8.3"]}


def _user(preferred: str) -> str:
    """The site's user: an account of the system when root (so the program really reads as
    another user), this one otherwise."""
    if os.geteuid() == 0:
        return preferred
    return pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture
def tree() -> Iterator[Path]:
    """A folder every user may traverse (pytest's own tmp is root's 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="koumbit-audit-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _site(tree: Path, name: str, files: dict[str, bytes | str]) -> Path:
    web = tree / "sites" / name / "web"
    web.mkdir(parents=True)
    who = pwd.getpwnam(name)
    for rel, content in files.items():
        path = web / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    for folder, _dirs, names in os.walk(tree / "sites" / name):
        for entry in [folder, *(os.path.join(folder, n) for n in names)]:
            os.lchown(entry, who.pw_uid, who.pw_gid)
        Path(folder).chmod(0o750)
    return web


def _settings(tree: Path, sites: list[dict[str, str]], repository: str,
              cafile: Path | None, releases: str | None) -> Path:
    (tree / "locks").mkdir(exist_ok=True)
    config = {"sites": sites, "composer_repositories": [repository],
              "wordpress_releases": releases, "sites_root": str(tree / "sites"),
              "state_root": str(tree / "state"), "lock_root": str(tree / "locks"),
              "work_root": str(tree / "work"), "composer": composer(),
              "run_as": _user("nobody"), "lock_wait_seconds": 2}
    if cafile:
        config["cafile"] = str(cafile)
    path = tree / "site-audit.json"
    path.write_text(json.dumps(config))
    return path


def _run(tree: Path, config: Path, *sites: str) -> subprocess.CompletedProcess[str]:
    """The program exactly as the deploy writes it, run as the timer runs it."""
    program = tree / "koumbit-site-audit"
    program.write_text(audit_program())
    program.chmod(0o700)
    code = (f"import runpy, sys; sys.argv = [{str(program)!r}, *{list(sites)!r}];"
            f" g = runpy.run_path({str(program)!r}, run_name='audit');"
            f" sys.exit(g['main'](sys.argv[1:], {str(config)!r}))")
    return subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)


def _audit(tree: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tree / "state" / name / "audit.json").read_text())
    return data


def test_the_drupal_lock_and_the_wordpress_core_are_audited(advisory_root: Path,
                                                             tree: Path) -> None:
    drupal, wordpress = _user("nobody"), _user("daemon")
    if drupal == wordpress:
        pytest.skip("needs root, to read two sites as two users")
    lock = lock_of("10.2.4")
    _site(tree, drupal, {"composer.lock": lock.read_bytes()})
    _site(tree, wordpress, {"wp-includes/version.php": "<?php\n$wp_version = '6.1.1';\n"})
    tls = self_signed(tree)
    files = {"/releases.json": json.dumps(RELEASES).encode()}
    with advisory_server(advisory_root, tls, files) as (url, asked):
        config = _settings(tree, [{"name": drupal, "cms": "drupal", "php": "8.2"},
                                  {"name": wordpress, "cms": "wordpress", "php": "8.4"}],
                           url, tls.cert, f"{url}/releases.json")
        done = _run(tree, config)
    assert done.returncode == 0, done.stderr + done.stdout
    found = _audit(tree, drupal)
    expected = advisories_for(locked_versions(lock), advisory_root)["advisories"]
    assert {(a["package"], a["id"]) for a in found["advisories"]} == {
        (name, a["advisoryId"]) for name, listed in expected.items() for a in listed}
    assert len(found["advisories"]) == 34 and asked
    assert found["cms"] == "drupal" and found["core"] == "10.2.4" and found["php"] == "8.2"
    assert {a["severity"] for a in found["advisories"]} == {"unknown"}  # the data has none
    assert all(a["first_seen"] == found["at"] for a in found["advisories"])
    wp = _audit(tree, wordpress)
    assert wp["core"] == "6.1.1" and wp["error"] is None
    assert [a["id"] for a in wp["advisories"]] == ["wordpress-core-6.1.7"]
    assert (tree / "state" / drupal / "audit.json").stat().st_mode & 0o777 == 0o644


def test_first_seen_is_kept_from_one_audit_to_the_next(advisory_root: Path, tree: Path) -> None:
    name = _user("nobody")
    _site(tree, name, {"composer.lock": lock_of("10.2.4").read_bytes()})
    tls = self_signed(tree)
    with advisory_server(advisory_root, tls) as (url, _asked):
        config = _settings(tree, [{"name": name, "cms": "drupal", "php": "8.2"}], url,
                           tls.cert, None)
        assert _run(tree, config).returncode == 0
        first = _audit(tree, name)
        path = tree / "state" / name / "audit.json"
        aged = dict(first, advisories=[dict(a, first_seen="2026-01-01T00:00:00Z")
                                       for a in first["advisories"]])
        path.write_text(json.dumps(aged))
        assert _run(tree, config, name).returncode == 0
    again = _audit(tree, name)
    assert {a["first_seen"] for a in again["advisories"]} == {"2026-01-01T00:00:00Z"}
    assert len(again["advisories"]) == len(first["advisories"])


@pytest.mark.parametrize("trick", ["link to a root file", "fifo", "huge", "not json"])
def test_a_hostile_lock_fails_that_site_only_and_leaks_nothing(advisory_root: Path, tree: Path,
                                                             trick: str) -> None:
    name = _user("nobody")
    web = _site(tree, name, {})
    secret = tree / "root-only"
    secret.write_text('{"packages": [{"name": "drupal/core", "version": "SECRET"}]}')
    secret.chmod(0o600)
    lock = web / "composer.lock"
    if trick == "link to a root file":
        lock.symlink_to(secret)
    elif trick == "fifo":
        os.mkfifo(lock)
    elif trick == "huge":
        lock.write_bytes(b" " * (siteaudit.LOCK_MAX_BYTES + 1))
    else:
        lock.write_text("<?php system('touch /tmp/pwned');")
    os.lchown(lock, pwd.getpwnam(name).pw_uid, -1)
    with advisory_server(advisory_root) as (url, asked):
        config = _settings(tree, [{"name": name, "cms": "drupal", "php": "8.2"}], url, None,
                           None)
        done = _run(tree, config)
    assert done.returncode == 1 and "FAILED" in done.stdout
    found = _audit(tree, name)
    assert found["error"] and found["advisories"] == [] and asked == []
    assert "SECRET" not in json.dumps(found) + done.stdout + done.stderr


def test_the_sites_composer_json_its_plugins_and_repositories_are_never_used(
        advisory_root: Path, tree: Path) -> None:
    name = _user("nobody")
    marker = tree / "ran"
    evil = {"repositories": [{"type": "composer", "url": "http://127.0.0.1:9/evil"}],
            "scripts": {"pre-install-cmd": f"touch {marker}", "post-autoload-dump":
                        f"touch {marker}"},
            "config": {"allow-plugins": True}}
    _site(tree, name, {"composer.lock": lock_of("10.6.15").read_bytes(),
                       "composer.json": json.dumps(evil)})
    tls = self_signed(tree)
    with advisory_server(advisory_root, tls) as (url, asked):
        config = _settings(tree, [{"name": name, "cms": "drupal", "php": "8.2"}], url,
                           tls.cert, None)
        done = _run(tree, config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert asked and not marker.exists()
    assert _audit(tree, name)["advisories"] == []


def test_wordpress_version_php_is_read_as_text_never_run(tree: Path) -> None:
    name = _user("daemon")
    marker = tree / "ran"
    _site(tree, name, {"wp-includes/version.php":
                       f"<?php\nfile_put_contents('{marker}', 'x');\n$wp_version = '6.8.3';\n"})
    with advisory_server(Path("/nonexistent"), files={
            "/releases.json": json.dumps(RELEASES).encode()}) as (url, _asked):
        # plain http is refused by composer only; the releases are fetched by Python
        config = _settings(tree, [{"name": name, "cms": "wordpress", "php": "8.2"}], url,
                           None, f"{url}/releases.json")
        done = _run(tree, config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _audit(tree, name)["core"] == "6.8.3" and _audit(tree, name)["advisories"] == []
    assert not marker.exists()


def test_a_site_whose_lock_is_held_keeps_its_last_audit(tree: Path) -> None:
    import fcntl

    name = _user("nobody")
    _site(tree, name, {})
    config = _settings(tree, [{"name": name, "cms": "drupal", "php": "8.2"}],
                       "https://127.0.0.1:9", None, None)
    lock = tree / "locks" / f"{name}.lock"
    lock.write_text("")
    with lock.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        done = _run(tree, config)
    assert done.returncode == 0 and "busy" in done.stdout
    assert not (tree / "state" / name / "audit.json").exists()


def test_an_unknown_site_name_is_refused(tree: Path) -> None:
    config = _settings(tree, [], "https://127.0.0.1:9", None, None)
    done = _run(tree, config, "../etc")
    assert done.returncode == 2 and "unknown site" in done.stderr


@pytest.mark.parametrize(("given", "severity"), [
    ("critical", "critical"), ("HIGH", "high"), ("moderate", "medium"), ("medium", "medium"),
    ("low", "low"), (None, "unknown"), ("", "unknown"), ("severe", "unknown"), (3, "unknown"),
])
def test_severity_never_turns_unknown_into_low(given: object, severity: str) -> None:
    assert siteaudit.severity_of(given) == severity


@pytest.mark.parametrize(("version", "expected"), [
    ("6.1.1", ["wordpress-core-6.1.7"]), ("6.1.7", []), ("6.8.3", []),
    ("6.8", ["wordpress-core-6.8.3"]), ("6.4.2", ["wordpress-core-branch-6.4"]), ("6.9.0", []),
])
def test_wordpress_core_against_its_branch_security_release(version: str,
                                                            expected: list[str]) -> None:
    found = siteaudit.wordpress_advisories(version, RELEASES, "https://src/releases.json")
    assert [a["id"] for a in found] == expected
    assert all(a["severity"] == "unknown" for a in found)


@pytest.mark.parametrize("releases", [
    [], {"latest": "6.8.3"}, {"latest": "6.8.3; rm -rf /", "security": {}},
    {"latest": "6.8.3", "security": {"6.8": "<script>"}},
])
def test_a_releases_json_that_is_not_one_is_an_error(releases: object) -> None:
    with pytest.raises(siteaudit.AuditError):
        siteaudit.wordpress_advisories("6.1.1", releases, "x")


def test_the_rendered_settings_name_the_inventory_sources() -> None:
    inv = load_env("lab", None)
    web = next(s for s in inv.servers if "web" in {r.value for r in s.roles})
    data = json.loads(audit_settings(inv, web))
    assert data["composer_repositories"] == list(inv.settings.codebases.composer_repositories)
    assert data["sites"] and all(s["cms"] in ("drupal", "wordpress") for s in data["sites"])
    assert [s["name"] for s in data["sites"]] == sorted(s["name"] for s in data["sites"])
