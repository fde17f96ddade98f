"""Drupal as it really runs, proven on a scratch Drupal site of the lab without Drupal core:
its config_sync_directory, who owns sites/default, only Drupal's front controllers run,
drush (a stand-in that reports what it was given) told the site's address and run as the
site, MariaDB's READ COMMITTED.

The stand-in is a PHP file at the site's ``vendor/bin/drush`` that reads settings.php the
way drush does and writes what it saw (user, PHP, environment, arguments, database) into
the site's tmp. It proves the wiring every drush run gets; that Drupal's own installer,
cron and updates succeed needs Drupal core, which the lab cannot fetch.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, deployed
from test_sites_commands import get, layout, sh
from test_sites_lifecycle import sites_deploy

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Role
from koumbit_infra.lab.ssh import remote
from koumbit_infra.operations.sites import drupal_install_script
from koumbit_infra.sites.drush import drush_command
from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.shell import locked
from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
DOMAIN, SERVER = "drupal-hebergement.essai.test", "web1"

STAND_IN = r"""<?php
// A stand-in for drush (tests/lab/test_drupal_hosting.py): what a drush run is given.
$settings = $databases = $config = [];
include getcwd() . '/web/sites/default/settings.php';
$report = [
  'user' => function_exists('posix_geteuid') ? posix_getpwuid(posix_geteuid())['name']
                                               : getenv('USER'),
  'php' => PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION,
  'args' => array_slice($argv, 1),
  'cwd' => getcwd(),
  'uri' => getenv('DRUSH_OPTIONS_URI'),
  'database' => $databases['default']['default']['database'] ?? null,
  'proc_open' => is_callable('proc_open'),
  'open_basedir' => ini_get('open_basedir'),
];
file_put_contents(getenv('TMPDIR') . '/drush-report.json', json_encode($report));
echo json_encode($report), "\n", "User password: not-for-any-log\n";
"""


def _edit(state: str) -> Any:
    def edit(clients: Clients) -> None:
        clients["essai-drupal"] = scratch_client("essai-drupal", [
            {"domain": DOMAIN, "cms": "drupal", "server": SERVER, "state": state,
             "title": "Essai Drupal"}])
    return edit


def _as(site: SiteLayout, script: str) -> str:
    return f"runuser -u {site.name} -- sh -c {shlex.quote(script)}"


@pytest.fixture(scope="module")
def scratch(deployed: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("inventory-drupal")
    live = write_variant(ROOT / "inventory" / "lab", base, _edit("active"))
    run = sites_deploy(live, SERVER)
    assert run.returncode == 0, run.output[-3000:]
    yield base
    gone = write_variant(ROOT / "inventory" / "lab", base, _edit("absent"))
    assert sites_deploy(gone, SERVER).returncode == 0


@pytest.fixture(scope="module")
def site(scratch: Path) -> SiteLayout:
    return layout(scratch, DOMAIN)


@pytest.fixture(scope="module")
def drush(lab: Lab, site: SiteLayout) -> SiteLayout:
    """The scratch site with the stand-in at its vendor/bin/drush (written as the site)."""
    sh(lab, SERVER, _as(site, f"mkdir -p {site.web}/vendor/bin && cat > {site.web}/vendor/bin/drush"
                              f" <<'EOF'\n{STAND_IN}EOF\n"))
    return site


def _report(lab: Lab, site: SiteLayout) -> dict[str, Any]:
    report = sh(lab, SERVER, _as(site, f"cat {site.tmp}/drush-report.json"))
    found: dict[str, Any] = json.loads(report)
    return found


def test_config_sync_directory_is_made_as_the_site_outside_the_served_folder(
        lab: Lab, site: SiteLayout) -> None:
    """Drupal's installer takes the deploy's settings.php as finished only when the folder
    it names exists (else: "settings.php is not writable")."""
    named = sh(lab, SERVER, _as(site, "php -r '$settings = $databases = $config = [];"
                                      f" include \"{site.config_file}\";"
                                      " echo $settings[\"config_sync_directory\"];'"))
    assert named == site.config_sync and not named.startswith(site.docroot + "/")
    owner = sh(lab, SERVER, f"stat -c '%U %F' {shlex.quote(named)}").strip()
    assert owner == f"{site.name} directory"
    sh(lab, SERVER, _as(site, f"test -w {named} && touch {named}/system.site.yml"))


def test_drupals_hardening_leaves_the_next_deploy_nothing_to_do(
        lab: Lab, scratch: Path, site: SiteLayout) -> None:
    """Drupal's status check chmods sites/default 0555 when it can: sites/default is root's
    folder, so it cannot; what it may do to the site's own folders stays as it left it."""
    refused = remote(lab.server(SERVER), lab.paths,
                     _as(site, f"chmod 555 {site.docroot}/sites/default/"))
    assert refused.returncode != 0 and "not permitted" in refused.stderr
    sh(lab, SERVER, _as(site, f"chmod 555 {site.docroot}/sites && chmod 500 {site.config_sync}"))
    run = sites_deploy(write_variant(ROOT / "inventory" / "lab", scratch, _edit("active")),
                       SERVER)
    assert run.returncode == 0, run.output[-3000:]
    assert [c for c in run.changed() if c.startswith(f"{DOMAIN}:")] == []
    modes = sh(lab, SERVER, f"stat -c %a {site.docroot}/sites {site.config_sync}").split()
    assert modes == ["555", "500"]
    sh(lab, SERVER, _as(site, f"chmod 755 {site.docroot}/sites && chmod 700 {site.config_sync}"))


