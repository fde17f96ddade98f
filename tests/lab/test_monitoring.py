"""Monitoring on the real lab: Prometheus on mon1 scraping every exporter, and the
koumbit exporter's figures checked against the servers themselves.

Prometheus listens on mon1's loopback only, so it is queried through SSH on
mon1 (Debian's python3, no curl there). Figures are printed (run with -s).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, deployed, lab_trust

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory, Role, SiteState
from koumbit_infra.lab.ssh import remote
from koumbit_infra.monitoring.exporter import LAB_REFRESH
from koumbit_infra.monitoring.prometheus import SCRAPE_INTERVAL_SECONDS
from koumbit_infra.sites.http import fetch

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]  # the fixture, imported for this module's tests

MONITOR = "mon1"
DB_SERVER = "web1"
FIFTY_MB = 50 * 1024 * 1024
# A value reaches Prometheus within one exporter refresh plus one scrape, plus a
# scan pass and SSH round trips.
DISK_DEADLINE = LAB_REFRESH.disk + SCRAPE_INTERVAL_SECONDS + 15
DB_DEADLINE = LAB_REFRESH.database + SCRAPE_INTERVAL_SECONDS + 15

_QUERY = ("import json, sys, urllib.parse, urllib.request;"
          " q = urllib.parse.urlencode({'query': sys.argv[1]});"
          " a = urllib.request.urlopen('http://127.0.0.1:9090/api/v1/query?' + q, timeout=10);"
          " print(json.dumps(json.load(a)['data']['result']))")


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_env("lab")


def query(lab: Lab, expr: str) -> list[dict[str, Any]]:
    """Prometheus's instant vector for ``expr``: [{"metric": {...}, "value": [t, "v"]}]."""
    out = lab.run(MONITOR, f"python3 -c {shlex.quote(_QUERY)} {shlex.quote(expr)}")
    result: list[dict[str, Any]] = json.loads(out)
    return result


