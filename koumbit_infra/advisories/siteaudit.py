"""The audit every web server runs for its sites: ``/var/lib/koumbit/sites/SITE/audit.json``.

This module is the whole program ``/usr/local/sbin/koumbit-site-audit`` (the deploy
writes its source into that file; the standard library only, run by Debian's
``python3 -I``, as root, from the ``koumbit-site-audit`` timer). Tests import it.

Every site is hostile, so for each one:

1. What the site holds is read **as the site's own user** (its ``composer.lock``, at most
   ``LOCK_MAX_BYTES``; WordPress's ``wp-includes/version.php``, at most 64 KiB), opened
   without following a last link and never a FIFO or device: root never follows a link
   in a site's tree, and the site cannot make root read what it could not read itself.
2. Drupal (any composer site): the lock is copied into a root-made scratch folder beside
   **our own** ``composer.json``, naming only the inventory's composer repositories
   (``settings.codebases.composer_repositories``, packagist off unless listed) and no
   plugins; ``composer audit --locked --no-plugins --format=json`` runs there as an
   unprivileged user (``nobody``) with its own COMPOSER_HOME and cache. The site's own
   composer.json, its plugins, scripts and repositories list are never read.
3. WordPress: ``$wp_version`` is read from version.php as text (never executed) and
   compared with the source's ``releases.json`` (``{"latest", "security": {branch:
   release}}``): a version older than its branch's security release is an advisory, and
   so is a branch the source no longer gives security releases for.
4. ``audit.json`` is written whole (a new file renamed over the old one) in a root-owned
   folder; an advisory keeps the ``first_seen`` of the previous audit.

Severity: composer's ``severity`` when the repository gives one (packagist does for most
advisories since composer 2.6; ``moderate`` is GitHub's word for medium). None, or a word
we do not know, is ``unknown``, never ``low``: the PHP Security Advisories Database
carries no severity at all, and a WordPress core behind its security release has none
either. The alert (``KoumbitSiteAdvisoryOpen``) treats ``unknown`` as ``critical``: an
advisory nobody has rated is not taken for a harmless one.

A site whose audit fails (composer missing or failing, a lock too large, a link where the
lock should be) gets an ``audit.json`` saying ``error`` with no advisories, and the
program exits 1 after auditing the others.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import re
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

CONFIG = "/etc/koumbit/site-audit.json"
# Debian's, which every user may run (the reader runs as each site's user).
PYTHON = "/usr/bin/python3"
LOCK_MAX_BYTES = 4 * 1024 * 1024
VERSION_PHP_MAX_BYTES = 64 * 1024
RELEASES_MAX_BYTES = 1024 * 1024
SEVERITIES = ("critical", "high", "medium", "low", "unknown")
# What alerts: critical, and what nobody rated (see the module).
ALERTING = ("critical", "unknown")
_ALIASES = {"moderate": "medium"}
_SITE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_WP_VERSION = re.compile(r"^\s*\$wp_version\s*=\s*'([0-9]{1,4}(?:\.[0-9]{1,4}){1,3})'\s*;",
                         re.MULTILINE)
_TEXT_MAX = 500

# Run as the site's user: the file's bytes on stdout, or a reason and exit 3. O_NOFOLLOW:
# a last link is refused; O_NONBLOCK: a FIFO never blocks; only a regular file is read.
_READER = r"""
import os, stat, sys
path, cap = sys.argv[1], int(sys.argv[2])
try:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
except FileNotFoundError:
    sys.exit(4)
except OSError as exc:
    sys.stderr.write(f"cannot open: {exc.strerror}"); sys.exit(3)
if not stat.S_ISREG(os.fstat(fd).st_mode):
    sys.stderr.write("not a regular file"); sys.exit(3)
data = os.read(fd, cap + 1)
while len(data) <= cap:
    more = os.read(fd, cap + 1 - len(data))
    if not more:
        break
    data += more
if len(data) > cap:
    sys.stderr.write(f"larger than {cap} bytes"); sys.exit(3)
sys.stdout.buffer.write(data)
"""


class AuditError(Exception):
    """What stopped one site's audit, in words for the Infra team."""


def severity_of(value: object) -> str:
    """One of SEVERITIES: composer's word when we know it, else ``unknown`` (never low)."""
    word = value.strip().lower() if isinstance(value, str) else ""
    word = _ALIASES.get(word, word)
    return word if word in SEVERITIES else "unknown"


