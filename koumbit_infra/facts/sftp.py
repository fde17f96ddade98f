"""What a web server holds of clients' SFTP, in one round trip: key files, chroots, mount
units and mounts, and the identity of every path a chroot shows (see koumbit_infra.sites.sftp).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api.facts import FactBase

_KINDS = {"directory": "d", "symbolic link": "l", "regular file": "f",
          "regular empty file": "f"}


@dataclass(frozen=True)
class Node:
    """One path as ``stat`` (never following a link) saw it; ``inode`` is device:inode,
    the same for a bind mount's target and its source."""

    kind: str  # d, f, l, or ? for anything else
    owner: str
    group: str
    mode: str
    inode: str


@dataclass(frozen=True)
class UnitState:
    active: bool
    enabled: bool


@dataclass(frozen=True)
class SftpStateData:
    key_files: frozenset[str] = frozenset()
    chroots: frozenset[str] = frozenset()
    unit_files: frozenset[str] = frozenset()
    mounted: frozenset[str] = frozenset()
    units: dict[str, UnitState] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)


class SftpState(FactBase[SftpStateData]):
    """Names in ``keys_dir`` and ``root``, mount unit files named ``prefix*.mount`` in
    ``unit_dir``, mounts under ``root``, the state of ``units`` and the ``paths`` themselves.

    Every argument comes from the inventory's layout (koumbit_infra.sites.sftp), not
    from a person: names are system names, paths are built from them. The paths are on
    the command line: about 930 bytes a chroot, so one server's line stays under Linux's
    128 KiB for some 140 chroots (bench/sftp.py prints it).
    """

    def command(self, root: str, keys_dir: str, unit_dir: str, prefix: str, *,
                units: tuple[str, ...] = (), paths: tuple[str, ...] = ()) -> str:
        parts = [
            f"ls -1A {shlex.quote(keys_dir)} 2>/dev/null | sed 's/^/K|/'",
            f"ls -1A {shlex.quote(root)} 2>/dev/null | sed 's/^/C|/'",
            f"ls -1A {shlex.quote(unit_dir)} 2>/dev/null"
            f" | grep -E {shlex.quote('^' + prefix + '.*[.]mount$')} | sed 's/^/F|/'",
            # Field 5 of mountinfo is the mount point (octal escapes never occur in our paths).
            f"awk -v r={shlex.quote(root + '/')} 'index($5, r) == 1 {{print \"M|\" $5}}'"
            " /proc/self/mountinfo",
        ]
        if units:
            parts.append(f"systemctl show -p Id -p ActiveState -p UnitFileState --"
                         f" {' '.join(shlex.quote(u) for u in units)} 2>/dev/null"
                         " | sed 's/^/S|/'")
        if paths:
            # stat without -L: a link is reported as a link, never followed.
            parts.append(f"stat -c 'P|%F|%U|%G|%a|%d:%i|%n'"
                         f" -- {' '.join(shlex.quote(p) for p in paths)} 2>/dev/null")
        return "; ".join(f"{{ {p}; }}" for p in parts) + "; true"

    @staticmethod
    def default() -> SftpStateData:
        return SftpStateData()

    def process(self, output: list[str]) -> SftpStateData:
        found: dict[str, set[str]] = {"K": set(), "C": set(), "F": set(), "M": set()}
        nodes: dict[str, Node] = {}
        units: dict[str, UnitState] = {}
        unit: dict[str, str] = {}
        for line in [*output, "S|"]:
            kind, _, rest = line.partition("|")
            if kind in found:
                found[kind].add(rest.strip())
            elif kind == "P":
                what, owner, group, mode, inode, path = rest.split("|", 5)
                nodes[path] = Node(_KINDS.get(what, "?"), owner, group, mode.zfill(3), inode)
            elif kind == "S" and rest.strip():
                key, _, value = rest.partition("=")
                unit[key] = value.strip()
            elif kind == "S":  # a blank line ends one unit's block
                if unit.get("Id"):
                    units[unit["Id"]] = UnitState(unit.get("ActiveState") == "active",
                                                  unit.get("UnitFileState") == "enabled")
                unit = {}
        return SftpStateData(key_files=frozenset(found["K"]), chroots=frozenset(found["C"]),
                             unit_files=frozenset(found["F"]), mounted=frozenset(found["M"]),
                             units=units, nodes=nodes)