def value(lab: Lab, expr: str) -> float | None:
    """The single value of ``expr``, None when Prometheus has no such series."""
    result = query(lab, expr)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def poll(check: Callable[[], bool], seconds: float, every: float = 2.0) -> float | None:
    """Seconds until ``check()`` held, or None if it never did within ``seconds``."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > seconds:
            return None
        time.sleep(every)


def sites_on(lab: Lab, inv: Inventory, server: str) -> list[tuple[str, str]]:
    """(domain, tree) of every present site of ``server`` whose tree exists there."""
    found = []
    for placed in inv.placed_sites():
        site = placed.site
        if site.server == server and site.state is not SiteState.ABSENT:
            tree = f"/srv/sites/{site.system_name}"
            if remote(lab.server(server), lab.paths, f"test -d {tree}").returncode == 0:
                found.append((site.domain, tree))
    if not found:
        pytest.fail(f"no site tree on {server} yet (the sites deploy makes them)", pytrace=False)
    return sorted(found)


def site_on(lab: Lab, inv: Inventory, server: str) -> tuple[str, str]:
    return sites_on(lab, inv, server)[0]


def du_bytes(lab: Lab, server: str, tree: str) -> int:
    """Allocated bytes of ``tree`` by coreutils du: hard links once, one filesystem."""
    return int(lab.run(server, f"du -sx --block-size=1 {tree}").split()[0])


def test_every_exporter_target_is_up(deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    expected = {(job, s.name) for s in inv.servers for job in ("node", "koumbit")}

    def all_up() -> bool:
        found = {(r["metric"]["job"], r["metric"]["server"])
                 for r in query(lab, 'up{job=~"node|koumbit"} == 1')}
        return found == expected

    waited = poll(all_up, 90)
    assert waited is not None, query(lab, 'up{job=~"node|koumbit"}')
    print(f"\nup == 1 for all {len(expected)} exporter targets after {waited:.1f} s")


def test_site_disk_matches_du_within_one_percent(deployed: Deployment, lab: Lab,
                                                 inv: Inventory) -> None:
    sites = sites_on(lab, inv, "web1")
    gaps: dict[str, float] = {}

    def close() -> bool:
        exported = {r["metric"]["site"]: float(r["value"][1])
                    for r in query(lab, 'koumbit_site_disk_bytes{server="web1"}')}
        for domain, tree in sites:
            if domain not in exported:
                return False
            measured = du_bytes(lab, "web1", tree)
            gaps[domain] = abs(exported[domain] - measured) / measured
        return max(gaps.values()) <= 0.01

    assert poll(close, DISK_DEADLINE * 2) is not None, f"relative gaps {gaps}"
    print("\nPrometheus vs du: " + ", ".join(f"{d} {g:.3%}" for d, g in sorted(gaps.items())))


def test_a_50_mb_file_shows_within_one_refresh(deployed: Deployment, lab: Lab,
                                               inv: Inventory) -> None:
    domain, tree = site_on(lab, inv, "web1")
    expr = f'koumbit_site_disk_bytes{{server="web1",site="{domain}"}}'
    path = f"{tree}/tmp/koumbit-monitoring-test.bin"
    before = value(lab, expr)
    assert before is not None
    try:
        # Zeros written (not a sparse file): 50 MiB really allocated.
        lab.run("web1", f"mkdir -p {tree}/tmp && head -c {FIFTY_MB} /dev/zero > {path} && sync")
        waited = poll(lambda: (value(lab, expr) or 0) >= before + FIFTY_MB * 0.99,
                      DISK_DEADLINE)
        assert waited is not None, f"{domain}: {before} -> {value(lab, expr)}"
        print(f"\n50 MiB in {domain}: in Prometheus after {waited:.1f} s"
              f" (refresh {LAB_REFRESH.disk:.0f} s + scrape {SCRAPE_INTERVAL_SECONDS} s)")
    finally:
        lab.run("web1", f"rm -f {path}")


def test_a_busy_site_shows_the_memory_of_its_php_workers(deployed: Deployment, lab: Lab,
                                                         inv: Inventory) -> None:
    domain, _tree = site_on(lab, inv, "web1")
    placed = inv.site(domain)
    user = placed.site.system_name
    expr = f'koumbit_site_memory_bytes{{server="web1",site="{domain}"}}'
    stop = threading.Event()
    ca_file = lab_trust()

    def browse() -> None:  # keeps the pool's ondemand workers alive
        while not stop.is_set():
            with contextlib.suppress(OSError):
                fetch(str(inv.server("web1").address), domain, ca_file=ca_file)
            time.sleep(0.5)

    browser = threading.Thread(target=browse, daemon=True)
    browser.start()
    try:
        waited = poll(lambda: (value(lab, expr) or 0) > 1024**2,
                      LAB_REFRESH.cpu + SCRAPE_INTERVAL_SECONDS + 30)
        workers = lab.run("web1", f"pgrep -c -u {user} php-fpm || true").strip()
    finally:
        stop.set()
        browser.join()
    assert waited is not None, f"{domain}: {value(lab, expr)} bytes, workers {workers}"
    assert int(workers) >= 1
    # Private memory only: never more than the pool may hold (workers x memory_limit).
    plan = inv.plan(placed.plan_name)
    assert (value(lab, expr) or 0) < plan.memory_reserved_bytes
    print(f"\n{domain}: {value(lab, expr) / 1024**2:.1f} MiB private, after {waited:.1f} s")


def test_mariadb_down_fails_only_the_database_collector(deployed: Deployment, lab: Lab,
                                                        inv: Inventory) -> None:
    assert inv.server(DB_SERVER).has(Role.DB)

    def collector(name: str) -> float | None:
        return value(lab, f'koumbit_collector_success{{server="{DB_SERVER}",'
                          f'collector="{name}"}}')

    assert poll(lambda: collector("database") == 1, DB_DEADLINE) is not None
    others = ("disk", "cpu", "traffic", "php")
    before = {name: collector(name) for name in others}
    # These three depend on nothing but the server's own files and /proc.
    assert {name: before[name] for name in ("disk", "cpu", "traffic")} == dict.fromkeys(
        ("disk", "cpu", "traffic"), 1.0)
    try:
        lab.run(DB_SERVER, "systemctl stop mariadb")
        waited = poll(lambda: collector("database") == 0, DB_DEADLINE)
        assert waited is not None, "the database collector still reports success"
        # The others go on exactly as before (php's state is its own business).
        assert {name: collector(name) for name in others} == before
        assert value(lab, f'koumbit_up{{server="{DB_SERVER}"}}') == 1
        assert value(lab, f'up{{job="koumbit",server="{DB_SERVER}"}}') == 1
        # Still being refreshed, not merely left over: their last success moves on.
        fresh = value(lab, f'time() - koumbit_collector_last_success_timestamp_seconds'
                           f'{{server="{DB_SERVER}",collector="cpu"}}')
        assert fresh is not None and fresh < 2 * (LAB_REFRESH.cpu + SCRAPE_INTERVAL_SECONDS)
        print(f"\nMariaDB stopped on {DB_SERVER}: database collector failed after"
              f" {waited:.1f} s; the others unchanged: {before}")
    finally:
        lab.run(DB_SERVER, "systemctl start mariadb")
    assert poll(lambda: collector("database") == 1, DB_DEADLINE) is not None


_RULES = ("import json, urllib.request;"
          " a = urllib.request.urlopen('http://127.0.0.1:9090/api/v1/rules', timeout=10);"
          " print(json.dumps([r['name'] for g in json.load(a)['data']['groups']"
          " for r in g['rules']]))")


def test_rules_are_loaded_and_labels_are_the_inventory_s(deployed: Deployment, lab: Lab,
                                                         inv: Inventory) -> None:
    names = json.loads(lab.run(MONITOR, f"python3 -c {shlex.quote(_RULES)}"))
    assert {"KoumbitExporterDown", "KoumbitCollectionStale", "KoumbitFilesystemFullIn4Days",
            "KoumbitPhpFpmSaturated", "koumbit:server_disk_committed:ratio",
            "KoumbitBudgetProjectionOverAllocation", "KoumbitCostMetricsMissing"} <= set(names)
    # honor_labels: the exporter's `server` label is kept, never renamed exported_server.
    assert query(lab, '{__name__=~"koumbit_.+", exported_server!=""}') == []
    servers = {r["metric"]["server"] for r in query(lab, "koumbit_up")}
    assert servers == {s.name for s in inv.servers}
    assert query(lab, '{__name__=~"koumbit_.+|up", env!=""}') == []
    assert query(lab, '{__name__=~"koumbit_.+|up", environment!=""}') == []


def test_prometheus_is_not_reachable_from_other_servers(deployed: Deployment, lab: Lab,
                                                        inv: Inventory) -> None:
    address = inv.server(MONITOR).address
    code = f"import socket; socket.create_connection(('{address}', 9090), 3)"
    done = remote(lab.server("web1"), lab.paths, f'python3 -c "{code}"', timeout=30)
    assert done.returncode != 0, "Prometheus answers on the monitoring server's address"
