"""pyinfra operations of clients' SFTP (deploys/sftp.py): each reads the one ``SftpState``
fact of the server, asked with every chroot the inventory wants, and yields commands only
for what differs. Nothing here removes recursively: a chroot holds bind mounts of a site's
own tree, so a chroot is taken apart by unmounting, then ``rmdir`` of its empty folders.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator

from pyinfra.api.operation import operation
from pyinfra.context import host

from koumbit_infra.facts.sftp import SftpState, SftpStateData
from koumbit_infra.sites.sftp import (
    CHROOT_DIRS,
    KEYS_DIR,
    MOUNT_POINTS,
    SFTP_ROOT,
    UNIT_DIR,
    UNIT_PREFIX,
    ChrootPlan,
)


def _state(chroots: list[ChrootPlan]) -> SftpStateData:
    """The server's SFTP state, for every wanted chroot (one fact, the same for every
    operation of a run, so the survey reads it once)."""
    units = tuple(v.unit for c in chroots for v in c.views)
    paths = tuple(p for c in chroots
                  for p in (*(d.path for d in c.directories),
                            *(x for v in c.views for x in (v.target, v.source))))
    return host.get_fact(SftpState, root=SFTP_ROOT, keys_dir=KEYS_DIR, unit_dir=UNIT_DIR,
                         prefix=UNIT_PREFIX, units=units, paths=paths)


def take_apart(chroot: str) -> str:
    """Unmount what is still mounted in ``chroot``, then remove its empty mount points
    and folders; stops, changing nothing more, at anything it did not make."""
    steps = ["set -e", f"c={shlex.quote(chroot)}"]
    for point in MOUNT_POINTS:
        p = f'"$c/{point}"'
        steps += [f"if mountpoint -q {p}; then umount -l {p}; fi",
                  f"if mountpoint -q {p}; then echo {p} is still mounted >&2; exit 1; fi",
                  f"if [ -L {p} ]; then echo {p} is a link: left alone >&2; exit 1; fi",
                  f"if [ -d {p} ]; then rmdir {p}; elif [ -f {p} ] && [ ! -s {p} ];"
                  f" then rm -f {p}; fi"]
    dirs = [f'"$c/{d}"' for d in reversed(CHROOT_DIRS)]
    steps.append(f"rmdir {' '.join(dirs)} \"$c\"")
    return "; ".join(steps)


@operation()
def revoked(chroots: list[ChrootPlan]) -> Generator[str, None, None]:
    """Access the inventory no longer gives, removed: key files first (no new login),
    then mount units (stopped, disabled, deleted), then the chroots they served."""
    state = _state(chroots)
    logins = {c.login for c in chroots}
    units = {v.unit for c in chroots for v in c.views}
    for name in sorted(state.key_files - logins):
        yield f"rm -f {shlex.quote(f'{KEYS_DIR}/{name}')}"
    for unit in sorted(state.unit_files - units):
        yield f"systemctl disable --now {shlex.quote(unit)} 2>/dev/null || true"
        yield f"rm -f {shlex.quote(f'{UNIT_DIR}/{unit}')}"
    for name in sorted(state.chroots - logins):
        yield take_apart(f"{SFTP_ROOT}/{name}")


def _chroot_drifted(state: SftpStateData, chroot: ChrootPlan) -> bool:
    for d in chroot.directories:
        node = state.nodes.get(d.path)
        if node is None or (node.kind, node.owner, node.group, node.mode) != (
                "d", d.owner, d.group, d.mode):
            return True
    return any(v.target not in state.nodes for v in chroot.views)


@operation()
def chroots_made(chroots: list[ChrootPlan]) -> Generator[str, None, None]:
    """Each chroot and its mount points: root's folders (the chroot 0755, as sshd demands)
    and, for a log shown alone, an empty root-owned file to mount it on. A mount point
    already mounted is left as it is: what is there is the site's own folder."""
    state = _state(chroots)
    for chroot in chroots:
        if not _chroot_drifted(state, chroot):
            continue
        steps = ["set -e", f"install -d -o root -g root -m 755 {SFTP_ROOT}"]
        steps += [f"install -d -o {d.owner} -g {d.group} -m {d.mode} {shlex.quote(d.path)}"
                  for d in chroot.directories]
        for view in chroot.views:
            t = shlex.quote(view.target)
            if view.is_file:
                make = f"[ -f {t} ] || install -o root -g root -m 644 /dev/null {t}"
            else:
                make = f"install -d -o root -g root -m 755 {t}"
            steps.append(f"mountpoint -q {t} || {{ {make}; }}")
        yield "; ".join(steps)


@operation()
def views_mounted(chroots: list[ChrootPlan]) -> Generator[str, None, None]:
    """Every view enabled at boot and mounted on its source as it is now: a view whose
    target is not its source (never mounted, or a restore swapped the site's tree since)
    is mounted again. A view whose source does not exist yet waits for the next run."""
    state = _state(chroots)
    for chroot in chroots:
        for view in chroot.views:
            source = state.nodes.get(view.source)
            if source is None:
                continue
            unit = state.units.get(view.unit)
            target = state.nodes.get(view.target)
            if unit is None or not unit.enabled:
                yield f"systemctl enable --quiet {shlex.quote(view.unit)}"
            current = target is not None and target.inode == source.inode
            if unit is None or not unit.active or not current:
                yield f"systemctl restart {shlex.quote(view.unit)}"
