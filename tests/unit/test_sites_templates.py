"""Every site file, rendered for every site of the lab and example inventories, then
checked by the real tool that reads it: nginx -t, php -l, php-fpm -t, systemd-analyze.

Sites live on Debian 12 and 13 servers in both inventories: each file is rendered for
its server's release (tests/releasecheck.py says what this host checks of a Debian 13 file).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from releasecheck import fpm_binary
from test_templates import check_nginx, check_shell, check_unit, with_php_of

from koumbit_infra.advisories import siteaudit
from koumbit_infra.inventory import Inventory, SiteState, load_inventory
from koumbit_infra.sites.files import SiteFile, layouts, server_files, site_files
from koumbit_infra.sites.layout import AUDIT

ROOT = Path(__file__).resolve().parents[2]


def _cases() -> list[tuple[str, str, SiteFile]]:
    cases: list[tuple[str, str, SiteFile]] = []
    for env in ("lab", "example"):
        inv: Inventory = load_inventory(ROOT / "inventory" / env)
        for server in inv.servers:
            sites = [s for s in layouts(inv, server) if s.state is not SiteState.ABSENT]
            if sites:
                cases += [(env, server.name, f) for f in server_files(inv, server)]
            for site in sites:
                cases += [(env, site.domain, f) for f in site_files(site)]
    return cases


CASES = _cases()
IDS = [f"{env}-{where}-{f.dest}" for env, where, f in CASES]


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def check_vhost(text: str, tmp: Path) -> None:
    """nginx -t with the certificate paths pointed at a throw-away self-signed pair."""
    cert, key = tmp / "fullchain.pem", tmp / "privkey.pem"
    _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-nodes", "-subj", "/CN=test", "-days", "1", "-keyout", str(key), "-out", str(cert)])
    text = re.sub(r"/etc/koumbit/tls/[^/]+/fullchain\.pem", str(cert), text)
    text = re.sub(r"/etc/koumbit/tls/[^/]+/privkey\.pem", str(key), text)
    text = text.replace("/var/log/nginx", str(tmp))
    (tmp / "sites").mkdir()
    check_nginx(text, tmp)


def check_php(text: str, tmp: Path) -> None:
    path = tmp / "file.php"
    path.write_text(text)
    _run(["php", "-l", str(path)])


def check_pool(text: str, tmp: Path, php: str | None = None) -> None:
    """php-fpm -t of the pool's PHP (this host's where it lacks that one); the site's user
    does not exist here, so nobody stands in."""
    text = re.sub(r"^(user|group|listen\.owner|listen\.group) = .*$",
                  lambda m: f"{m[1]} = {'nogroup' if 'group' in m[1] else 'nobody'}",
                  text, flags=re.MULTILINE)
    text = re.sub(r"^chdir = .*$", f"chdir = {tmp}", text.replace("/run/php/", f"{tmp}/"),
                  flags=re.MULTILINE)
    pool = tmp / "pool.conf"
    pool.write_text(text)
    fpm = tmp / "php-fpm.conf"
    fpm.write_text(f"[global]\npid = {tmp}/fpm.pid\nerror_log = {tmp}/fpm.log\n"
                   f"include = {pool}\n")
    _run([fpm_binary(php), "-t", "-y", str(fpm)])


def check_html(text: str, tmp: Path) -> None:
    assert 'lang="fr"' in text and 'lang="en"' in text


def check_php_cli_ini(text: str, tmp: Path) -> None:
    """PHP itself reads the file, and the limits are those of the site's pool."""
    path = tmp / "site.ini"
    path.write_text(text)
    out = _run(["php", "-n", "-c", str(path), "-r",
                'echo ini_get("open_basedir"), "|", ini_get("disable_functions");'])
    basedir, disabled = out.split("|")
    assert basedir.startswith("/srv/sites/") and basedir.endswith(":/usr/share/php/:/dev/urandom")
    assert {"exec", "proc_open", "shell_exec"} <= set(disabled.split(","))


def check_empty(text: str, tmp: Path) -> None:
    assert text == ""


def check_composer_config(text: str, tmp: Path) -> None:
    """composer itself reads it as its global configuration (Debian 12's composer)."""
    (tmp / "config.json").write_text(text)
    done = subprocess.run(["composer", "config", "--global", "--list"], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp), "COMPOSER_HOME": str(tmp),
                               "COMPOSER_ALLOW_SUPERUSER": "1"})
    assert done.returncode == 0, done.stderr
    assert "[secure-http] true" in done.stdout
    for url in re.findall(r'"url": "([^"]+)"', text):
        assert f"[repositories.0.url] {url}" in done.stdout or url in done.stdout


def check_python(text: str, tmp: Path) -> None:
    """The audit program: Debian's python3 compiles it; it is siteaudit.py, verbatim."""
    program = tmp / "program.py"
    program.write_text(text)
    subprocess.run(["/usr/bin/python3", "-I", "-m", "py_compile", str(program)], check=True)
    assert text.startswith("#!/usr/bin/python3 -I\n")
    assert text.endswith(Path(siteaudit.__file__).read_text())


def check_json(text: str, tmp: Path) -> None:
    assert isinstance(json.loads(text), dict)


# First match wins: the audit's own files before their folders' general checkers.
CHECKERS = {
    "/usr/local/sbin/koumbit-site-audit": check_python,
    "/etc/koumbit/site-audit.json": check_json,
    "/etc/nginx/": check_vhost,
    "/fpm/pool.d/": check_pool,
    "/etc/systemd/system/": check_unit,
    "/usr/local/sbin/": check_shell,
    "/usr/local/lib/koumbit/site-lib.sh": check_shell,
    "/etc/koumbit/php-cli/": check_php_cli_ini,
    "/var/lib/koumbit/site-locks/": check_empty,
    "/etc/koumbit/composer/": check_composer_config,
    ".php": check_php,
    ".html": check_html,
}


@pytest.mark.parametrize(("env", "where", "f"), CASES, ids=IDS)
def test_site_file_renders_and_passes_its_checker(env: str, where: str, f: SiteFile,
                                                  tmp_path: Path) -> None:
    text = f.content
    if f.dest != AUDIT:  # Python's source says None; no value of it is rendered
        assert "None" not in text, "a missing value rendered as None"
    assert re.fullmatch(r"[0-7]{3}", f.mode)
    checker = next(c for prefix, c in CHECKERS.items() if prefix in f.dest)
    with_php_of(f.dest, checker)(text, tmp_path)


def test_rendered_files_hold_no_secret_value() -> None:
    """Configuration reads the secret file at run time; no password or salt is rendered."""
    for _, _, f in CASES:
        assert not re.search(r"(PASSWORD|_KEY|_SALT)', '[^$]", f.content), f.dest
        # The restore tool sets the password again, piped from the secret file.
        assert "IDENTIFIED BY" not in f.content or "sed -n 's/^db_password=//p'" in f.content
