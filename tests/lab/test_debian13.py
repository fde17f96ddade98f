"""The mixed lab: every server on the Debian release its inventory names, PHP 8.4's
FPM serving on web2 (Debian 13), and a WordPress site and the Drupal wiring site moved
from web1 (Debian 12) to web2 with one `site migrate` each, served there (200, title,
no PHP fatal error), their exporter metrics continuing under server="web2" on mon1's
Prometheus; then moved back to web1 (11.8's dump into 10.11), so the later lab tests
find them where the inventory puts them.

Reuses the session's deploy; its own cost is four migrates and a few sites and
monitoring deploys limited to web1 or web2.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deploy_fixture import CLI, ROOT, Deployment, Run, deployed, timed_json
from test_monitoring import DB_DEADLINE, DISK_DEADLINE, poll, query
from test_sites_commands import get
from test_sites_lifecycle import sites_deploy

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Cms, Inventory, Role, SiteState
from koumbit_infra.lab.machines import release_number
from koumbit_infra.lab.ssh import remote
from koumbit_infra.sites.layout import (
    COMPOSER_CACHE_ROOT,
    COMPOSER_HOME,
    LOCK_ROOT,
    STATE_ROOT,
    SiteLayout,
)
from koumbit_infra.sites.phperrors import LogRead, LogState, fatal_lines, parse_read, read_command
from koumbit_infra.sites.variant import Clients, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
OLD, NEW = "web1", "web2"  # Debian 12, Debian 13 (inventory/lab/servers.yaml)
WP, DRUPAL = "erables.test", "centre-femmes.test"
MOVED = (WP, DRUPAL)
METRICS = (("koumbit_site_disk_bytes", DISK_DEADLINE),
           ("koumbit_site_database_bytes", DB_DEADLINE))


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_env("lab")


def layout(inv: Inventory, domain: str) -> SiteLayout:
    return SiteLayout.of(inv, inv.site(domain))


def _env(inventory_dir: Path | None) -> dict[str, str]:
    """The commands' environment: that inventory folder, or the checkout's (None)."""
    env = {k: v for k, v in os.environ.items() if k != "KOUMBIT_INVENTORY"}
    return env | ({"KOUMBIT_INVENTORY": str(inventory_dir)} if inventory_dir else {})


def cli(inventory_dir: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=1200,
                          env=_env(inventory_dir), check=False)


def on(server: str, state: str | None = None,
       domains: tuple[str, ...] = MOVED) -> Callable[[Clients], None]:
    """The lab inventory with ``domains`` (the two moved sites) on ``server`` (and in
    ``state``)."""

    def edit(clients: Clients) -> None:
        for client in clients.values():
            for site in client.get("sites", []):
                if site["domain"] in domains:
                    site["server"] = server
                    if state:
                        site["state"] = state

    return edit


def monitoring_deploy(inventory_dir: Path | None, server: str) -> Run:
    """deploys/monitoring.py on one server: its exporter learns which sites it serves."""
    return timed_json([CLI, "deploy", "--env", "lab", "--limit", server, "--json",
                       "--deploy-file", str(ROOT / "deploys" / "monitoring.py")],
                      timeout=900, env=_env(inventory_dir))


def series(lab: Lab, metric: str, domain: str, server: str) -> bool:
    return bool(query(lab, f'{metric}{{site="{domain}",server="{server}"}}'))


def read_log(lab: Lab, site: SiteLayout, server: str, since: int = 0) -> LogRead:
    """The site's PHP error log on ``server`` from byte ``since``, read as the site."""
    done = remote(lab.server(server), lab.paths, read_command(site, since), timeout=60)
    assert done.returncode == 0, done.stderr
    return parse_read(done.stdout)


def check_served(lab: Lab, inv: Inventory, domain: str, server: str, since: int = 0) -> None:
    """200 and the site's own page on ``server``, and no PHP fatal error in its log there
    (from byte ``since``)."""
    site = layout(inv, domain)
    page = get(server, domain)
    assert page.status == 200, (server, domain, page.status, page.text[:500])
    if site.cms is Cms.WORDPRESS:
        title = re.search(r"<title>([^<]*)</title>", page.text)
        # WordPress escapes apostrophes in titles (&#039;).
        assert title and html.unescape(title[1]).startswith(site.title), page.text[:500]
    else:  # the Drupal wiring page (koumbit_infra/lab/codebases/drupal-wiring)
        wiring = json.loads(page.text)
        assert wiring["connected"] and wiring["host_trusted"], wiring
        assert wiring["user"] == wiring["database"] == site.name, wiring
    log = read_log(lab, site, server, since)
    assert log.state is not LogState.OTHER, site.php_error_log
    assert fatal_lines(log.text) == []


def _restore(scratch: Path) -> None:
    """Whatever happened: nothing of the two sites left on web2, both as the inventory says
    on web1, each exporter's configuration the inventory's again."""
    gone = write_variant(ROOT / "inventory" / "lab", scratch / "gone", on(NEW, "absent"))
    runs = [sites_deploy(gone, NEW), sites_deploy(ROOT / "inventory" / "lab.py", OLD),
            *(monitoring_deploy(None, server) for server in (OLD, NEW))]
    for run in runs:
        assert run.returncode == 0, run.output[-3000:]


