"""Back a site up now, list its snapshots, restore it to a snapshot or a point in time.

Each runs the server's own tools (koumbit-site-archive, koumbit-site-restore,
written by deploys/sites.py) over SSH: the data never leaves the server except
into its encrypted restic repository.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from datetime import datetime

from fabric import Connection

from koumbit_infra.sites.errors import SiteCommandError, must
from koumbit_infra.sites.layout import ARCHIVE, RESTIC, RESTORE, SiteLayout

# restic's snapshot ids: what a repository (written by a server that may be compromised)
# answers is checked before an id reaches a command line.
_SNAPSHOT_ID = re.compile(r"[0-9a-f]{8,64}")
# Picks a backup target other than the primary for koumbit-restic and the site tools.
TARGET_VARIABLE = "KOUMBIT_BACKUP_TARGET"


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: datetime
    tags: tuple[str, ...] = ()


def archived(output: str) -> list[str]:
    """Snapshot ids of the archives a site tool took before replacing content."""
    return re.findall(r"^archived ([0-9a-f]+)$", output, re.MULTILINE)


def backup(conn: Connection, site: SiteLayout) -> str:
    """A verified snapshot of ``site`` now; answers its id."""
    out = must(conn, f"{ARCHIVE} {site.name}", f"backup of {site.domain}")
    found = re.search(r"^verified ([0-9a-f]+)$", out, re.MULTILINE)
    if not found:
        raise SiteCommandError(f"backup of {site.domain}: no verified snapshot reported")
    return found[1]


def parse_snapshots(out: str, where: str) -> list[Snapshot]:
    """Snapshots from ``restic snapshots --json``, oldest first; ``where`` names the
    repository in the error raised for an answer that is not a list of snapshots."""
    try:
        found = [Snapshot(s["id"], datetime.fromisoformat(s["time"]),
                          tuple(str(t) for t in s.get("tags") or ()))
                 for s in json.loads(out or "[]")]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SiteCommandError(f"{where}: unreadable snapshot list ({exc})") from None
    bad = [s.id for s in found if not isinstance(s.id, str) or not _SNAPSHOT_ID.fullmatch(s.id)]
    if bad:
        raise SiteCommandError(f"{where}: snapshot ids that are not restic's: {bad[:3]!r}")
    return sorted(found, key=lambda s: s.time)


def on_target(command: str, target: str | None) -> str:
    """``command`` run against backup target ``target`` (None: the primary)."""
    if target is None:
        return command
    return f"env {TARGET_VARIABLE}={shlex.quote(target)} {command}"


def snapshots(conn: Connection, site: SiteLayout, target: str | None = None) -> list[Snapshot]:
    """The site's snapshots on the primary backup target (or ``target``), oldest first."""
    out = must(conn, on_target(f"{RESTIC} snapshots --json --tag site:{site.name}", target),
               f"listing {site.domain}'s snapshots")
    return parse_snapshots(out, f"{site.domain}'s snapshots on {conn.host}")


def choose(found: list[Snapshot], snapshot: str | None, at: datetime | None) -> Snapshot:
    """The snapshot whose id starts with ``snapshot``, else the last one taken at or before
    ``at``, else the latest."""
    if snapshot:
        chosen = [s for s in found if s.id.startswith(snapshot)]
    elif at:
        chosen = [s for s in found if s.time <= at][-1:]
    else:
        chosen = found[-1:]
    if len(chosen) != 1:
        raise SiteCommandError("no single snapshot matches (see the list with --list)", 2)
    return chosen[0]


def restore(conn: Connection, site: SiteLayout, snap: Snapshot,
            target: str | None = None) -> list[str]:
    """Put ``site`` back as it was in ``snap`` (of the primary target, or ``target``);
    answers the ids of the verified archives of what it replaced (koumbit-site-restore
    takes one before touching anything)."""
    out = must(conn, on_target(f"{RESTORE} {site.name} {snap.id}", target),
               f"restore of {site.domain}")
    return archived(out)
