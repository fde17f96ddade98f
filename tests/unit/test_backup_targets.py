"""Backups to several targets, append-only, sealed: the files each side gets, and the
seal tool run for real with age (the escrow made again when the admins change)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from koumbit_infra.inventory import Inventory, load_inventory
from koumbit_infra.serverconf import backup
from koumbit_infra.serverconf.files import (
    backup_files,
    backup_seal_files,
    backup_target_files,
    base_config,
)
from koumbit_infra.templating import render

ROOT = Path(__file__).resolve().parents[2]
PUB = f"{backup.CLIENT_DIR}/target-backup1.pub"


@pytest.fixture(scope="module")
def two_targets() -> Inventory:
    """The lab's inventory: backup1, and mon1 as the second backup server (elsewhere, in
    production)."""
    return load_inventory(ROOT / "inventory" / "lab")


def _text(cfgs: tuple[object, ...], dest: str) -> str:
    for cfg in cfgs:
        if getattr(cfg, "dest") == dest:  # noqa: B009 (ConfigFile and SiteFile alike)
            return render(cfg.template, **cfg.context)  # type: ignore[attr-defined]
    raise AssertionError(f"no {dest}")


def test_every_client_backs_up_to_every_target_the_first_one_primary(
        two_targets: Inventory) -> None:
    web1 = two_targets.server("web1")
    assert [c.target.name for c in backup.clients_of(two_targets, web1)] == ["backup1", "mon1"]
    assert backup.clients_of(two_targets, two_targets.server("mon1")) == ()
    assert [c.server.name for c in backup.stored_on(two_targets, two_targets.server("mon1"))
            ] == ["web1", "web2"]


def test_a_client_key_may_only_run_the_append_only_server_on_its_own_repository(
        two_targets: Inventory) -> None:
    target = two_targets.server("mon1")
    sshd = render(base_config(two_targets, target).sshd.template,
                  **base_config(two_targets, target).sshd.context)
    block = sshd.split("Match User restic-web1\n")[1].split("\n\n")[0]
    assert ("ForceCommand /usr/bin/rclone serve restic --stdio --append-only --config /dev/null"
            " /srv/restic/web1/repo") in block
    assert "DisableForwarding yes" in block and "PermitTTY no" in block
    # The chroot of the SFTP days is gone: the forced command is the only way in.
    assert "ChrootDirectory" not in sshd


def test_the_client_reaches_each_target_by_its_own_alias_and_pinned_key(
        two_targets: Inventory) -> None:
    web1 = two_targets.server("web1")
    keys = {"backup1": "ssh-ed25519 AAAA1", "mon1": "ssh-ed25519 AAAA2"}
    files = backup_files(two_targets, web1, keys)
    known = _text(files, "/etc/koumbit/backup/known_hosts")
    assert known.split("\n")[:2] == ["10.77.0.21 ssh-ed25519 AAAA1", "10.77.0.31 ssh-ed25519 AAAA2"]
    wrapper = _text(files, "/usr/local/sbin/koumbit-restic")
    assert 'target="${KOUMBIT_BACKUP_TARGET:-backup1}"' in wrapper
    assert "    mon1) ;;" in wrapper
    assert ('rclone.program="ssh -F /etc/koumbit/backup/ssh_config koumbit-backup-$target"'
            in wrapper)


def test_the_nightly_run_snapshots_each_site_then_the_system_on_every_target(
        two_targets: Inventory) -> None:
    web1 = two_targets.server("web1")
    run = _text(backup_files(two_targets, web1), "/usr/local/sbin/koumbit-backup-run")
    sites = [p.site.system_name for p in two_targets.sites_on("web1")
             if p.site.state.value != "absent"]
    assert sites
    for name in sites:
        assert f"/usr/local/sbin/koumbit-site-archive --daily {name} ||" in run
    assert "for target in backup1 mon1; do" in run
    commands = [line for line in run.splitlines() if not line.startswith("#")]
    assert not any("forget" in line or "prune" in line for line in commands)
    service = _text(backup_files(two_targets, web1), "/etc/systemd/system/koumbit-backup.service")
    assert "forget" not in service and "ExecStart=/usr/local/sbin/koumbit-backup-run" in service


def test_each_target_prunes_every_repository_it_holds_as_that_repositorys_account(
        two_targets: Inventory) -> None:
    files = backup_target_files(two_targets, two_targets.server("mon1"))
    prune = _text(files, "/usr/local/sbin/koumbit-backup-prune")
    for name in ("web1", "web2"):
        assert f"if /usr/local/sbin/koumbit-backup-repo {name} check; then" in prune
        assert (f"koumbit-backup-repo {name} forget --prune \\\n"
                "        --group-by host,paths,tags") in prune
    repo = _text(files, backup.TARGET_WRAPPER)
    assert "    web1) user=restic-web1 ;;" in repo
    assert "setpriv --reuid=\"$user\"" in repo and "age -d -i /etc/ssh/ssh_host_ed25519_key" in repo
    assert backup_target_files(two_targets, two_targets.server("web1")) == ()


def test_only_keys_age_takes_are_escrow_recipients(lab_inventory: Inventory) -> None:
    found = backup.escrow_recipients(lab_inventory)
    assert found and all(k.split()[0] in ("ssh-ed25519", "ssh-rsa") for k in found)
    assert all(len(k.split()) == 2 for k in found)  # comments dropped


@pytest.fixture(scope="module")
def lab_inventory() -> Inventory:
    return load_inventory(ROOT / "inventory" / "lab")


def _keypair(where: Path, name: str) -> tuple[Path, str]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name,
                    "-f", str(where / name)], check=True)
    return where / name, " ".join((where / f"{name}.pub").read_text().split()[:2])


def _decrypt(identity: Path, path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["age", "-d", "-i", str(identity), str(path)], capture_output=True,
                          check=False)


def test_the_seal_tool_escrows_to_the_admins_and_seals_again_when_they_change(
        lab_inventory: Inventory, tmp_path: Path) -> None:
    """Real age: each copy opens with its recipient's key only; an admin removed from the
    inventory can no longer open the escrow made after; nothing is made again otherwise."""
    if shutil.which("age") is None:
        pytest.fail("age is missing: run scripts/bootstrap (scripts/host-packages.txt)")
    work = tmp_path / "backup"
    work.mkdir()
    camille, camille_pub = _keypair(tmp_path, "camille")
    jonas, jonas_pub = _keypair(tmp_path, "jonas")
    backup1, backup1_pub = _keypair(tmp_path, "backup1")
    mon1, mon1_pub = _keypair(tmp_path, "mon1")
    (work / "password").write_text("s3cret-of-web1")
    web1 = lab_inventory.server("web1")
    files = backup_seal_files(lab_inventory, web1, {"backup1": backup1_pub, "mon1": mon1_pub})
    tool = _text(files, backup.SEAL_TOOL).replace("cd /etc/koumbit/backup", f"cd {work}")
    (work / "seal").write_text(tool)
    (work / "target-backup1.pub").write_text(_text(files, PUB))
    (work / "target-mon1.pub").write_text(_text(files, PUB.replace("backup1", "mon1")))
    (work / "escrow-recipients").write_text(f"{camille_pub}\n{jonas_pub}\n")

    def seal(*args: str) -> str:
        return subprocess.run(["sh", str(work / "seal"), *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert seal("--check") == "stale: escrow.age key-backup1.age key-mon1.age"
    assert seal() == "sealed: escrow.age key-backup1.age key-mon1.age"
    assert seal("--check") == "current" and seal() == ""
    for who in (camille, jonas):
        assert _decrypt(who, work / "escrow.age").stdout == b"s3cret-of-web1"
    assert _decrypt(backup1, work / "key-backup1.age").stdout == b"s3cret-of-web1"
    assert _decrypt(mon1, work / "key-mon1.age").stdout == b"s3cret-of-web1"
    assert _decrypt(mon1, work / "key-backup1.age").returncode != 0
    assert _decrypt(backup1, work / "escrow.age").returncode != 0
    assert _decrypt(camille, work / "key-backup1.age").returncode != 0
    first = (work / "key-backup1.age").read_bytes()

    (work / "escrow-recipients").write_text(f"{camille_pub}\n")  # jonas leaves the team
    assert seal() == "sealed: escrow.age"
    assert _decrypt(jonas, work / "escrow.age").returncode != 0
    assert _decrypt(camille, work / "escrow.age").stdout == b"s3cret-of-web1"
    assert (work / "key-backup1.age").read_bytes() == first  # its recipient did not change
    assert all(not p.name.endswith(".new") for p in work.iterdir())


def test_the_seal_tool_refuses_an_empty_recipient_list(lab_inventory: Inventory,
                                                        tmp_path: Path) -> None:
    """A target whose host key could not be read gives an empty line: nothing is sealed to
    nobody, and the tool says which file holds no key."""
    work = tmp_path / "backup"
    work.mkdir()
    files = backup_seal_files(lab_inventory, lab_inventory.server("web1"),
                              {"backup1": "", "mon1": ""})
    (work / "seal").write_text(_text(files, backup.SEAL_TOOL).replace(
        "cd /etc/koumbit/backup", f"cd {work}"))
    (work / "password").write_text("x")
    (work / "escrow-recipients").write_text(_text(files, backup.RECIPIENTS_FILE))
    (work / "target-backup1.pub").write_text(_text(files, PUB))
    done = subprocess.run(["sh", str(work / "seal")], capture_output=True, text=True, check=False)
    assert done.returncode == 3
    assert "target-backup1.pub holds no key" in done.stderr
    assert not (work / "key-backup1.age").exists()
