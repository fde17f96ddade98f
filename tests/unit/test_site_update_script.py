"""``koumbit-site-update`` run for real on a local tree, its tools faked on the way.

The rendered script (its paths pointed into a scratch folder) runs with stand-ins
of what it calls: koumbit-site-archive copies the site's tree aside as a
"snapshot", koumbit-site-restore puts one back (archiving what it replaces first,
as the real one does), koumbit-site-code writes a new version into the site's code,
``php8.2`` / the site's ``vendor/bin/drush`` change a file standing for the
database, ``curl`` answers from files in the tree, ``runuser`` runs as the test's
user. Each writes down how it was called. What the real tools do is proven on
the lab's servers (tests/lab/test_site_update.py); here, what the update asks of
them, in which order, and what it does with their answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from koumbit_infra.inventory import load_inventory
from koumbit_infra.remote import Result as Ran
from koumbit_infra.sites.files import SiteFile, server_files
from koumbit_infra.sites.layout import SITE_LIB, UPDATE
from koumbit_infra.sites.selection import one
from koumbit_infra.sites.update import Result, read_outcome

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory" / "lab")
FILES = {f.dest: f for f in server_files(INV, INV.server("web1"))}
NAME = "erables"
URL = "https://erables.test"

FAKE_RUNUSER = """#!/bin/sh
echo "runuser $2" >> "$CALLS"
[ "$1" = -u ] || exit 9
shift 2
[ "$1" = -- ] && shift
exec "$@"
"""
# Answers from the tree: <web>/status_<path with / as _> (default 200), and its title.
FAKE_CURL = """#!/bin/sh
out= url=
while [ $# -gt 0 ]; do
    case $1 in
        --output) out=$2; shift ;;
        --resolve) echo "resolve $2" >> "$CALLS"; shift ;;
        --write-out|--max-time|--max-filesize|--proto) shift ;;
        -*) ;;
        *) url=$1 ;;
    esac
    shift
done
echo "curl $url" >> "$CALLS"
rest=${url#*://}
key=$(printf '/%s' "${rest#*/}" | tr / _)
web="$SITES/$SITE/web"
status=$(cat "$web/status$key" 2>/dev/null || echo 200)
printf '<html><head><title>%s</title></head></html>' "$(cat "$web/title")" > "$out"
printf '%s' "$status"
"""
FAKE_ARCHIVE = """#!/bin/sh
echo "archive $* locked=${KOUMBIT_SITE_LOCKED:-}" >> "$CALLS"
if [ "${FAKE_ARCHIVE:-ok}" != ok ]; then echo "restic: repository unreachable" >&2; exit 4; fi
id=$(printf 'abcdef%02d' "$(ls "$SNAPS" | wc -l)")
cp -a "$SITES/$1" "$SNAPS/$id"
echo "verified $id"
"""
FAKE_RESTORE = """#!/bin/sh
echo "restore $* locked=${KOUMBIT_SITE_LOCKED:-}" >> "$CALLS"
if [ "${FAKE_RESTORE:-ok}" != ok ]; then echo "restic: snapshot unreadable" >&2; exit 3; fi
kept=$(printf 'abcdef%02d' "$(ls "$SNAPS" | wc -l)")
cp -a "$SITES/$1" "$SNAPS/$kept"
echo "archived $kept"
rm -rf "${SITES:?}/$1"
cp -a "$SNAPS/$2" "$SITES/$1"
echo "restored $1 from $2"
"""
# The contract of koumbit-site-code, with --dry (a proposed addition; FAKE_CODE_DRY=no
# answers it as a tool without it would: a bad site name).
FAKE_CODE = r"""#!/bin/sh
echo "code $* locked=${KOUMBIT_SITE_LOCKED:-}" >> "$CALLS"
dry=no
if [ "$1" = --dry ]; then
    [ "${FAKE_CODE_DRY:-yes}" = yes ] || { echo "bad site name: --dry" >&2; exit 2; }
    dry=yes
    shift
fi
web="$SITES/$1/web"
if [ "$FAKE_CMS" = wordpress ]; then
    file="$web/wp-includes/version.php"
    old=$(sed -n "s/^[\$]wp_version = '\(.*\)';/\1/p" "$file")
else
    file="$web/web/core/lib/Drupal.php"
    old=$(sed -n "s/^  const VERSION = '\(.*\)';/\1/p" "$file")
fi
new=${2:-$(cat "$FAKE/latest")}
if [ "$old" = "$new" ]; then echo "unchanged $new"; exit 0; fi
if [ "$dry" = yes ]; then echo "from $old to $new"; exit 0; fi
sed -i "s/'$old'/'$new'/" "$file"
echo "core $new" > "$web/core.txt"
case ${FAKE_CODE:-ok} in
    fail) echo "sha256 mismatch for the release" >&2; exit 1 ;;
    break) echo 500 > "$web/status_" ;;
    retitle) echo "Fatal error" > "$web/title" ;;