def _text(value: object, limit: int = _TEXT_MAX) -> str:
    """A string from composer or the source, cut and freed of control characters; the
    readers escape it again where it goes (HTML, CSV, PDF, a terminal)."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c.isprintable())[:limit]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_as(user: str, path: str, cap: int) -> bytes | None:
    """The bytes of ``path`` read as ``user`` (None if there is no such file); AuditError
    for a link, a FIFO, a file over ``cap`` bytes or one the user cannot read."""
    who = pwd.getpwnam(user)
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:
        as_user = {"user": who.pw_uid, "group": who.pw_gid, "extra_groups": []}
    elif os.geteuid() != who.pw_uid:
        raise AuditError(f"{user}: only root reads another user's files")
    try:
        done = subprocess.run([PYTHON, "-I", "-c", _READER, path, str(cap)],
                              capture_output=True, timeout=60, check=False, cwd="/",
                              env={"PATH": "/usr/bin:/bin"}, **as_user)
    except subprocess.TimeoutExpired:
        raise AuditError(f"{path}: reading it took over 60 s") from None
    if done.returncode == 4:
        return None
    if done.returncode != 0:
        raise AuditError(f"{path}: {_text(done.stderr.decode(errors='replace'), 200)}")
    return bytes(done.stdout)


def wordpress_version(source: str) -> str | None:
    """``$wp_version`` of a version.php, read as text (the file is never run)."""
    found = _WP_VERSION.search(source)
    return found.group(1) if found else None


def _numbers(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def _releases(data: object) -> tuple[str, dict[str, str]]:
    """``latest`` and ``security`` of a releases.json, checked (it comes from the network)."""
    release = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,4}){1,3}")
    if not isinstance(data, dict):
        raise AuditError("releases.json is not an object")
    latest, security = data.get("latest"), data.get("security")
    if not (isinstance(latest, str) and release.fullmatch(latest) and isinstance(security, dict)
            and all(isinstance(k, str) and isinstance(v, str) and release.fullmatch(v)
                    and re.fullmatch(r"[0-9]{1,4}\.[0-9]{1,4}", k) for k, v in security.items())):
        raise AuditError("releases.json lacks latest and security {branch: release}")
    return latest, dict(security)


def wordpress_advisories(version: str, releases: object, link: str) -> list[dict[str, Any]]:
    """The advisories a WordPress core ``version`` has against ``releases`` (releases.json)."""
    latest, security = _releases(releases)
    branch = ".".join(version.split(".")[:2])
    fixed = security.get(branch)
    if fixed is not None:
        if _numbers(version) >= _numbers(fixed):
            return []
        return [{"id": f"wordpress-core-{fixed}", "package": "wordpress/core",
                 "title": f"WordPress {version} is older than {fixed}, the security release"
                          f" of its branch {branch}",
                 "cve": "", "severity": "unknown", "link": link}]
    if _numbers(version) >= _numbers(latest):
        return []  # newer than the source knows (a release since): nothing known against it
    return [{"id": f"wordpress-core-branch-{branch}", "package": "wordpress/core",
             "title": f"WordPress {branch} receives no security release any more; the latest"
                      f" is {latest}", "cve": "", "severity": "unknown", "link": link}]


def composer_advisories(output: str) -> list[dict[str, Any]]:
    """The advisories of ``composer audit --format=json``; AuditError if it is not that."""
    try:
        data = json.loads(output)
    except ValueError:
        raise AuditError("composer audit did not print JSON") from None
    found = data.get("advisories") if isinstance(data, dict) else None
    if not isinstance(found, (dict, list)):
        raise AuditError("composer audit printed no advisories list")
    out = []
    # An empty result is [] in composer's JSON; a filtered list can be an object.
    for package, listed in (found.items() if isinstance(found, dict) else []):
        rows = list(listed.values()) if isinstance(listed, dict) else listed
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict) or not _text(row.get("advisoryId")):
                continue
            out.append({"id": _text(row.get("advisoryId"), 200), "package": _text(package, 200),
                        "title": _text(row.get("title")), "cve": _text(row.get("cve"), 50),
                        "severity": severity_of(row.get("severity")),
                        "link": _text(row.get("link"))})
    return sorted(out, key=lambda a: (a["package"], a["id"]))


def composer_json(repositories: list[str], cafile: str | None) -> dict[str, Any]:
    """Our composer.json for a site's lock: the inventory's repositories only, no plugin
    ever. ``cafile``: a PEM of CAs to trust instead of the system's (a private mirror with
    a CA of its own; the servers trust the lab's through their system store)."""
    repos: list[dict[str, Any]] = [{"type": "composer", "url": r} for r in repositories]
    if not any(r.rstrip("/") in ("https://repo.packagist.org", "https://packagist.org")
               for r in repositories):
        repos.append({"packagist.org": False})
    config: dict[str, Any] = {"allow-plugins": False, "secure-http": True,
                              "notify-on-install": False}
    if cafile:
        config["cafile"] = cafile
    return {"name": "koumbit/site-audit", "description": "koumbit-site-audit's own",
            "repositories": repos, "config": config}


