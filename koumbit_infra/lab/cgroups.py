"""One host cgroup per lab server, so the containers' systemd instances never share one.

With ``--keep-unit`` nspawn runs the container in ``<its own cgroup>/payload``.
Launched from the same host cgroup, every container got the very same
``/payload``: one server's systemd then removed or reused the unit cgroups of
another (units failing with 219/CGROUP, a halt that never completed). Each
server is therefore launched from its own ``koumbit-lab/NAME`` cgroup, in the
name=systemd hierarchy and in the unified (cgroup2) one, whichever the host mounts.
"""

from __future__ import annotations

from pathlib import Path

LAB_CGROUP = "koumbit-lab"


def hierarchy_mounts(mountinfo: str) -> list[Path]:
    """Mount points of the hierarchies systemd uses: v1 ``name=systemd`` and cgroup2."""
    found = []
    for line in mountinfo.splitlines():
        # mountinfo: ... MOUNTPOINT OPTIONS [optional fields] - FSTYPE SOURCE SUPEROPTIONS
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, superoptions = tail[0], tail[2].split(",")
        if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in superoptions):
            found.append(Path(fields[4]))
    return found


def machine_cgroups(name: str, mountinfo_path: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    mounts = hierarchy_mounts(mountinfo_path.read_text())
    return [mount / LAB_CGROUP / name for mount in mounts]


def prepare(name: str) -> list[Path]:
    """Fresh, empty cgroups for the server (what a previous boot left is removed)."""
    groups = machine_cgroups(name)
    for group in groups:
        remove_tree(group)
        group.mkdir(parents=True, exist_ok=True)
    return groups


def remove(name: str) -> None:
    for group in machine_cgroups(name):
        remove_tree(group)


def remove_all() -> None:
    for mount in hierarchy_mounts(Path("/proc/self/mountinfo").read_text()):
        remove_tree(mount / LAB_CGROUP)


def remove_tree(group: Path) -> None:
    """rmdir a cgroup and its children, deepest first; busy ones (processes left) stay."""
    if not group.is_dir():
        return
    children = sorted((p for p in group.rglob("*") if p.is_dir()),
                      key=lambda p: len(p.parts), reverse=True)
    for directory in [*children, group]:
        try:
            directory.rmdir()
        except OSError:
            continue
