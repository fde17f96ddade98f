"""A web server taken over cannot erase its backups: as root on web1, with everything its
credentials allow (restic's own commands, the SSH key for any other command, SFTP, and
restic's REST protocol spoken by hand), try to delete, prune and overwrite its repository
on backup1. Then, from backup1: every snapshot is still there, the repository checks, and
a site restores byte for byte. Pruning runs from backup1.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deploy_fixture import Deployment, deployed
from restic_rest import request

from koumbit_infra.inventory import load_inventory
from koumbit_infra.serverconf.backup import CLIENT_DIR, TARGET_WRAPPER

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
REPO = "/srv/restic/web1/repo"
SSH = f"ssh -F {CLIENT_DIR}/ssh_config koumbit-backup-backup1"
UPLOAD = "koumbit-append-only.bin"


def _repository(lab: Lab) -> str:
    """Every file of the repository but its locks: path, size and SHA-256."""
    return lab.run("backup1", f"cd {REPO} && find . -path ./locks -prune -o -type f -print0"
                              " | sort -z | xargs -0 sha256sum", timeout=300)


def _snapshots(lab: Lab) -> list[str]:
    out = lab.run("backup1", f"{TARGET_WRAPPER} web1 snapshots --json", timeout=300)
    return sorted(s["id"] for s in json.loads(out))


@pytest.fixture(scope="module")
def backed_up(lab: Lab, deployed: Deployment) -> Iterator[str]:
    """web1's nightly backup run now, with a file of known bytes in one site's uploads."""
    inv = load_inventory(ROOT / "inventory" / "lab")
    site = next(p.site for p in inv.sites_on("web1") if p.site.state.value == "active")
    path = f"/srv/sites/{site.system_name}/files/{UPLOAD}"
    digest = lab.run("web1", f"runuser -u {site.system_name} -- sh -c"
                             f" {shlex.quote(f'umask 022 && head -c 300000 /dev/urandom > {path}')}"
                             f" && sha256sum {path}").split()[0]
    # Twice: each site then has two snapshots, so a forget or a prune has something it
    # would delete (on a fresh repository, with nothing to delete, they would succeed).
    for _ in range(2):
        lab.run("web1", "systemctl start koumbit-backup.service", timeout=900)
    yield f"{site.system_name} {digest}"
    lab.run("web1", f"rm -f {path}")


def _refused(lab: Lab, command: str) -> None:
    done = lab.run("web1", f"{command} </dev/null >/tmp/attack.out 2>&1; echo $?", timeout=300)
    assert done.strip() != "0", f"web1 could run: {command}"


def test_root_on_web1_cannot_erase_its_snapshots(lab: Lab, backed_up: str,
                                                  tmp_path: Path) -> None:
    site, digest = backed_up.split()
    before, files = _snapshots(lab), _repository(lab)
    assert len(before) >= 4
    victim = before[0]
    # restic's own commands, through the wrapper root on web1 uses.
    _refused(lab, f"koumbit-restic forget {victim}")
    _refused(lab, "koumbit-restic forget --keep-last 1 --prune")
    _refused(lab, "koumbit-restic key passwd --new-password-file /etc/hostname")
    # A prune with nothing unused to drop has nothing to be refused: whatever it answers,
    # what the repository holds is checked below.
    lab.run("web1", "koumbit-restic prune </dev/null >/dev/null 2>&1 || true", timeout=300)
    # The key for anything else: the forced command runs instead, on no input.
    lab.run("web1", f"{SSH} rm -rf {REPO} </dev/null >/dev/null 2>&1 || true")
    lab.run("web1", f"{SSH} -s sftp </dev/null >/dev/null 2>&1 || true")
    _refused(lab, f"echo 'rm /snapshots/{victim}' | sftp -F {CLIENT_DIR}/ssh_config -b -"
                  " koumbit-backup-backup1")
    # A forward asked of backup1 is refused at once (ssh exits 255); one granted would keep
    # the session open until the timeout (124).
    forward = lab.run("web1", f"timeout 20 {SSH} -N -o ExitOnForwardFailure=yes"
                              " -R 127.0.0.1:18080:127.0.0.1:22 </dev/null >/dev/null 2>&1;"
                              " echo $?").strip()
    assert forward == "255", f"remote forward through web1's backup key: exit {forward}"
    # restic's REST protocol by hand, with web1's key.
    key = tmp_path / "web1_key"
    key.write_text(lab.run("web1", f"cat {CLIENT_DIR}/id_ed25519"))
    key.chmod(0o600)
    argv = ["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={lab.paths.known_hosts}", "restic-web1@10.77.0.21"]
    pack = lab.run("backup1", f"find {REPO}/data -type f | head -1").strip().rsplit("/", 1)[1]
    assert request(argv, "GET", "/config") == 200  # the channel works: refusals are real
    assert request(argv, "DELETE", f"/snapshots/{victim}") == 403
    assert request(argv, "POST", f"/snapshots/{victim}", b"{}") == 403
    assert request(argv, "POST", "/config", b"overwritten") == 403
    assert request(argv, "DELETE", f"/data/{pack}") == 403
    assert request(argv, "POST", f"/data/{pack}", b"overwritten") == 403
    key.unlink()

    assert _snapshots(lab) == before
    # Every file is still there, byte for byte; adding is what append-only allows (a
    # refused prune may have written a pack before it was refused any deletion).
    after = set(_repository(lab).splitlines())
    assert set(files.splitlines()) <= after
    lab.run("backup1", f"{TARGET_WRAPPER} web1 check", timeout=600)
    # Restored on backup1, from the snapshot the nightly run made: byte for byte.
    newest = json.loads(lab.run("backup1", f"{TARGET_WRAPPER} web1 snapshots --json"
                                           f" --tag site:{site} --latest 1"))[-1]["id"]
    restored = lab.run("backup1", f"{TARGET_WRAPPER} web1 dump {newest}"
                                  f" /srv/sites/{site}/files/{UPLOAD} | sha256sum", timeout=300)
    assert restored.split()[0] == digest


def test_pruning_runs_from_the_backup_server(lab: Lab, backed_up: str) -> None:
    lab.run("backup1", "systemctl start koumbit-backup-prune.service", timeout=900)
    assert lab.run("backup1", "systemctl is-active koumbit-backup-prune.timer").strip() == "active"
    assert _snapshots(lab)  # retention keeps the last days: nothing of tonight is gone