def test_only_drupals_front_controllers_run(lab: Lab, site: SiteLayout) -> None:
    files = {"autoload.php": "<?php echo 'ran';", "core/lib/Drupal.php": "<?php echo 'ran';",
             "core/CHANGELOG.txt": "Drupal 10.2.4", "core/core.services.yml": "services:",
             "robots.txt": "User-agent: *"}
    for rel, text in files.items():
        sh(lab, SERVER, _as(site, f"mkdir -p $(dirname {site.docroot}/{rel})"
                                  f" && printf %s {shlex.quote(text)} > {site.docroot}/{rel}"))
    for path in ("/autoload.php", "/core/lib/Drupal.php", "/core/CHANGELOG.txt",
                 "/core/core.services.yml", "/sites/default/settings.php"):
        answer = get(SERVER, DOMAIN, path)
        assert answer.status == 403 and "ran" not in answer.text, path
    assert get(SERVER, DOMAIN, "/robots.txt").text == "User-agent: *"
    assert get(SERVER, DOMAIN, "/node/1").status == 200  # the front controller


def test_drush_runs_as_the_site_with_its_php_its_address_and_settings(
        lab: Lab, drush: SiteLayout) -> None:
    site = drush
    sh(lab, SERVER, drush_command(site, "user:login"))
    report = _report(lab, site)
    assert report["user"] == site.name
    assert report["php"] == site.php_version
    assert report["uri"] == f"https://{DOMAIN}"  # not http://default
    assert report["args"] == [f"--root={site.web}", "user:login"]
    assert report["database"] == site.name  # from settings.php, nothing on a command line
    assert report["open_basedir"] == site.php_open_basedir and not report["proc_open"]
    sh(lab, SERVER, drush_command(site, "updatedb", "--yes"))
    assert _report(lab, site)["proc_open"]  # drush's own batch workers, for updates only


def test_the_cron_timer_runs_the_same_drush(lab: Lab, drush: SiteLayout) -> None:
    site = drush
    sh(lab, SERVER, _as(site, f"rm -f {site.tmp}/drush-report.json"))
    sh(lab, SERVER, f"systemctl start {site.cron_unit}.service")
    report = _report(lab, site)
    assert (report["user"], report["uri"], report["args"]) == (
        site.name, f"https://{DOMAIN}", [f"--root={site.web}", "cron"])
    assert not report["proc_open"]


def test_install_runs_once_and_never_over_an_installed_site(lab: Lab, drush: SiteLayout) -> None:
    site = drush
    sh(lab, SERVER, f"rm -f {site.installed_marker}")
    done = remote(lab.server(SERVER), lab.paths, locked(site, drupal_install_script(site)))
    assert done.returncode == 0, done.stderr
    assert "not-for-any-log" not in done.stdout + done.stderr  # the admin password
    assert _report(lab, site)["args"][1:4] == ["site:install", "standard", "--yes"]
    sh(lab, SERVER, f"test -f {site.installed_marker}")
    # Drupal says it is installed, the mark is lost: drush (which drops every table
    # first) must not run again.
    db = site.name  # [a-z0-9_], as the inventory makes it: no quoting needed in the shell
    sh(lab, SERVER, f"mariadb -e \"CREATE TABLE {db}.key_value (collection VARCHAR(128),"
                    f" name VARCHAR(128), value LONGBLOB); INSERT INTO {db}.key_value VALUES"
                    f" ('state', 'install_task', 's:4:\\\"done\\\";')\"")
    sh(lab, SERVER, f"rm -f {site.installed_marker}"
                    f" && {_as(site, f'rm -f {site.tmp}/drush-report.json')}")
    again = remote(lab.server(SERVER), lab.paths, locked(site, drupal_install_script(site)))
    assert again.returncode == 0, again.stderr
    sh(lab, SERVER, f"test -f {site.installed_marker}"
                    f" && {_as(site, f'test ! -e {site.tmp}/drush-report.json')}")
    sh(lab, SERVER, f"mariadb -e 'DROP TABLE {db}.key_value'")


def test_mariadb_sessions_read_committed(deployed: Deployment, lab: Lab) -> None:
    """Drupal's recommended isolation, as a new session sees it. Not @@transaction_isolation:
    MariaDB 10.11 (Debian 12) names it tx_isolation; 11.8 has both names."""
    for server in load_env("lab").servers:
        if not server.has(Role.DB):
            continue
        rows = sh(lab, server.name, "mariadb -N -e \"SELECT VARIABLE_NAME, VARIABLE_VALUE FROM"
                                    " information_schema.SESSION_VARIABLES WHERE VARIABLE_NAME"
                                    " IN ('TX_ISOLATION', 'TRANSACTION_ISOLATION')\"")
        values = dict(line.split("\t") for line in rows.strip().splitlines())
        assert values and set(values.values()) == {"READ-COMMITTED"}, (server.name, values)
