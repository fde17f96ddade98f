"""Restores proven on backup1, for real: every site's newest snapshot restored and its
database loaded; then one pack file of web1's repository corrupted, the failure in
the metrics and the alert firing in mon1's Prometheus; then the pack put back.

Needs the per-site snapshots of each client's nightly run (issue 12, spec point 5)
and backup1's koumbit-backup-repo wrapper (spec point 3). Figures printed (-s).
"""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, deployed
from test_monitoring import poll
from test_sites import _sites, get

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Cms, Inventory
from koumbit_infra.lab.ssh import remote
from koumbit_infra.serverconf import backupverify as verify
from koumbit_infra.serverconf.backup import CHROOT_ROOT, REPO_DIR_IN_CHROOT
from koumbit_infra.sites.layout import DUMP_ROOT

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]  # the fixture, imported for this module's tests

TARGET = "backup1"
MONITOR = "mon1"
CLIENT = "web1"
RUN_SECONDS = 1800
ALERT_DEADLINE = 180  # a scrape (15 s), a rule evaluation (15 s), and room
_ALERTS = ("import json, urllib.request;"
           " a = urllib.request.urlopen('http://127.0.0.1:9090/api/v1/alerts', timeout=10);"
           " print(json.dumps(json.load(a)['data']['alerts']))")
# Flips 16 bytes in the middle of one blob of a pack file: argv path, offset, length.
_FLIP = ("import sys; p, o, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]);"
         " f = open(p, 'r+b'); f.seek(o + n // 2); b = f.read(16); f.seek(o + n // 2);"
         " f.write(bytes(x ^ 0xFF for x in b)); f.close()")


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_env("lab")


def repo(lab: Lab, *args: str) -> str:
    """restic on web1's repository on backup1, through the target's own wrapper."""
    return lab.run(TARGET, shlex.join([verify.REPO_WRAPPER, CLIENT, *args]), timeout=600)


def metrics(lab: Lab) -> dict[str, dict[tuple[str, ...], float]]:
    """backup1's textfile: metric -> (server, site or "", target) -> value."""
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for line in lab.run(TARGET, f"cat {verify.TEXTFILE}").splitlines():
        found = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if found:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', found[2]))
            key = (labels["server"], labels.get("site", ""), labels["target"])
            out.setdefault(found[1], {})[key] = float(found[3])
    return out


def verify_now(lab: Lab, site: str | None = None) -> tuple[int, float]:
    """Every site due (the state forgotten, as on a new target), run by its own unit; with
    ``site`` (a site's system name on CLIENT), only that site and CLIENT's repository are
    due: the others keep what the last run proved, as on a day that is not their slot."""
    if site is None:
        lab.run(TARGET, f"rm -f {verify.STATE_FILE}")
    else:
        forget = rf"/^site {CLIENT} {site} /d; /^repo {CLIENT} /d"
        lab.run(TARGET, f"sed -i {shlex.quote(forget)} {verify.STATE_FILE}")
    start = time.monotonic()
    done = remote(lab.server(TARGET), lab.paths, f"systemctl start {verify.UNIT}.service",
                  timeout=RUN_SECONDS)
    return done.returncode, time.monotonic() - start


def alerts(lab: Lab) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(lab.run(MONITOR, f"python3 -c {shlex.quote(_ALERTS)}"))
    return found


def dump_pack(lab: Lab, name: str) -> tuple[str, int, int]:
    """(pack file, blob offset, blob length) of the site's database dump in its newest snapshot."""
    snap = json.loads(repo(lab, "snapshots", "--json", "--tag", f"site:{name}", "--latest", "1"))
    tree = json.loads(repo(lab, "cat", "snapshot", snap[-1]["id"]))["tree"]
    node: dict[str, Any] = {}
    for part in f"{DUMP_ROOT}/{name}/db.sql".strip("/").split("/"):
        nodes = json.loads(repo(lab, "cat", "blob", tree))["nodes"]
        node = next(n for n in nodes if n["name"] == part)
        tree = node.get("subtree", "")
    blob = node["content"][0]
    for index in repo(lab, "list", "index").split():
        for pack in json.loads(repo(lab, "cat", "index", index))["packs"]:
            for entry in pack["blobs"]:
                if entry["id"] == blob:
                    data = f"{CHROOT_ROOT}/{CLIENT}{REPO_DIR_IN_CHROOT}/data"
                    return f"{data}/{pack['id'][:2]}/{pack['id']}", entry["offset"], entry["length"]
    raise AssertionError(f"blob {blob} of {name}'s dump is in no index")


def test_restores_are_proven_and_a_corrupted_pack_fails_and_alerts(
        deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    found = verify.verification(inv, inv.server(TARGET))
    assert found is not None
    # The lab's Drupal stand-in makes its table on its first request.
    for site in _sites(inv, Cms.DRUPAL):
        assert get(inv, site).status == 200, site.domain
    for client in ("web1", "web2"):
        lab.run(client, "systemctl start koumbit-backup.service", timeout=RUN_SECONDS)

    status, seconds = verify_now(lab)
    assert status == 0, lab.run(TARGET, f"journalctl -u {verify.UNIT} -n 60 --no-pager")
    values = metrics(lab)
    sites = {(r.client.server.name, s.domain, TARGET) for r in found.repositories
             for s in r.sites}
    assert set(values["koumbit_backup_verification_success"]) == sites
    assert set(values["koumbit_backup_verification_success"].values()) == {1.0}
    assert all(v > 0 for v in values["koumbit_backup_restored_bytes"].values())
    assert set(values["koumbit_backup_repository_check_success"].values()) == {1.0}
    now = time.time()
    assert all(now - t < 26 * 3600
               for t in values["koumbit_backup_last_snapshot_timestamp_seconds"].values())
    print(f"\n{len(sites)} sites proven on {TARGET} in {seconds:.0f} s"
          f" ({sum(values['koumbit_backup_restored_bytes'].values()) / 2**20:.1f} MiB restored)")

    victim = next(s for r in found.repositories if r.client.server.name == CLIENT
                  for s in r.sites)
    pack, offset, length = dump_pack(lab, victim.name)
    lab.run(TARGET, f"cp -p {pack} {pack}.koumbit-test")
    try:
        lab.run(TARGET, f"python3 -c {shlex.quote(_FLIP)} {pack} {offset} {length}")
        status, _ = verify_now(lab, victim.name)
        assert status != 0
        values = metrics(lab)
        assert values["koumbit_backup_verification_success"][(CLIENT, victim.domain, TARGET)] == 0
        assert values["koumbit_backup_repository_check_success"][(CLIENT, "", TARGET)] == 0

        def firing() -> bool:
            return any(a["labels"].get("alertname") == "KoumbitBackupVerificationFailed"
                       and a["labels"].get("site") == victim.domain
                       and a["labels"].get("server") == CLIENT
                       and a["labels"].get("target") == TARGET and a["state"] == "firing"
                       for a in alerts(lab))

        waited = poll(firing, ALERT_DEADLINE)
        assert waited is not None, alerts(lab)
        print(f"corrupted pack of {victim.domain}: KoumbitBackupVerificationFailed firing"
              f" after {waited:.0f} s")
    finally:
        lab.run(TARGET, f"mv -f {pack}.koumbit-test {pack}")
    status, again = verify_now(lab, victim.name)
    assert status == 0, lab.run(TARGET, f"journalctl -u {verify.UNIT} -n 60 --no-pager")
    assert set(metrics(lab)["koumbit_backup_verification_success"].values()) == {1.0}
    print(f"{victim.domain} and {CLIENT}'s repository proven again in {again:.0f} s")
