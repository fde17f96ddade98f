"""What every lab site runs and the advisories against it, on the real lab: the audit timer's
program on web1 and web2, ``sites status``, the advisory report on a site carrying Drupal
10.2.4's real lock (exactly the advisories the data holds) and 10.6.15's (none), and
KoumbitSiteAdvisoryOpen firing in mon1's Prometheus.

Needs, from issue 14's other parts: composer on the web servers and the lab host's
composer repository answering composer's advisory request with
``koumbit_infra.advisories.composer_api.advisories_for`` (part A), and
``settings.codebases`` in the lab inventory pointing at it.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, deployed
from test_monitoring import poll, query

from koumbit_infra.advisories.composer_api import advisories_for
from koumbit_infra.advisories.database import DEFAULT_ROOT
from koumbit_infra.envs import load_env
from koumbit_infra.lab.ssh import ssh_argv
from koumbit_infra.sites.layout import AUDIT, SITE_STATE_ROOT, SiteLayout
from koumbit_infra.sites.selection import select

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("koumbit-infra"))
LOCKS = DEFAULT_ROOT.parent / "drupal-composer-locks"
DRUPAL = "centre-femmes.test"  # a Drupal site of web1 in the lab inventory


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "KOUMBIT_INVENTORY": str(ROOT / "inventory")},
                          check=False)


def _site(domain: str) -> SiteLayout:
    return select(load_env("lab"), domain)[0]


def _audit_now(lab: Lab, server: str, *names: str) -> str:
    """The audit, as its timer runs it (all sites) or for the sites named."""
    if names:
        return lab.run(server, shlex.join([AUDIT, *names]), timeout=600)
    lab.run(server, "systemctl start koumbit-site-audit.service", timeout=900)
    return lab.run(server, "journalctl -u koumbit-site-audit.service -n 50 --no-pager")


def _put_lock(lab: Lab, site: SiteLayout, content: bytes) -> None:
    """``content`` as the site's composer.lock, written by the site's own user (sent on
    standard input: a lock is larger than one command-line argument may be)."""
    path = f"{site.web}/composer.lock"
    argv = ssh_argv(lab.server(site.placed.site.server), paths=lab.paths,
                    command=[f"runuser -u {site.name} -- tee {path} >/dev/null"])
    done = subprocess.run(argv, input=content, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def drupal_lock(lab: Lab, deployed: Deployment) -> Iterator[SiteLayout]:
    """The Drupal site of web1, its own composer.lock put back afterwards."""
    if not LOCKS.is_dir():
        pytest.fail(f"no Drupal locks at {LOCKS} (shared/data beside the checkout)")
    site = _site(DRUPAL)
    server = site.placed.site.server
    before = lab.run(server, f"runuser -u {site.name} -- base64 -w0 {site.web}/composer.lock"
                             " 2>/dev/null || true").strip()
    yield site
    if before:
        _put_lock(lab, site, base64.b64decode(before))
    else:
        lab.run(server, f"runuser -u {site.name} -- rm -f {site.web}/composer.lock")
    _audit_now(lab, server, site.name)


def test_sites_status_lists_every_lab_site_with_its_version(lab: Lab,
                                                            deployed: Deployment) -> None:
    for server in ("web1", "web2"):
        _audit_now(lab, server)
    done = cli("sites", "status", "--json")
    rows = {r["site"]: r for r in json.loads(done.stdout)}
    expected = {s.domain for s in select(load_env("lab"), "all")}
    assert set(rows) == expected, done.stderr
    for domain, row in rows.items():
        assert row["audited_at"], f"{domain}: {row['problems']}"
        assert row["core"], f"{domain}: no core version ({row['problems']})"
        assert row["php"] and row["advisories"] is not None
    assert done.returncode == 0, done.stdout + done.stderr
    table = cli("sites", "status").stdout
    assert all(domain in table for domain in expected)


def _reported(domain: str) -> set[tuple[str, str]]:
    done = cli("sites", "advisories", "--format", "csv", "--sites", domain)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))[1:]
    return {(r[2], r[0]) for r in rows if r[7] == domain}


def test_the_advisory_report_lists_exactly_what_the_data_holds_for_the_lock(
        lab: Lab, drupal_lock: SiteLayout) -> None:
    site, server = drupal_lock, drupal_lock.placed.site.server
    for release, count in (("10.2.4", None), ("10.6.15", 0)):
        lock = LOCKS / release / "composer.lock"
        _put_lock(lab, site, lock.read_bytes())
        print(_audit_now(lab, server, site.name))
        data = json.loads(lock.read_text())
        expected = advisories_for(
            {p["name"]: [p["version"]] for p in data["packages"]})["advisories"]
        wanted = {(name, a["advisoryId"]) for name, listed in expected.items() for a in listed}
        assert _reported(site.domain) == wanted, release
        if count is not None:
            assert len(wanted) == count
        status = {r["site"]: r for r in json.loads(cli("sites", "status", "--json", "--sites",
                                                       site.domain).stdout)}
        assert status[site.domain]["core"] == release
        assert sum(status[site.domain]["advisories"].values()) == len(wanted)


def _age_first_seen(lab: Lab, site: SiteLayout, days: int) -> None:
    """Make the site's open advisories look ``days`` old, as a long-open one would be."""
    path = f"{SITE_STATE_ROOT}/{site.name}/audit.json"
    old = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code = ("import json, sys; p, t = sys.argv[1:3]; d = json.load(open(p));"
            " [a.__setitem__('first_seen', t) for a in d['advisories']];"
            " json.dump(d, open(p, 'w'))")
    lab.run(site.placed.site.server, shlex.join(["python3", "-c", code, path, old]))


def test_a_long_open_advisory_fires_in_the_labs_prometheus(
        lab: Lab, drupal_lock: SiteLayout) -> None:
    site, server = drupal_lock, drupal_lock.placed.site.server
    _put_lock(lab, site, (LOCKS / "10.2.4" / "composer.lock").read_bytes())
    _audit_now(lab, server, site.name)
    days = load_env("lab").settings.codebases.advisory_alert_days
    _age_first_seen(lab, site, days + 1)
    # The next audit keeps first_seen: the age survives it.
    _audit_now(lab, server, site.name)
    expr = (f'ALERTS{{alertname="KoumbitSiteAdvisoryOpen",site="{site.domain}",'
            'alertstate="firing"}')

    def firing() -> bool:
        found: list[dict[str, Any]] = query(lab, expr)
        return bool(found)

    # exporter refresh (60 s) + scrape + the rule's 2 minutes
    took = poll(firing, 6 * 60, every=10)
    print(f"KoumbitSiteAdvisoryOpen firing after {took} s")
    assert took is not None
    labels = query(lab, expr)[0]["metric"]
    assert labels["concern"] == "sites" and labels["client"] == site.placed.client.slug
