"""Sites on the real lab: served through nginx, PHP-FPM and MariaDB, isolated, secret-safe.

Everything here reads the lab as the session's deploy (deploy_fixture) left it.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deploy_fixture import Deployment, deployed, lab_trust

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Cms, Inventory, SiteState
from koumbit_infra.lab.ssh import remote
from koumbit_infra.sites.files import layouts
from koumbit_infra.sites.http import Answer, fetch
from koumbit_infra.sites.layout import SiteLayout

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]  # the fixture, imported for this module's tests
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_env("lab")


def _sites(inv: Inventory, cms: Cms | None = None,
           state: SiteState = SiteState.ACTIVE) -> list[SiteLayout]:
    return [s for srv in inv.servers for s in layouts(inv, srv)
            if s.state is state and (cms is None or s.cms is cms)]


def get(inv: Inventory, site: SiteLayout, path: str = "/", domain: str | None = None) -> Answer:
    address = str(inv.server(site.placed.site.server).address)
    return fetch(address, domain or site.domain, path, tls=site.tls, ca_file=lab_trust())


def test_wordpress_sites_serve_their_installed_home_page(deployed: Deployment,
                                                         inv: Inventory) -> None:
    sites = _sites(inv, Cms.WORDPRESS)
    assert len(sites) >= 2
    for site in sites:
        answer = get(inv, site)
        assert answer.status == 200, site.domain
        title = re.search(r"<title>([^<]*)</title>", answer.text)
        assert title, site.domain
        # WordPress escapes apostrophes in titles (&#039;).
        assert title[1].replace("&#039;", "'").startswith(site.title), site.domain


def test_aliases_redirect_and_http_goes_to_https(deployed: Deployment, inv: Inventory) -> None:
    site = next(s for s in _sites(inv) if s.aliases)
    answer = get(inv, site, "/a/b?c=d", domain=site.aliases[0])
    assert (answer.status, answer.headers["location"]) == (301, f"{site.url}/a/b?c=d")
    plain = fetch(str(inv.server(site.placed.site.server).address), site.domain, tls=False)
    assert (plain.status, plain.headers["location"]) == (301, f"{site.url}/")


def test_drupal_wiring(deployed: Deployment, inv: Inventory) -> None:
    sites = _sites(inv, Cms.DRUPAL)
    assert sites
    for site in sites:
        answer = get(inv, site, "/node/1")  # any path reaches the front controller
        assert answer.status == 200, answer.text
        report = json.loads(answer.text)
        assert report["connected"] is True
        assert report["database"] == report["username"] == report["user"] == site.name
        assert report["hash_salt_length"] == 48
        assert report["host_trusted"] is True
        assert report["public_files_writable"] and report["private_files_writable"]
        assert report["temp_writable"]
        # A Host header outside the inventory is not trusted by settings.php's patterns.
        assert get(inv, site, "/sites/default/settings.php").status == 403


def test_sensitive_files_are_denied(deployed: Deployment, inv: Inventory) -> None:
    site = _sites(inv, Cms.WORDPRESS)[0]
    for path in ("/wp-config.php", "/.htaccess", "/readme.html", "/xmlrpc.php",
                 "/wp-content/uploads/x.php", "/dump.sql", "/.git/config"):
        assert get(inv, site, path).status in (403, 404), path


def test_disabled_site_shows_maintenance_and_keeps_everything(deployed: Deployment,
                                                              lab: Lab, inv: Inventory) -> None:
    site = _sites(inv, state=SiteState.DISABLED)[0]
    answer = get(inv, site, "/any/page")
    assert answer.status == 503
    assert "Site temporairement indisponible" in answer.text
    assert "Site temporarily unavailable" in answer.text
    server = site.placed.site.server
    out = lab.run(server, f"test ! -e {site.pool_file} && ! pgrep -u {site.name} >/dev/null"
                           f" && test -s {site.config_file} && test -s {site.secrets_file}"
                           f" && mariadb -N -e 'SHOW DATABASES' | grep -x {site.name}"
                           f" && systemctl is-enabled {site.cron_unit}.timer || true")
    assert site.name in out and "disabled" in out


def test_second_run_changes_no_site(deployed: Deployment) -> None:
    names = ("Sites", *(s for s in ("user", "tree", "secrets", "database", "certificate")))
    changed = [c for c in deployed.second.changed() if c.startswith(names) or ".test:" in c]
    assert changed == []


def _probe(a: SiteLayout, b: SiteLayout) -> str:
    return f"""<?php
