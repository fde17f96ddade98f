"""What every site runs and is exposed to: ``koumbit-infra sites status`` and the
advisory report read the sites' ``audit.json`` and ``update.json`` from their servers.

One SSH round trip per web server (the connection every site command uses,
``koumbit_infra.remote``): Debian's ``python3 -I`` there reads each named site's two files
without following a link, at most ``MAX_BYTES`` each, and prints them as one JSON
object; here they are parsed as hostile input (``koumbit_infra.exporter.sitestate``). A
server that cannot be reached, or a file that is not what it should be, is that site's
``problem``; the other sites are still shown.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from koumbit_infra.exporter.sitestate import (
    MAX_BYTES,
    SEVERITIES,
    AuditFileError,
    SiteAudit,
    SiteUpdate,
    parse_audit,
    parse_update,
)
from koumbit_infra.inventory import Inventory
from koumbit_infra.sites.layout import SITE_STATE_ROOT, SiteLayout

# Run on a server as root: {name: {"audit.json": text|None|{"error": why}, ...}}.
READER = r"""
import json, os, stat, sys
root, cap, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def read(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"error": exc.strerror}
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return {"error": "not a regular file"}
        raw = f.read(cap + 1)
    if len(raw) > cap:
        return {"error": f"larger than {cap} bytes"}
    return raw.decode("utf-8", "replace")
json.dump({n: {f: read(os.path.join(root, n, f)) for f in ("audit.json", "update.json")}
           for n in names}, sys.stdout)
"""
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

Fetch = Callable[[Inventory, str, list[str]], dict[str, Any]]


@dataclass(frozen=True)
class SiteStatus:
    """One site as the inventory places it and as its server last saw it."""

    site: SiteLayout
    audit: SiteAudit | None
    update: SiteUpdate | None
    problems: tuple[str, ...]

    @property
    def counts(self) -> dict[str, int]:
        return self.audit.counts() if self.audit else {}


def reader_command(names: list[str]) -> str:
    """The command that prints the named sites' files (names are system names only)."""
    bad = [n for n in names if not _NAME.fullmatch(n)]
    if bad:
        raise ValueError(f"not system names: {bad}")
    return shlex.join(["python3", "-I", "-c", READER, SITE_STATE_ROOT, str(MAX_BYTES), *names])


def fetch_over_ssh(inv: Inventory, server: str, names: list[str]) -> dict[str, Any]:
    """The files of ``names`` on ``server``, over the site commands' SSH connection."""
    from koumbit_infra.remote import connect, run

    with connect(inv, server) as conn:
        done = run(conn, reader_command(names), timeout=120)
    if not done.ok:
        raise OSError(done.stderr.strip()[-300:] or f"exit {done.exit_code}")
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _parsed(raw: object, parse: Callable[[str], Any], what: str,
            problems: list[str]) -> Any:
    if raw is None:
        return None
    if isinstance(raw, dict):
        problems.append(f"{what}: {raw.get('error', 'unreadable')}")
        return None
    try:
        return parse(str(raw))
    except AuditFileError as exc:
        problems.append(f"{what}: {exc}")
        return None


def gather(inv: Inventory, sites: Iterable[SiteLayout],
           fetch: Fetch | None = None) -> list[SiteStatus]:
    """Each site's status, its server asked once for all its sites; in the order given.
    ``fetch``: how a server's files are had (SSH by default)."""
    fetch = fetch or fetch_over_ssh
    chosen = list(sites)
    by_server: dict[str, list[SiteLayout]] = {}
    for site in chosen:
        by_server.setdefault(site.placed.site.server, []).append(site)
    files: dict[str, Any] = {}
    unreachable: dict[str, str] = {}
    for server, on_it in by_server.items():
        try:
            answer = fetch(inv, server, [s.name for s in on_it])
        except (OSError, ValueError) as exc:
            unreachable[server] = f"{server}: cannot read the sites' state: {exc}"
            continue
        files.update(answer if isinstance(answer, dict) else {})
    out = []
    for site in chosen:
        problems: list[str] = []
        if site.placed.site.server in unreachable:
            problems.append(unreachable[site.placed.site.server])
        got = files.get(site.name)
        mine: dict[str, Any] = got if isinstance(got, dict) else {}
        audit = _parsed(mine.get("audit.json"), parse_audit, "audit.json", problems)
        update = _parsed(mine.get("update.json"), parse_update, "update.json", problems)
        if audit is not None and audit.error:
            problems.append(f"last audit failed: {audit.error}")
        out.append(SiteStatus(site, audit, update, tuple(problems)))
    return out


def _when(status: SiteStatus) -> str:
    if status.update is None:
        return "-"
    u = status.update
    step = f" ({u.step})" if u.step else ""
    return (f"{u.at:%Y-%m-%d %H:%M} {u.from_version}->{u.to_version}"
            f" {u.result}{step}")


def as_rows(statuses: Iterable[SiteStatus]) -> list[dict[str, Any]]:
    """The statuses as JSON-ready objects (``sites status --json``)."""
    rows = []
    for s in statuses:
        site, audit, update = s.site, s.audit, s.update
        rows.append({
            "site": site.domain, "server": site.placed.site.server,
            "client": site.placed.client.slug, "state": site.state.value,
            # A staging copy names the site it copies (None: a site of its own).
            "staging_of": site.staging_of,
            "cms": site.cms.value, "core": audit.core if audit else None,
            # The inventory's PHP is what the pool runs; the audit's agrees after a deploy.
            "php": site.php_version,
            "audited_at": audit.at.isoformat() if audit else None,
            "last_update": None if update is None else {
                "at": update.at.isoformat(), "from": update.from_version,
                "to": update.to_version, "result": update.result, "step": update.step},
            "advisories": s.counts or None,
            "problems": list(s.problems),
        })
    return rows


HEADER = ("site", "serveur/server", "état/state", "CMS", "PHP",
          "mise à jour/last update", "avis/advisories crit/high/med/low/unkn")


def render_table(statuses: Iterable[SiteStatus]) -> str:
    """One line per site, aligned, then each site's problems below the table."""
    rows, notes = [HEADER], []
    for s in statuses:
        core = s.audit.core if s.audit and s.audit.core else "?"
        counts = "/".join(str(s.counts[k]) for k in SEVERITIES) if s.audit else "?"
        state = s.site.state.value + (", copie/staging" if s.site.staging_of else "")
        rows.append((s.site.domain, s.site.placed.site.server, state,
                     f"{s.site.cms.value} {core}", s.site.php_version, _when(s), counts))
        notes += [f"{s.site.domain}: {p}" for p in s.problems]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"