@pytest.fixture(scope="module")
def migrated(deployed: Deployment, lab: Lab, inv: Inventory,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Both sites migrated to web2 by one command each, then web2's inventory deployed
    to the exporters (the runbook's step 4); answers each command's output."""
    scratch = tmp_path_factory.mktemp("inventory-debian13")
    for domain in MOVED:
        assert inv.site(domain).site.server == OLD and inv.site(domain).site.state is (
            SiteState.ACTIVE)
        for metric, deadline in METRICS:  # what "continue" continues from
            seen = poll(partial(series, lab, metric, domain, OLD), deadline)
            assert seen is not None, (metric, domain)
    try:
        outputs = {}
        for index, domain in enumerate(MOVED):
            # As the runbook says: each migrate runs on the inventory that already puts
            # the sites moved before it on the new server (the real one would re-enable them).
            moved_before = write_variant(ROOT / "inventory" / "lab", scratch / f"step{index}",
                                         on(NEW, domains=MOVED[:index]))
            done = cli(moved_before.parent, "site", "migrate", domain, "--to", NEW)
            assert done.returncode == 0, done.stdout + done.stderr
            outputs[domain] = done.stdout
        there = write_variant(ROOT / "inventory" / "lab", scratch / "there", on(NEW))
        for server in (OLD, NEW):
            run = monitoring_deploy(there.parent, server)
            assert run.returncode == 0, run.output[-3000:]
        yield {"there": str(there.parent), **outputs}
    finally:
        _restore(scratch)


def test_every_server_runs_its_inventory_release(lab: Lab, inv: Inventory) -> None:
    for server in inv.servers:
        found = release_number(lab.run(server.name, "cat /etc/os-release"))
        assert found == server.release.debian.value, (server.name, found)
        state = remote(lab.server(server.name), lab.paths, "systemctl is-system-running")
        assert state.stdout.strip() == "running", (server.name, state.stdout)
    releases = {inv.server(s).release.debian.value for s in (OLD, NEW)}
    assert releases == {12, 13}, "the lab must keep a web server on each release"


def test_php_84_fpm_serves_a_site_on_web2(deployed: Deployment, lab: Lab,
                                          inv: Inventory) -> None:
    assert NEW in {s.name for s in inv.servers_with(Role.WEB)}
    wordpress = next(p for p in inv.placed_sites() if p.site.server == NEW
                     and p.site.cms is Cms.WORDPRESS and p.site.state is SiteState.ACTIVE)
    site = layout(inv, wordpress.site.domain)
    assert site.php_version == "8.4" and site.pool_file.startswith("/etc/php/8.4/fpm/")
    check_served(lab, inv, site.domain, NEW)
    # ondemand workers live 30 s after a request: the one that just answered is 8.4's.
    workers = lab.run(NEW, f"ps -o comm= -u {site.name} || true").split()
    assert "php-fpm8.4" in workers, workers
    assert lab.run(NEW, "php-fpm8.4 -v").startswith("PHP 8.4.")
    assert lab.run(NEW, "mariadb -N -e 'SELECT VERSION()'").startswith("11.8.")


def test_a_wordpress_and_the_drupal_wiring_site_move_from_12_to_13(
        lab: Lab, inv: Inventory, migrated: dict[str, str]) -> None:
    for domain in MOVED:
        site = layout(inv, domain)
        assert "no PHP fatal error (PHP 8.4, MariaDB 11.8)" in migrated[domain]
        check_served(lab, inv, domain, NEW)
        assert get(OLD, domain).status == 503  # the source kept, disabled
        tables = (f"mariadb -N -e \"SELECT COUNT(*) FROM information_schema.TABLES"
                  f" WHERE TABLE_SCHEMA = '{site.name}'\"")
        count = int(lab.run(NEW, tables))
        assert count == int(lab.run(OLD, tables)) and count > 0, domain
        assert lab.run(NEW, f"test -f /etc/php/8.4/fpm/pool.d/{site.name}.conf && echo ok")


def test_their_metrics_continue_under_web2(lab: Lab, migrated: dict[str, str]) -> None:
    for domain in MOVED:
        for metric, deadline in METRICS:
            waited = poll(partial(series, lab, metric, domain, NEW), deadline * 2)
            assert waited is not None, (metric, domain, query(lab, f'{metric}{{site="{domain}"}}'))
            print(f"\n{metric}{{site={domain!r}}} under server=web2 after {waited:.1f} s")


def test_they_move_back_from_13_to_12(lab: Lab, inv: Inventory,
                                      migrated: dict[str, str]) -> None:
    # From the inventory that says web2 (as after the runbook's step 4); web1 still holds
    # the disabled copies, so --force (each is archived first).
    for domain in MOVED:
        # web1's log holds the whole session's lines: only what this move writes counts.
        mark = read_log(lab, layout(inv, domain), OLD).size
        done = cli(Path(migrated["there"]), "site", "migrate", domain, "--to", OLD, "--force")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "no PHP fatal error (PHP 8.2, MariaDB 10.11)" in done.stdout
        check_served(lab, inv, domain, OLD, since=mark)
        assert get(NEW, domain).status == 503


def test_folders_the_sites_go_through_stay_open_under_debian_13_s_umask(
        deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    """Debian 13's root sessions make folders 0750 (umask 027): the folders a site's user
    must go through (composer's repositories, its cache, its lock) are set, not left to it,
    and a site of web2 reads composer's repositories."""
    folders = [COMPOSER_HOME, COMPOSER_CACHE_ROOT, COMPOSER_CACHE_ROOT.rsplit("/", 1)[0],
               "/etc/koumbit", STATE_ROOT, LOCK_ROOT]
    modes = lab.run(NEW, "stat -c '%a %U %n' " + " ".join(folders)).splitlines()
    assert modes == [f"755 root {f}" for f in folders]
    site = next(layout(inv, p.site.domain) for p in inv.placed_sites()
                if p.site.server == NEW and p.site.state is SiteState.ACTIVE)
    config = lab.run(NEW, f"runuser -u {site.name} -- cat {COMPOSER_HOME}/config.json")
    assert '"packagist.org": false' in config
