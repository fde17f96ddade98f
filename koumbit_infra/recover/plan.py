"""What a recovery acts on, decided from the inventory and from what servers answered.

Pure: no connection here. Which server, which backup targets in which order, which
sites, which snapshots, whether the server found is one that may be recovered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from koumbit_infra.inventory import Inventory, Role, Server, SiteState
from koumbit_infra.recover.errors import RecoverError
from koumbit_infra.serverconf import backup
from koumbit_infra.sites.backups import Snapshot
from koumbit_infra.sites.files import layouts
from koumbit_infra.sites.layout import SiteLayout

# A site whose newest snapshot does not restore is tried from older ones, this many in all.
RESTORE_TRIES = 3


class Held(StrEnum):
    """Whether the server holds a repository password, and whether it is the escrow's."""

    NONE = "none"
    SAME = "same"
    OTHER = "other"


@dataclass(frozen=True)
class Recovery:
    """The server to rebuild, the backup targets to try (in order) and its sites."""

    server: Server
    targets: tuple[Server, ...]
    primary: Server
    sites: tuple[SiteLayout, ...]


def recovery(inv: Inventory, name: str, source: str | None) -> Recovery:
    """Server ``name`` of ``inv`` with its targets and its sites (absent ones left out).

    Refused (exit 2, nothing touched): an unknown server, a backup target itself, an
    inventory without a backup target, a ``source`` that is not one of the targets.
    """
    servers = {s.name: s for s in inv.servers}
    if name not in servers:
        raise RecoverError(f"no server '{name}' in inventory '{inv.env}'; its servers:"
                           f" {', '.join(sorted(servers))}", 2)
    server = servers[name]
    if server.has(Role.BACKUP):
        raise RecoverError(f"{name} is a backup target: recover rebuilds a server that backs"
                           " up to one (its repository and escrow live on the targets);"
                           f" rebuild {name} with `koumbit-infra deploy --limit {name}`", 2)
    targets = backup.targets_of(inv, server)
    if not targets:
        raise RecoverError(f"inventory '{inv.env}' has no server with the backup role: no"
                           f" target holds {name}'s escrow or snapshots", 2)
    if source is not None:
        chosen = [t for t in targets if t.name == source]
        if not chosen:
            raise RecoverError(f"--from {source}: not a backup target of '{inv.env}'; its"
                               f" targets: {', '.join(t.name for t in targets)}", 2)
        targets = tuple(chosen)
    sites = tuple(s for s in layouts(inv, server) if s.state is not SiteState.ABSENT)
    return Recovery(server, targets, backup.targets_of(inv, server)[0], sites)


def site_snapshots(found: Sequence[Snapshot], site: SiteLayout) -> list[Snapshot]:
    """The snapshots of ``site`` (tag ``site:<name>``) among a repository's, oldest first."""
    return sorted((s for s in found if f"site:{site.name}" in s.tags), key=lambda s: s.time)


def candidates(found: Sequence[Snapshot], before: datetime | None,
               tries: int = RESTORE_TRIES) -> list[Snapshot]:
    """The snapshots to restore from, newest first, at most ``tries``, all taken before
    ``before``: what the recovery itself archived (the empty site it replaced) never is."""
    usable = [s for s in found if before is None or s.time < before]
    return sorted(usable, key=lambda s: s.time, reverse=True)[:tries]


def age_text(then: datetime, now: datetime) -> str:
    """How old a snapshot is, for a person: ``45 min``, ``5 h 12 min``, ``3 d 4 h``."""
    minutes = max(0, int((now - then).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@dataclass(frozen=True)
class ServerState:
    """What the server being rebuilt holds of a recovery: when an earlier run began (its
    own clock, seconds), whether its repository password is there and is the escrow's,
    and the sites already restored (name: snapshot id)."""

    now: int
    started: int | None
    password: Held
    restored: dict[str, str] = field(default_factory=dict)

    @property
    def cutoff(self) -> datetime:
        """Snapshots from this moment on were made by the recovery, not before the loss."""
        return datetime.fromtimestamp(self.started or self.now, UTC)


_ID = re.compile(r"[0-9a-f]{8,64}")
_SITE = re.compile(r"[a-z0-9_]+")


def parse_state(out: str, server: str) -> ServerState:
    """The answer of ``steps.STATE`` (``key=value`` lines, ``restored NAME ID`` lines)."""
    values: dict[str, str] = {}
    restored: dict[str, str] = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "restored":
            if _SITE.fullmatch(words[1]) and _ID.fullmatch(words[2]):
                restored[words[1]] = words[2]
        elif "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    try:
        now = int(values["now"])
        started = int(values["started"]) if values.get("started") else None
        password = Held(values["password"])
    except (KeyError, ValueError):
        raise RecoverError(f"{server}: unreadable answer about its recovery state:"
                           f" {out.strip()[:200]!r}") from None
    return ServerState(now, started, password, restored)


def check_state(state: ServerState, server: str, password_file: str, state_dir: str) -> None:
    """Refuse (exit 2, nothing touched) a server that was not lost, or whose password
    is not the escrow's: putting the escrow's there would cut it off from its backups."""
    if state.started is None and state.password is not Held.NONE:
        raise RecoverError(
            f"{server} already has a repository password ({password_file}) and no recovery"
            " was started there: it is not an empty server. To bring one site back, use"
            " `koumbit-infra site restore DOMAIN`. If it was re-installed and deployed"
            f" before this recovery, remove {password_file} on it and run recover again.", 2)
    if state.started is not None and state.password is Held.OTHER:
        raise RecoverError(
            f"{server}: {password_file} differs from the escrow's password although a"
            f" recovery began there (see {state_dir}): something else wrote it. Check which"
            f" one the repository opens with; to start over remove {password_file} and"
            f" {state_dir} on {server} and run recover again.", 2)