header('Content-Type: application/json');
$out = [];
foreach (['{b.config_file}', '{b.secrets_file}', '{b.root}/web/index.php'] as $f) {{
    $out['read:' . $f] = @file_get_contents($f) !== false;
}}
$out['list_b'] = @scandir('{b.root}') !== false;
$out['read_etc_passwd'] = @file_get_contents('/etc/passwd') !== false;
$own = parse_ini_file('{a.secrets_file}');
$out['own_secret'] = $own !== false;
try {{
    $pdo = new PDO('mysql:host=localhost;dbname={a.name}', '{a.name}', $own['db_password']);
    $out['own_db'] = true;
    try {{ $pdo->query('SELECT 1 FROM `{b.name}`.wp_options LIMIT 1');
          $out['b_table_via_a'] = true; }}
    catch (Throwable $e) {{ $out['b_table_via_a'] = false; }}
    try {{ $pdo->exec('USE `{b.name}`'); $out['b_db_via_a'] = true; }}
    catch (Throwable $e) {{ $out['b_db_via_a'] = false; }}
}} catch (Throwable $e) {{ $out['own_db'] = false; $out['own_db_error'] = $e->getMessage(); }}
try {{ new PDO('mysql:host=localhost;dbname={b.name}', '{b.name}', $own['db_password']);
      $out['b_db_as_b'] = true; }} catch (Throwable $e) {{ $out['b_db_as_b'] = false; }}
echo json_encode($out);
"""


def test_site_a_php_cannot_reach_site_b(deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    a, b = [s for s in _sites(inv, Cms.WORDPRESS) if s.placed.site.server == "web1"][:2]
    probe = f"{a.web}/koumbit-isolation-probe.php"
    code = shlex.quote(_probe(a, b))
    lab.run("web1", f"printf %s {code} > {probe} && chown {a.name}: {probe}")
    try:
        answer = get(inv, a, "/koumbit-isolation-probe.php")
    finally:
        lab.run("web1", f"rm -f {probe}")
    found = json.loads(answer.text)
    assert found["own_secret"] and found["own_db"], found
    denied = {k: v for k, v in found.items() if k not in ("own_secret", "own_db")}
    assert not any(denied.values()), found
    # Without PHP's open_basedir too: Unix permissions alone keep B's secrets from A.
    done = remote(lab.server("web1"), lab.paths,
                  f"runuser -u {a.name} -- cat {b.secrets_file} {b.config_file}")
    assert done.returncode != 0 and "Permission denied" in done.stderr


def _secret_values(lab: Lab, inv: Inventory) -> set[str]:
    values = set()
    for server in {s.placed.site.server for s in _sites(inv)}:
        out = lab.run(server, "cat /srv/sites/*/secrets/site.ini")
        values |= {line.split("=", 1)[1] for line in out.splitlines() if "=" in line}
    assert len(values) > 10
    return values


def test_no_secret_in_repository_deploy_output_or_process_list(
        deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    secrets = _secret_values(lab, inv)
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    corpus = [(ROOT / p).read_bytes().decode(errors="replace")
              for p in tracked if p and (ROOT / p).is_file()]
    for run_ in (deployed.first, deployed.second):
        corpus += [run_.stderr, json.dumps(run_.results)]
    for server in ("web1", "web2"):
        corpus.append(lab.run(server, "ps -eo args; journalctl -q --no-pager -n 2000"))
    leaks = [s[:6] for s in secrets if any(s in text for text in corpus)]
    assert leaks == []


def test_only_nginx_and_the_exporter_reach_a_pool(deployed: Deployment, lab: Lab,
                                                  inv: Inventory) -> None:
    """Whoever connects to a site's FPM socket runs PHP as that site: another site must not."""
    a, b = [s for s in _sites(inv, Cms.WORDPRESS) if s.placed.site.server == "web1"][:2]
    probe = "import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"

    def connects(user: str, group: str, path: str) -> bool:
        command = (f"setpriv --reuid={user} --regid={group} --clear-groups"
                   f" python3 -c {shlex.quote(probe)} {path}")
        return remote(lab.server("web1"), lab.paths, command).returncode == 0

    assert connects("www-data", "www-data", b.fpm_socket)  # nginx
    assert connects("nobody", "www-data", b.fpm_status_socket)  # the exporter's group
    assert not connects(a.name, a.name, b.fpm_socket)
    assert not connects(a.name, a.name, b.fpm_status_socket)
