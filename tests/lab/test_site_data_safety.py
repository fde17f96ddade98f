"""No site command loses a client's data, even when what it depends on fails: MariaDB down
during ``absent``, two commands on one site at once, a restore killed half-way. On web2,
one scratch WordPress site of a scratch copy of the lab inventory.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deploy_fixture import Deployment, deployed
from test_sites_commands import cli, get, layout, sh
from test_sites_lifecycle import sites_deploy

from koumbit_infra.sites.layout import RESTIC, RESTORE, WORK_ROOT
from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
DOMAIN, SERVER = "surete.essai.test", "web2"
UPLOAD = "2026/11/registre.bin"


def _env(scratch: Path, state: str) -> Path:
    def edit(clients: Clients) -> None:
        clients["essai-surete"] = scratch_client("essai-surete", [{
            "domain": DOMAIN, "cms": "wordpress", "server": SERVER, "state": state,
            "title": "Essai de sûreté"}])
    return write_variant(ROOT / "inventory" / "lab", scratch, edit)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory, deployed: Deployment) -> Iterator[Path]:
    scratch = tmp_path_factory.mktemp("inventory-safety")
    assert sites_deploy(_env(scratch, "absent")).returncode == 0
    run = sites_deploy(_env(scratch, "active"))
    assert run.returncode == 0, run.output[-3000:]
    yield scratch
    assert sites_deploy(_env(scratch, "absent")).returncode == 0


def _upload(lab: Lab, scratch: Path) -> str:
    site = layout(scratch, DOMAIN)
    # umask 022, as the site's PHP-FPM pool writes (Debian 13's runuser would apply 027).
    return sh(lab, SERVER, f"runuser -u {site.name} -- sh -c 'umask 022"
                           f" && mkdir -p {site.files}/2026/11"
                           f" && head -c 100000 /dev/urandom > {site.files}/{UPLOAD}'"
                           f" && sha256sum {site.files}/{UPLOAD}").split()[0]


def test_a_command_on_a_busy_site_waits_for_it(scratch: Path, lab: Lab) -> None:
    """A site command arriving while another holds the site's lock waits, says so, and
    runs only once the first is done: the two never interleave."""
    site = layout(scratch, DOMAIN)
    _upload(lab, scratch)
    # Another command holding the lock for 8 s (as a restore or a copy would).
    sh(lab, SERVER, f"setsid flock {site.lock_file} sh -c 'date +%s.%N > /root/held-until;"
                    f" sleep 8; date +%s.%N > /root/held-until' < /dev/null > /dev/null 2>&1 &"
                    f" sleep 1")
    done = cli(scratch, "site", "backup", DOMAIN)
    assert done.returncode == 0, done.stderr
    assert "another koumbit command holds this site's lock; waiting" in done.stderr
    released = float(sh(lab, SERVER, "cat /root/held-until"))
    newest = sh(lab, SERVER, f"{RESTIC} snapshots --json --tag site:{site.name} --latest 1")
    taken = json.loads(newest)[-1]["time"]
    assert datetime.fromisoformat(taken).timestamp() >= released - 1


def test_a_restore_killed_half_way_can_run_again(scratch: Path, lab: Lab) -> None:
    site = layout(scratch, DOMAIN)
    digest = _upload(lab, scratch)
    done = cli(scratch, "site", "backup", DOMAIN)
    assert done.returncode == 0, done.stderr
    snapshot = done.stdout.split("snapshot ")[1].split(",")[0]
    sh(lab, SERVER, f"echo changed > {site.files}/{UPLOAD}")
    # Start the restore on the server, and kill it hard once it has stopped the site.
    sh(lab, SERVER, f"setsid sh -c '{RESTORE} {site.name} {snapshot}"
                    f" > /root/restore-killed.log 2>&1' < /dev/null > /dev/null 2>&1 &")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        stopped = sh(lab, SERVER, f"ls /etc/php/*/fpm/pool.d/{site.name}.conf.koumbit-stopped"
                                  f" {WORK_ROOT}/{site.name}.*/replaced 2>/dev/null || true")
        if stopped.strip():
            break
        time.sleep(0.2)
    else:
        pytest.fail("the restore never reached the point where the site is stopped")
    # Anchored: the remote shell running pkill names the tool too.
    sh(lab, SERVER, f"pkill -KILL -f '^/bin/sh {RESTORE} '; pkill -KILL -x restic;"
                    " pkill -KILL -x mariadb; true")
    again = cli(scratch, "site", "restore", DOMAIN, "--snapshot", snapshot)
    assert again.returncode == 0, again.stdout + again.stderr
    upload = get(SERVER, DOMAIN, f"/wp-content/uploads/{UPLOAD}")
    assert upload.status == 200
    assert hashlib.sha256(upload.body).hexdigest() == digest
    assert "<title>Essai de sûreté" in get(SERVER, DOMAIN).text


def test_mariadb_down_during_absent_leaves_the_site_in_place(scratch: Path,
                                                              lab: Lab) -> None:
    site = layout(scratch, DOMAIN)
    digest = _upload(lab, scratch)
    sh(lab, SERVER, "systemctl stop mariadb")
    try:
        run = sites_deploy(_env(scratch, "absent"))
    finally:
        sh(lab, SERVER, "systemctl start mariadb")
    assert run.returncode != 0
    assert "cannot list MariaDB's databases" in run.output
    # Everything is still there: tree, upload, database.
    assert sh(lab, SERVER, f"sha256sum {site.files}/{UPLOAD}").split()[0] == digest
    sh(lab, SERVER, f"mariadb -N -e 'SHOW DATABASES' | grep -qx {site.name}"
                    f" && test -s {site.secrets_file}")
    # With MariaDB back, the same deploy archives, verifies, removes, and says how to undo.
    done = sites_deploy(_env(scratch, "absent"))
    assert done.returncode == 0, done.output[-3000:]
    sh(lab, SERVER, f"test ! -e {site.root}")
