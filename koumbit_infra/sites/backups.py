"""Back a site up now, list its snapshots, restore it to a snapshot or a point in time.

Each runs the server's own tools (koumbit-site-archive, koumbit-site-restore,
written by deploys/sites.py) over SSH: the data never leaves the server except
into its encrypted restic repository.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from fabric import Connection

from koumbit_infra.sites.errors import SiteCommandError, must
from koumbit_infra.sites.layout import ARCHIVE, RESTIC, RESTORE, SiteLayout


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: datetime


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


def snapshots(conn: Connection, site: SiteLayout) -> list[Snapshot]:
    """The site's snapshots, oldest first."""
    out = must(conn, f"{RESTIC} snapshots --json --tag site:{site.name}",
               f"listing {site.domain}'s snapshots")
    found = [Snapshot(s["id"], datetime.fromisoformat(s["time"]))
             for s in json.loads(out or "[]")]
    return sorted(found, key=lambda s: s.time)


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


def restore(conn: Connection, site: SiteLayout, snap: Snapshot) -> list[str]:
    """Put ``site`` back as it was in ``snap``; answers the ids of the verified archives of
    what it replaced (koumbit-site-restore takes one before touching anything)."""
    out = must(conn, f"{RESTORE} {site.name} {snap.id}", f"restore of {site.domain}")
    return archived(out)
