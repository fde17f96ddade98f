"""``site migrate`` across Debian releases, its pure parts: what the target's copy runs
(PHP and MariaDB of the target's release), the refusal of a pinned PHP the target lacks,
and the check before the source is disabled: status, title, and no PHP fatal error logged
meanwhile in a log the hostile site may have swapped for anything."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from koumbit_infra.inventory import load_inventory
from koumbit_infra.sites.copy import moved
from koumbit_infra.sites.files import site_files
from koumbit_infra.sites.http import Answer
from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.migrate import _refusal, pinned_php_refusal, target_problems
from koumbit_infra.sites.phperrors import (
    READ_LIMIT_BYTES,
    READ_SCRIPT,
    SHOWN_LINES,
    LogRead,
    LogState,
    fatal_lines,
    log_problem,
    parse_read,
    read_command,
)
from koumbit_infra.sites.selection import one
from koumbit_infra.sites.variant import Clients, write_variant

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory" / "lab")
WP, DRUPAL = "erables.test", "centre-femmes.test"  # both on web1, Debian 12
FATAL = ("[04-Nov-2026 12:00:00 UTC] PHP Fatal error:  Uncaught Error: Call to undefined"
         " function mysql_connect() in /srv/sites/x/web/index.php:3")


def _moved(tmp: Path, domain: str, edit_too: dict[str, str] | None = None) -> SiteLayout:
    def edit(clients: Clients) -> None:
        moved(domain, "web2")(clients)
        for client in clients.values():
            for site in client.get("sites", []):
                if site["domain"] == domain:
                    site.update(edit_too or {})

    inv = load_inventory(write_variant(ROOT / "inventory" / "lab", tmp, edit).with_suffix(""))
    return SiteLayout.of(inv, inv.site(domain))


@pytest.mark.parametrize("domain", [WP, DRUPAL])
def test_the_targets_copy_runs_the_targets_php_and_mariadb(tmp_path: Path, domain: str) -> None:
    source = one(INV, domain)
    assert (source.release.debian, source.php_version, source.release.mariadb) == (12, "8.2",
                                                                                   "10.11")
    there = _moved(tmp_path, domain)
    assert (there.release.debian, there.php_version, there.release.mariadb) == (13, "8.4",
                                                                               "11.8")
    files = {f.dest: f for f in site_files(there)}
    pool = files[f"/etc/php/8.4/fpm/pool.d/{there.name}.conf"]
    assert f"php_admin_value[error_log] = {there.php_error_log}\n" in pool.content
    assert not any("/8.2/" in dest for dest in files)
    cli_ini = next(f.content for dest, f in files.items() if dest == there.php_cli_ini)
    assert f"error_log = {there.php_error_log}\n" in cli_ini
    assert there.fpm_service == "php8.4-fpm" and there.php.cli == "/usr/bin/php8.4"


def test_a_php_pinned_that_the_target_lacks_is_refused_before_anything(tmp_path: Path) -> None:
    def pin(clients: Clients) -> None:
        for client in clients.values():
            for site in client.get("sites", []):
                if site["domain"] == WP:
                    site["php_version"] = "8.2"

    inv = load_inventory(write_variant(ROOT / "inventory" / "lab", tmp_path, pin)
                         .with_suffix(""))
    site = SiteLayout.of(inv, inv.site(WP))
    refusal = pinned_php_refusal(inv, site, "web2")
    assert refusal is not None
    assert "pins PHP 8.2" in refusal and "Debian 13 (trixie)" in refusal and "8.4" in refusal
    assert "cooperative-erables.yaml" in refusal and "nothing was done" in refusal
    assert pinned_php_refusal(INV, one(INV, WP), "web2") is None  # not pinned: follows web2


def test_the_log_is_read_as_the_site_with_bounds() -> None:
    site = one(INV, WP)
    argv = shlex.split(read_command(site, 1234))
    assert argv[:4] == ["runuser", "-u", site.name, "--"]
    assert argv[-3:] == [site.php_error_log, "1234", str(READ_LIMIT_BYTES)]
    assert site.php_error_log == f"{site.logs}/php-error.log"
    with pytest.raises(ValueError, match="byte counts"):
        read_command(site, -1)


def _read(path: Path, offset: int = 0, limit: int = READ_LIMIT_BYTES) -> LogRead:
    # The very script the site's user runs on the server, run here on hostile files.
    done = subprocess.run(["sh", "-c", READ_SCRIPT, "sh", str(path), str(offset), str(limit)],
                          capture_output=True, text=True, timeout=30, check=True)
    return parse_read(done.stdout)


def test_the_read_follows_no_link_opens_no_fifo_and_skips_older_lines(tmp_path: Path) -> None:
    log = tmp_path / "php-error.log"
    assert _read(log).state is LogState.ABSENT
    log.write_text("old line\n")
    mark = _read(log, 0, 0)
    assert (mark.state, mark.size, mark.text) == (LogState.FILE, 9, "")
    with log.open("a") as out:
        out.write(FATAL + "\n")
    after = _read(log, mark.size)
    assert after.text == FATAL + "\n" and after.offset == 9
    log.write_text("rotated\n")  # shorter than the mark: read from its start
    assert _read(log, 100).text == "rotated\n"
    log.write_bytes(b"x" * 5000)
    assert len(_read(log, 0, 1000).text) == 1000
    secret = tmp_path / "secret"
    secret.write_text(FATAL + "\n")
    log.unlink()
    log.symlink_to(secret)
    assert _read(log).state is LogState.OTHER
    log.unlink()
    os.mkfifo(log)  # nobody ever writes: a read would block until the timeout
    assert _read(log).state is LogState.OTHER
    log.unlink()
    log.mkdir()
    assert _read(log).state is LogState.OTHER


@pytest.mark.parametrize("answer", [
    "", "\n", "size\n", "size 10\n", "size -1 0\n", "size 10 0 extra\n", "size 5 9\n",
    "size \u0663 0\n", "size 1" + "0" * 30 + " 0\n", "absent please\n", "ABSENT\n",
    "Warning: something\nsize 10 0\n", "other\x00\n",
])
def test_an_answer_that_makes_no_sense_cannot_pass(answer: str) -> None:
    read = parse_read(answer)
    assert read.state is LogState.OTHER
    assert log_problem(one(INV, WP), read) is not None


def test_only_phps_own_fatal_lines_count() -> None:
    text = "\n".join([
        "[04-Nov-2026 12:00:00 UTC] PHP Warning:  Undefined variable $x in a.php on line 2",
        "[04-Nov-2026 12:00:00 UTC] PHP Deprecated:  Creation of dynamic property",
        "[04-Nov-2026 12:00:01 UTC] PHP Warning:  PHP Fatal error: quoted by a message",
        "PHP Fatal error:  no timestamp, not PHP's log line",
        "  [04-Nov-2026 12:00:01 UTC] PHP Fatal error:  indented",
        FATAL,
        "[04-Nov-2026 07:00:02 America/Montreal] PHP Parse error:  syntax error in b.php",
        "[04-Nov-2026 12:00:03 UTC] PHP Recoverable fatal error:  Object could not be converted",
        "#0 {main}",
    ])
    found = fatal_lines(text)
    assert found == [FATAL, text.split("\n")[6], text.split("\n")[7]]


def test_what_is_shown_cannot_drive_the_terminal() -> None:
    hostile = ("[x] PHP Fatal error:  \x1b[2J\x1b]0;owned\x07 \u202eevil\ufffd\r"
               + "A" * 5000)
    (line,) = fatal_lines(hostile)
    assert not any(ord(c) < 32 or c in "\x7f\u202e" for c in line)
    assert len(line) <= 303 and line.endswith("...")


def test_the_verdict_on_the_log() -> None:
    site = one(INV, WP)
    assert log_problem(site, LogRead(LogState.ABSENT)) is None
    clean = LogRead(LogState.FILE, 200, 100, "[x] PHP Warning:  fine\n")
    assert log_problem(site, clean) is None
    many = "\n".join([FATAL] * (SHOWN_LINES + 3))
    problem = log_problem(site, LogRead(LogState.FILE, 9999, 0, many))
    assert problem is not None
    assert f"{SHOWN_LINES + 3} fatal error(s) in {site.php_error_log}" in problem
    assert problem.count("mysql_connect") == SHOWN_LINES and "and 3 more" in problem
    swapped = log_problem(site, LogRead(LogState.OTHER))
    assert swapped is not None and "not a regular file" in swapped
    flood = LogRead(LogState.FILE, READ_LIMIT_BYTES * 3, 0, "[x] PHP Warning:  w\n" * 10)
    unread = log_problem(site, flood)
    assert unread is not None and "was not read" in unread


def _page(status: int, title: str | None) -> Answer:
    body = f"<html><title>{title}</title></html>" if title is not None else "{}"
    return Answer(status, {}, body.encode())


def test_the_target_passes_only_with_200_same_title_and_no_fatal(tmp_path: Path) -> None:
    dst = _moved(tmp_path, WP)
    source = _page(200, "Coopérative")
    quiet = LogRead(LogState.ABSENT)
    assert target_problems(dst, source, _page(200, "Coopérative"), quiet) == []
    assert target_problems(dst, _page(200, None), _page(200, None), quiet) == []  # Drupal wiring
    assert len(target_problems(dst, source, _page(500, "Coopérative"), quiet)) == 1
    assert len(target_problems(dst, source, _page(200, "Erreur"), quiet)) == 1
    fatal = LogRead(LogState.FILE, 500, 0, FATAL + "\n")
    both = target_problems(dst, source, _page(502, None), fatal)
    assert len(both) == 2 and "502" in both[0] and "mysql_connect" in both[1]


def test_a_failed_check_says_the_source_serves_and_how_to_undo_the_copy(tmp_path: Path) -> None:
    site, dst = one(INV, WP), _moved(tmp_path, WP)
    text = _refusal(site, dst, "web2", ["PHP logged 1 fatal error(s)"], ["ab12cd34ef"])
    assert "source on web1 was left untouched and still serving" in text
    assert f"koumbit-site-remove {dst.name}' on web2" in text
    assert f"koumbit-site-restore {dst.name} ab12cd34ef' on web2" in text
    assert "PHP 8.4 and MariaDB 11.8" in text and "--force" in text