esac
echo "from $old to $new"
"""
FAKE_PHP = """#!/bin/sh
echo "php $* stdin=$(grep -c 'wp_upgrade();' -)" >> "$CALLS"
if [ "${FAKE_DB:-ok}" != ok ]; then echo "WordPress database error" >&2; exit 1; fi
echo "upgraded" >> "$SITES/$SITE/files/db.txt"
echo "database 57155 to 58975"
"""
# The advisory audit, run once the update is done: it says whether the site's lock is free
# (the real one takes it itself).
FAKE_AUDIT = """#!/bin/sh
if flock -n "$LOCKS/$1.lock" true; then lock=free; else lock=held; fi
echo "audit $* lock=$lock" >> "$CALLS"
if [ "${FAKE_AUDIT:-ok}" != ok ]; then echo "composer: repository unreachable" >&2; exit 1; fi
echo "$1: wordpress 6.8.3: no advisory"
"""
FAKE_DRUSH = """#!/bin/sh
echo "drush $*" >> "$CALLS"
if [ "${FAKE_DB:-ok}" != ok ]; then echo "[error] update 10201 failed" >&2; exit 1; fi
echo "drush $*" >> "$SITES/$SITE/files/db.txt"
"""


def _render(f: SiteFile, paths: dict[str, str]) -> str:
    return SiteFile(f.dest, f.template, f.mode, context={**f.context, **paths}).content


@dataclass
class Server:
    """A scratch "server": the rendered tool, its fakes, one site, and what was called."""

    tmp: Path
    cms: str = "wordpress"

    def __post_init__(self) -> None:
        t = self.tmp
        for d in ("bin", "tools", "sites", "snaps", "state", "hooks", "locks", "work",
                  "staging", "fake"):
            (t / d).mkdir()
        paths = {"site_lib": str(t / "site-lib.sh"), "sites_root": str(t / "sites"),
                 "dump_root": str(t / "dumps"), "lock_root": str(t / "locks"),
                 "work_root": str(t / "work"), "state_root": str(t / "state"),
                 "hook_root": str(t / "hooks"), "staging_auth_dir": str(t / "staging"),
                 "php_cli_root": str(t / "php-cli"), "archive": str(t / "tools/archive"),
                 "restore": str(t / "tools/restore"), "code_tool": str(t / "tools/code"),
                 "audit": str(t / "tools/audit"),
                 "wp_upgrader": str(ROOT / "templates/usr/local/lib/koumbit/wp-upgrade.php.j2"),
                 # No OPcache here: the smoke test need not wait for it to see new code.
                 "opcache_revalidate_s": -1,
                 # drush as the real lines run it (sites.drush; proven in the lab): the
                 # site's own, from its code folder.
                 "drush_steps": {NAME: tuple(shlex.quote(
                     f"cd {t / 'sites' / NAME / 'web'} && vendor/bin/drush"
                     f" --root={t / 'sites' / NAME / 'web'} {words}")
                     for words in ("updatedb --yes", "cache:rebuild"))}}
        (t / "site-lib.sh").write_text(_render(FILES[SITE_LIB], paths))
        self.script = t / "koumbit-site-update"
        self.script.write_text(_render(FILES[UPDATE], paths))
        for where, text in (("bin/runuser", FAKE_RUNUSER), ("bin/curl", FAKE_CURL),
                            ("bin/php8.2", FAKE_PHP), ("tools/archive", FAKE_ARCHIVE),
                            ("tools/restore", FAKE_RESTORE), ("tools/code", FAKE_CODE),
                            ("tools/audit", FAKE_AUDIT)):
            (t / where).write_text(text)
            (t / where).chmod(0o755)
        (t / "fake/latest").write_text("6.8.3\n" if self.cms == "wordpress" else "10.3.6\n")
        web = self.site / "web"
        (self.site / "files").mkdir(parents=True)
        (self.site / "files/db.txt").write_text("tables\n")
        (web / "title").parent.mkdir(parents=True, exist_ok=True)
        (web / "title").write_text("Les Érables")
        if self.cms == "wordpress":
            (web / "wp-includes").mkdir()
            (web / "wp-includes/version.php").write_text("<?php\n$wp_version = '6.1.7';\n")
        else:
            (web / "web/core/lib").mkdir(parents=True)
            (web / "web/core/lib/Drupal.php").write_text(
                "<?php\nclass Drupal {\n  const VERSION = '10.2.4';\n}\n")
            (web / "vendor/bin").mkdir(parents=True)
            (web / "vendor/bin/drush").write_text(FAKE_DRUSH)
            (web / "vendor/bin/drush").chmod(0o755)

    @property
    def site(self) -> Path:
        return self.tmp / "sites" / NAME

    @property
    def hook(self) -> Path:
        return self.tmp / "hooks" / f"{NAME}.update-fail"

    @property
    def record(self) -> Path:
        return self.tmp / "state" / NAME / "update.json"

    @property
    def pending(self) -> Path:
        return self.tmp / "state" / NAME / "update.pending"

    def run(self, *args: str, cms: str | None = None, php: str = "8.2", url: str = URL,
            **fake: str) -> subprocess.CompletedProcess[str]:
        calls = self.tmp / "calls"
        calls.write_text("")
        env = {**os.environ, "PATH": f"{self.tmp / 'bin'}:{os.environ['PATH']}",
               "CALLS": str(calls), "SITES": str(self.tmp / "sites"), "SITE": NAME,
               "LOCKS": str(self.tmp / "locks"),
               "SNAPS": str(self.tmp / "snaps"), "FAKE": str(self.tmp / "fake"),
               "FAKE_CMS": self.cms, "KOUMBIT_LOCK_WAIT": "1",
               **{f"FAKE_{k.upper()}": v for k, v in fake.items()}}
        env.pop("KOUMBIT_SITE_LOCKED", None)
        words = [a for a in args if a == "--dry"]
        rest = [a for a in args if a != "--dry"]
        argv = ["sh", str(self.script), *words, NAME, cms or self.cms, php, url, *rest]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                              env=env)

    def calls(self) -> list[str]:
        return (self.tmp / "calls").read_text().splitlines()

    def tree(self) -> dict[str, str]:
        """Every file of the site and its SHA-256: the code checksums and the "database"."""
        return {str(p.relative_to(self.site)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.site.rglob("*")) if p.is_file()}

    def snapshots(self) -> list[str]:
        return sorted(p.name for p in (self.tmp / "snaps").iterdir())


@pytest.fixture
def wp(tmp_path: Path) -> Server:
    return Server(tmp_path)


@pytest.fixture
def drupal(tmp_path: Path) -> Server:
    return Server(tmp_path, "drupal")


def _outcome(done: subprocess.CompletedProcess[str], dry: bool = False) -> Result:
    site = one(INV, "erables.test")
    return read_outcome(site, Ran(done.returncode == 0, done.returncode, done.stdout,
                                  done.stderr), 1.0, dry).result


def test_the_script_passes_shellcheck(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (scripts/host-packages.txt)")
    path = tmp_path / "koumbit-site-update"
    path.write_text(FILES[UPDATE].content)
    # Not followed: the sourced site-lib (SC1091) and the names it sets (SC2154); meant:
    # the site's scripts in single quotes, expanded by the site's shell (SC2016), and
    # "A && B || C" where C is the fallback for either (SC2015).
    done = subprocess.run(["shellcheck", "-s", "sh", "-e", "SC1091,SC2154,SC2016,SC2015",
                           str(path)], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stdout


# --- a good update -------------------------------------------------------------------


def test_a_wordpress_update_snapshots_updates_upgrades_checks_and_records(wp: Server) -> None:
    done = wp.run()
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert "current 6.1.7" in out and "plan from 6.1.7 to 6.8.3" in out
    assert "snapshot abcdef00" in out and out[-1] == "result updated from 6.1.7 to 6.8.3"
    assert "6.8.3" in (wp.site / "web/wp-includes/version.php").read_text()
    assert (wp.site / "files/db.txt").read_text() == "tables\nupgraded\n"
    record = json.loads(wp.record.read_text())
    assert {k: record[k] for k in ("from", "to", "result", "step")} == {
        "from": "6.1.7", "to": "6.8.3", "result": "updated", "step": None}
    assert record["at"].endswith("Z")
    calls = wp.calls()
    # In this order: the snapshot before the code, the code before the database, the
    # smoke test last; the tools it runs go on under its lock.
    order = [c.split()[0] for c in calls if c.split()[0] in {"archive", "code", "php"}]
    assert order == ["code", "archive", "code", "php"]  # the first code call: --dry
    assert f"archive {NAME} locked={NAME}" in calls
    assert f"code {NAME} locked={NAME}" in calls
    # WordPress's upgrade runs as the site, reading the upgrade script on its stdin.
    php = next(c for c in calls if c.startswith("php "))
    assert php == f"php -- {wp.site}/web {URL} stdin=1"
    assert calls[calls.index(php) - 1] == f"runuser {NAME}"
    # Smoke test through this server's nginx, by name, before and after.
    assert calls.count(f"curl {URL}/") == 2 and calls.count(f"curl {URL}/wp-login.php") == 2
    assert "resolve erables.test:443:127.0.0.1" in calls
    assert not any(c.startswith("restore") for c in calls)
    assert not wp.pending.exists()
    assert _outcome(done) is Result.UPDATED
    # Last, the advisory audit of the new code, once the site's lock is let go.
    assert calls[-1] == f"audit {NAME} lock=free"
    assert f"{NAME}: advisories audited again: {NAME}: wordpress 6.8.3: no advisory" \
        in done.stderr


def test_a_failed_audit_after_the_update_is_said_and_the_update_stands(wp: Server) -> None:
    done = wp.run(audit="fail")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "result updated from 6.1.7 to 6.8.3"
    assert "composer: repository unreachable" in done.stderr
    assert f"{NAME}: WARNING: the advisory audit after the update failed" in done.stderr
    assert json.loads(wp.record.read_text())["result"] == "updated"


def test_no_audit_runs_after_a_rollback_or_when_nothing_changed(wp: Server) -> None:
    wp.hook.write_text("smoke\n")
    assert wp.run().returncode == 3
    assert not any(c.startswith("audit") for c in wp.calls())
    assert wp.run().returncode == 0  # updated: audited
    assert wp.run().returncode == 0  # unchanged: not again
    assert not any(c.startswith("audit") for c in wp.calls())


def test_a_drupal_update_runs_drush_updatedb_then_cache_rebuild(drupal: Server) -> None:
    done = drupal.run(url="http://erables.test")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "result updated from 10.2.4 to 10.3.6"
    calls = drupal.calls()
    drush = [c for c in calls if c.startswith("drush")]
    assert drush == [f"drush --root={drupal.site}/web updatedb --yes",
                     f"drush --root={drupal.site}/web cache:rebuild"]
    assert calls.count("curl http://erables.test/user/login") == 2
    assert "resolve erables.test:80:127.0.0.1" in calls


# --- each step made to fail ------------------------------------------------------------


@pytest.mark.parametrize("step", ["code", "database", "smoke"])
def test_a_step_failed_by_the_test_hook_rolls_back_to_the_exact_tree(wp: Server,
                                                                      step: str) -> None:
    before = wp.tree()
    wp.hook.write_text(f"{step}\n")
    done = wp.run()
    assert done.returncode == 3, done.stderr
    assert f"TEST HOOK ({wp.hook}): the {step} step will fail on purpose" in done.stderr
    assert f"failed {step}" in done.stdout.splitlines()
    assert "result rolled back" in done.stdout.splitlines()
    assert "serving yes" in done.stdout.splitlines()
    assert wp.tree() == before  # code checksums and "database" as they were
    record = json.loads(wp.record.read_text())
    assert (record["result"], record["step"], record["from"]) == ("rolled back", step, "6.1.7")
    assert f"restore {NAME} abcdef00 locked={NAME}" in wp.calls()
    # The failed state was archived by the restore; the hook was used once.
    assert "kept abcdef01" in done.stdout.splitlines() and not wp.hook.exists()
    assert not wp.pending.exists()
    assert _outcome(done) is Result.ROLLED_BACK
    again = wp.run()
    assert again.returncode == 0 and "result updated from 6.1.7 to 6.8.3" in again.stdout


@pytest.mark.parametrize(("fake", "step"), [({"code": "fail"}, "code"),
                                            ({"db": "fail"}, "database"),
                                            ({"code": "break"}, "smoke"),
                                            ({"code": "retitle"}, "smoke")])
def test_a_real_failure_rolls_back_and_names_its_step(wp: Server, fake: dict[str, str],
                                                      step: str) -> None:
    before = wp.tree()
    done = wp.run(**fake)
    assert done.returncode == 3, done.stderr
    assert f"{NAME}: the {step} step failed" in done.stderr
    assert f"{NAME}: rolled back to snapshot abcdef00" in done.stderr
    assert wp.tree() == before
    assert json.loads(wp.record.read_text())["step"] == step


def test_what_the_failing_tool_said_reaches_the_person(wp: Server) -> None:
    done = wp.run(code="fail")
    assert "  sha256 mismatch for the release" in done.stderr
    assert "koumbit-site-code exited 1" in done.stderr


def test_a_failed_snapshot_changes_nothing(wp: Server) -> None:
    before = wp.tree()
    done = wp.run(archive="fail")
    assert done.returncode == 1
    assert "the snapshot before the update failed; nothing was changed" in done.stderr
    assert "  restic: repository unreachable" in done.stderr
    assert f"code {NAME} locked={NAME}" not in wp.calls()  # only the --dry question
    assert wp.tree() == before and not wp.record.exists() and not wp.pending.exists()
    assert _outcome(done) is Result.FAILED


def test_a_failed_rollback_says_so_loudly_and_stops_the_next_update(wp: Server) -> None:
    done = wp.run(db="fail", restore="fail")
    assert done.returncode == 4
    assert "!!! erables: THE ROLLBACK FAILED" in done.stderr
    assert "koumbit-site-restore erables abcdef00" in done.stderr
    assert done.stdout.splitlines()[-1] == "result rollback failed"
    assert _outcome(done) is Result.ROLLBACK_FAILED
    assert not wp.record.exists()  # the contract has no word for it: update.json says nothing
    assert "abcdef00" in wp.pending.read_text()
    # Until someone looked, no second update runs over the half-updated site.
    again = wp.run()
    assert again.returncode == 1 and "an earlier update stopped half-way" in again.stderr
    assert "snapshot abcdef00" in again.stderr
    assert not any(c.startswith("archive") for c in wp.calls())


# --- nothing to do ---------------------------------------------------------------------


def test_a_second_update_changes_nothing_and_takes_no_snapshot(wp: Server) -> None:
    assert wp.run().returncode == 0
    after_first, snaps = wp.tree(), wp.snapshots()
    done = wp.run()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "result unchanged 6.8.3"
    assert "no snapshot taken" in done.stderr
    assert wp.tree() == after_first and wp.snapshots() == snaps
    assert not any(c.startswith(("archive", "php", "curl")) for c in wp.calls())
    record = json.loads(wp.record.read_text())
    assert (record["result"], record["from"], record["to"]) == ("unchanged", "6.8.3", "6.8.3")
    assert _outcome(done) is Result.UNCHANGED


def test_without_the_code_tool_s_dry_run_to_the_current_version_takes_no_snapshot(
        wp: Server) -> None:
    done = wp.run("6.1.7", code_dry="no")
    assert done.returncode == 0 and "result unchanged 6.1.7" in done.stdout
    assert wp.snapshots() == []


def test_without_the_code_tool_s_dry_run_the_snapshot_comes_first_and_says_why(
        wp: Server) -> None:
    (wp.tmp / "fake/latest").write_text("6.1.7\n")
    done = wp.run(code_dry="no")
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "result unchanged 6.1.7"
    assert wp.snapshots() == ["abcdef00"]
    assert "as koumbit-site-code could not tell beforehand" in done.stderr
    assert not any(c.startswith("php") for c in wp.calls())


def test_dry_says_from_and_to_and_changes_nothing(wp: Server) -> None:
    before = wp.tree()
    done = wp.run("--dry")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["current 6.1.7", "plan from 6.1.7 to 6.8.3"]
    assert wp.tree() == before and wp.snapshots() == [] and not wp.record.exists()
    assert [c.split()[0] for c in wp.calls()] == ["runuser", "code"]
    assert _outcome(done, dry=True) is Result.PLANNED
    # Without the code tool's --dry, the version asked for, or "?" for its default.
    assert wp.run("--dry", "6.8.3", code_dry="no").stdout.splitlines()[-1] == \
        "plan from 6.1.7 to 6.8.3"
    assert wp.run("--dry", code_dry="no").stdout.splitlines()[-1] == "plan from 6.1.7 to ?"


# --- refusals --------------------------------------------------------------------------


def test_a_site_that_does_not_serve_before_is_not_touched(wp: Server) -> None:
    (wp.site / "web/status_").write_text("502")
    done = wp.run()
    assert done.returncode == 1
    assert "before the update, its home page answers 502 (expected 200)" in done.stderr
    assert wp.snapshots() == [] and not wp.record.exists()


def test_a_staging_copy_is_checked_behind_its_password(wp: Server) -> None:
    (wp.tmp / "staging" / f"{NAME}.htpasswd").write_text("staging:$apr1$x$y\n")
    (wp.site / "web/status_").write_text("401")
    (wp.site / "web/status_wp-login.php").write_text("401")
    done = wp.run()
    assert done.returncode == 0, done.stderr
    # A copy answering without its password would be an open staging copy: refused.
    (wp.site / "web/status_").unlink()
    assert "its home page answers 200 (expected 401)" in wp.run("6.9").stderr


@pytest.mark.parametrize("args", [
    {"cms": "joomla"}, {"php": "8.2;id"}, {"php": "../../bin/sh"},
    {"url": "https://erables.test/$(id)"}, {"url": "ftp://erables.test"},
    {"url": "https://-x.test"}, {"url": "https://erables.test:22"},
])
def test_bad_arguments_are_refused_before_anything(wp: Server, args: dict[str, str]) -> None:
    done = wp.run(**args)  # type: ignore[arg-type]
    assert done.returncode == 2, done.stderr
    assert wp.calls() == []


@pytest.mark.parametrize("version", ["--help", "6.8;id", "../6", "$(id)", "6 8"])
def test_a_bad_version_is_refused_before_anything(wp: Server, version: str) -> None:
    done = wp.run(version)
    assert done.returncode == 2 and "bad version" in done.stderr
    assert wp.calls() == []


def test_a_bad_site_name_is_refused(wp: Server) -> None:
    script = str(wp.script)
    done = subprocess.run(["sh", script, "../erables", "wordpress", "8.2", URL],
                          capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 2 and "bad site name" in done.stderr


def test_a_version_the_site_plants_in_its_code_is_never_repeated(wp: Server) -> None:
    (wp.site / "web/wp-includes/version.php").write_text(
        "<?php\n$wp_version = '6.1\"; echo pwned';\n")
    done = wp.run("--dry", "6.8.3", code_dry="no")
    assert done.stdout.splitlines() == ["current unknown", "plan from unknown to 6.8.3"]


def test_words_of_the_code_tool_that_are_not_versions_are_never_repeated(wp: Server) -> None:
    (wp.tmp / "fake/latest").write_text("$(id)\n")
    done = wp.run("--dry")
    assert done.stdout.splitlines() == ["current 6.1.7", "plan from 6.1.7 to unknown"]


@pytest.mark.parametrize("text", ["rm -rf /", "", "code\nsmoke"])
def test_a_hook_holding_anything_else_is_refused(wp: Server, text: str) -> None:
    wp.hook.write_text(text)
    done = wp.run()
    assert done.returncode == 2 and "it may hold code, database or smoke" in done.stderr
    assert wp.snapshots() == [] and not wp.hook.exists()


def test_a_hook_that_is_a_link_is_not_read(wp: Server) -> None:
    target = wp.tmp / "elsewhere"
    target.write_text("code\n")
    wp.hook.symlink_to(target)
    done = wp.run()
    assert done.returncode == 0 and "TEST HOOK" not in done.stderr
    assert target.read_text() == "code\n"


def test_a_busy_site_lock_makes_it_give_up_without_acting(wp: Server) -> None:
    lock = wp.tmp / "locks" / f"{NAME}.lock"
    lock.write_text("")
    holder = subprocess.Popen(["flock", str(lock), "sh", "-c", "echo held; sleep 20"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        done = wp.run()
        assert done.returncode == 75 and "still locked" in done.stderr
        assert wp.calls() == []
    finally:
        holder.kill()
        holder.wait()


def test_the_real_tool_runs_each_drupal_site_s_drush_the_one_way_drush_runs() -> None:
    from koumbit_infra.inventory import Cms
    from koumbit_infra.sites.drush import drush_line
    from koumbit_infra.sites.files import layouts

    checked = 0
    for server in INV.servers:
        rendered = {f.dest: f for f in server_files(INV, server)}.get(UPDATE)
        if rendered is None:
            continue
        for site in layouts(INV, server):
            if site.cms is not Cms.DRUPAL or site.state.value == "absent":
                continue
            updatedb = drush_line(site, "updatedb", "--yes")
            assert f"{site.name}) sh -c {shlex.quote(updatedb)} 9<&- && sh -c" \
                   f" {shlex.quote(drush_line(site, 'cache:rebuild'))} 9<&- ;;" \
                   in rendered.content
            assert "runuser -u " + site.name in updatedb and "proc_open" not in updatedb
            checked += 1
    assert checked >= 2  # the lab has Drupal sites on two servers