def run_composer_audit(lock: bytes, settings: dict[str, Any], work: str) -> str:
    """``composer audit`` of ``lock`` as the unprivileged user, in a scratch folder under
    ``work``; its JSON output."""
    runner = pwd.getpwnam(settings.get("run_as", "nobody"))
    folder = tempfile.mkdtemp(prefix="audit.", dir=work)
    try:
        for name, content in (("composer.json", json.dumps(composer_json(
                settings["composer_repositories"], settings.get("cafile"))).encode()),
                              ("composer.lock", lock)):
            with open(os.path.join(folder, name), "wb") as out:
                out.write(content)
        for sub in ("home", "cache"):
            os.mkdir(os.path.join(folder, sub), 0o700)
        as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            for root, dirs, files in os.walk(folder):
                for entry in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.lchown(entry, runner.pw_uid, runner.pw_gid)
            as_user = {"user": runner.pw_uid, "group": runner.pw_gid, "extra_groups": []}
        env = {"PATH": "/usr/bin:/bin", "HOME": folder,
               "COMPOSER_HOME": os.path.join(folder, "home"),
               "COMPOSER_CACHE_DIR": os.path.join(folder, "cache"),
               "COMPOSER_NO_INTERACTION": "1", "COMPOSER_AUDIT_ABANDONED": "ignore",
               # our composer.json has no version: composer would ask git for one
               "COMPOSER_ROOT_VERSION": "1.0.0"}
        try:
            done = subprocess.run(
                [settings.get("composer", "/usr/bin/composer"), "audit", "--locked",
                 "--no-plugins", "--format=json", f"--working-dir={folder}"],
                capture_output=True, text=True, timeout=300, check=False, cwd=folder,
                env=env, **as_user)
        except FileNotFoundError:
            raise AuditError("composer is not installed") from None
        except subprocess.TimeoutExpired:
            raise AuditError("composer audit took over 300 s") from None
        # Its exit status counts what it found (2.5) or flags it (2.6+): the JSON decides.
        try:
            composer_advisories(done.stdout)
        except AuditError:
            raise AuditError("composer audit failed: "
                             + _text(done.stderr.strip().splitlines()[-1:][0]
                                     if done.stderr.strip() else "no output", 300)) from None
        return str(done.stdout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _locked_core(lock: bytes) -> str | None:
    try:
        data = json.loads(lock)
    except ValueError:
        raise AuditError("composer.lock is not JSON") from None
    packages = data.get("packages") if isinstance(data, dict) else None
    for row in packages if isinstance(packages, list) else []:
        if isinstance(row, dict) and row.get("name") == "drupal/core":
            return _text(row.get("version"), 40).removeprefix("v") or None
    return None


def read_previous(path: str) -> list[dict[str, Any]]:
    """The advisories of the last audit.json (root's own folder, read without following
    a link), each with its ``first_seen``; none when it is absent or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return []
        try:
            data = json.loads(f.read(LOCK_MAX_BYTES))
        except ValueError:
            return []
    rows = data.get("advisories") if isinstance(data, dict) else None
    keys = ("id", "package", "title", "cve", "severity", "link", "first_seen")
    return [{k: _text(r.get(k)) for k in keys} for r in rows if isinstance(r, dict)
            and _text(r.get("id")) and _text(r.get("first_seen"))] \
        if isinstance(rows, list) else []


def audit_site(site: dict[str, Any], settings: dict[str, Any], releases: object,
               work: str) -> dict[str, Any]:
    """One site's audit.json content, without first_seen (see ``with_first_seen``)."""
    name, cms = site["name"], site["cms"]
    web = os.path.join(settings["sites_root"], name, "web")
    out: dict[str, Any] = {"at": now_iso(), "cms": cms, "core": None, "php": site["php"],
                           "advisories": [], "error": None}
    try:
        if cms == "wordpress":
            raw = read_as(name, os.path.join(web, "wp-includes", "version.php"),
                          VERSION_PHP_MAX_BYTES)
            if raw is None:
                raise AuditError("no wp-includes/version.php")
            out["core"] = wordpress_version(raw.decode("utf-8", errors="replace"))
            if out["core"] is None:
                raise AuditError("wp-includes/version.php gives no $wp_version")
            if isinstance(releases, AuditError):
                raise releases
            if releases is None:
                raise AuditError("no WordPress source (settings.codebases.wordpress_source)")
            out["advisories"] = wordpress_advisories(out["core"], releases,
                                                     settings["wordpress_releases"])
        else:
            lock = read_as(name, os.path.join(web, "composer.lock"), LOCK_MAX_BYTES)
            if lock is None:
                raise AuditError("no composer.lock in its code")
            out["core"] = _locked_core(lock)
            out["advisories"] = composer_advisories(run_composer_audit(lock, settings, work))
    except AuditError as exc:
        out["error"] = str(exc)
    return out


def with_first_seen(result: dict[str, Any], previous: list[dict[str, Any]]) -> dict[str, Any]:
    """``result`` with each advisory's first_seen kept from the last audit (now for a new
    one). An audit that failed keeps the last advisories: a failure hides nothing."""
    seen = {a["id"]: a["first_seen"] for a in previous}
    if result["error"] is not None and not result["advisories"]:
        result["advisories"] = previous
    for advisory in result["advisories"]:
        advisory["first_seen"] = seen.get(advisory["id"], result["at"])
    return result


@contextmanager
def site_lock(lock_root: str, name: str, wait_seconds: float) -> Iterator[bool]:
    """The site's own lock (deploys, site commands, updates and its cron share it), held
    while its code is read: True if taken within ``wait_seconds``."""
    try:
        fd = os.open(os.path.join(lock_root, f"{name}.lock"),
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        yield True  # no lock yet (a site being made): nothing holds it either
        return
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(1)
        yield True
    finally:
        os.close(fd)


def write_audit(state_root: str, name: str, result: dict[str, Any]) -> None:
    """audit.json written whole in root's ``STATE/SITE/`` (0755 folder, 0644 file)."""
    folder = os.path.join(state_root, name)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    if os.path.islink(folder) or not os.path.isdir(folder):
        raise AuditError(f"{folder} is not a folder")
    fd, tmp = tempfile.mkstemp(prefix=".audit.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2, sort_keys=True)
            out.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(folder, "audit.json"))
    except BaseException:
        os.unlink(tmp)
        raise


def fetch_releases(settings: dict[str, Any]) -> object:
    """The WordPress source's releases.json (None without a source, AuditError if it
    cannot be had: every WordPress site then says so)."""
    url = settings.get("wordpress_releases")
    if not url:
        return None
    context = ssl.create_default_context(cafile=settings.get("cafile") or None)
    try:
        with urllib.request.urlopen(url, timeout=30, context=context) as answer:  # noqa: S310
            raw = answer.read(RELEASES_MAX_BYTES + 1)
    except OSError as exc:
        return AuditError(f"{url}: {exc}")
    if len(raw) > RELEASES_MAX_BYTES:
        return AuditError(f"{url}: larger than {RELEASES_MAX_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError:
        return AuditError(f"{url}: not JSON")


def main(argv: list[str], config_path: str = CONFIG) -> int:
    """Audit the sites named (all of the configuration's when none); 1 if any failed."""
    with open(config_path, encoding="utf-8") as f:
        settings = json.load(f)
    sites = settings["sites"]
    unknown = [n for n in argv if n not in {s["name"] for s in sites}]
    if unknown or not all(_SITE_NAME.fullmatch(s["name"]) for s in sites):
        print(f"unknown site(s): {' '.join(unknown) or 'bad name in ' + config_path}",
              file=sys.stderr)
        return 2
    releases = fetch_releases(settings)
    os.makedirs(settings["work_root"], mode=0o711, exist_ok=True)
    work = tempfile.mkdtemp(prefix="site-audit.", dir=settings["work_root"])
    # the unprivileged composer reaches its own folder through it, and lists nothing
    os.chmod(work, 0o711)  # noqa: S103
    failed = 0
    try:
        for site in sites:
            if argv and site["name"] not in argv:
                continue
            with site_lock(settings["lock_root"], site["name"],
                           settings.get("lock_wait_seconds", 600)) as locked:
                if not locked:
                    print(f"{site['name']}: busy (its lock is held): audit.json left as it was")
                    continue
                result = audit_site(site, settings, releases, work)
            path = os.path.join(settings["state_root"], site["name"], "audit.json")
            write_audit(settings["state_root"], site["name"],
                        with_first_seen(result, read_previous(path)))
            counts = {s: sum(a["severity"] == s for a in result["advisories"])
                      for s in SEVERITIES}
            shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no advisory"
            print(f"{site['name']}: {result['cms']} {result['core'] or '?'}: "
                  + (f"FAILED: {result['error']}" if result["error"] else shown))
            failed += result["error"] is not None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
