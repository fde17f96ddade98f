"""The lab boots each server from the base of its Debian release: paths, markers, disks."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

from koumbit_infra.envs import load_env
from koumbit_infra.lab import LabServer, lab_servers
from koumbit_infra.lab.lifecycle import needs_disk
from koumbit_infra.lab.machines import provisioned_release, release_number
from koumbit_infra.lab.mirror import SUITE
from koumbit_infra.lab.paths import LabPaths
from koumbit_infra.releases import Debian

ROOT = Path("/var/lib/koumbit-lab")
TRIXIE_OS_RELEASE = ('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\n'
                     'VERSION_ID="13"\nVERSION="13 (trixie)"\nVERSION_CODENAME=trixie\n')


def test_each_release_has_its_own_cached_base_and_bookworm_keeps_its_old_one() -> None:
    paths = LabPaths(ROOT)
    assert paths.base_dir(Debian.BOOKWORM) == ROOT / "base"
    assert paths.base_marker(Debian.BOOKWORM) == ROOT / "base.ready"
    assert paths.base_log(Debian.BOOKWORM) == ROOT / "base.log"
    assert paths.base_partial(Debian.BOOKWORM) == ROOT / "base.partial"
    assert paths.base_dir(Debian.TRIXIE) == ROOT / "base-trixie"
    assert paths.base_marker(Debian.TRIXIE) == ROOT / "base-trixie.ready"
    assert paths.base_log(Debian.TRIXIE) == ROOT / "base-trixie.log"
    assert paths.base_partial(Debian.TRIXIE) == ROOT / "base-trixie.partial"
    every = [getattr(paths, f)(d) for d in Debian
             for f in ("base_dir", "base_marker", "base_log", "base_partial")]
    assert len(set(every)) == len(every)


def test_the_host_mirror_is_recognised_by_the_host_suite() -> None:
    assert SUITE == "bookworm"  # the host stays Debian 12; its mirror also serves trixie


def test_the_lab_inventory_boots_a_mixed_fleet() -> None:
    servers = {s.name: s.debian for s in lab_servers(load_env("lab").servers)}
    assert servers == {"web1": Debian.BOOKWORM, "web2": Debian.TRIXIE,
                       "backup1": Debian.TRIXIE, "mon1": Debian.TRIXIE}


def test_release_number_reads_version_id() -> None:
    assert release_number(TRIXIE_OS_RELEASE) == 13
    assert release_number('VERSION_ID="12"\n') == 12
    assert release_number('NAME="Debian GNU/Linux"\nVERSION_CODENAME=forky\n') is None


def _machine(paths: LabPaths, name: str, os_release: str | None, linked: bool) -> None:
    disk = paths.machine_dir(name)
    (disk / "usr/lib").mkdir(parents=True)
    (disk / "etc").mkdir()
    if os_release is not None:
        (disk / "usr/lib/os-release").write_text(os_release)
        if linked:  # as Debian ships it: a relative link into the disk's own /usr
            (disk / "etc/os-release").symlink_to("../usr/lib/os-release")
        else:
            (disk / "etc/os-release").write_text(os_release)
    paths.machine_marker(name).write_text("10.77.0.12\n")


def test_a_disk_of_another_release_is_made_anew(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path)
    web2 = LabServer("web2", IPv4Address("10.77.0.12"), Debian.TRIXIE)
    assert needs_disk(paths, web2)  # no disk yet
    _machine(paths, "web2", 'VERSION_ID="12"\n', linked=True)
    assert provisioned_release(paths, "web2") == 12
    assert needs_disk(paths, web2)  # a bookworm disk for a server now on trixie
    assert not needs_disk(paths, LabServer("web2", IPv4Address("10.77.0.12"), Debian.BOOKWORM))


def test_a_disk_of_the_right_or_an_unreadable_release_is_kept(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path)
    _machine(paths, "web2", TRIXIE_OS_RELEASE, linked=False)
    assert not needs_disk(paths, LabServer("web2", IPv4Address("10.77.0.12"), Debian.TRIXIE))
    _machine(paths, "mon1", None, linked=False)
    assert provisioned_release(paths, "mon1") is None
    assert not needs_disk(paths, LabServer("mon1", IPv4Address("10.77.0.31"), Debian.TRIXIE))
