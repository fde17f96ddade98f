"""``audit.json`` and ``update.json`` of a site, read as the hostile input they may be.

Here, in the exporter's package (standard library only, shipped to the servers), because
the exporter reads them on each server; ``sites status`` reads them through the same code.

Both live in ``/var/lib/koumbit/sites/SITE/`` (root's folder): ``audit.json`` written by
koumbit-site-audit, ``update.json`` by ``site update``. Readers (the exporter, ``sites
status``) take their text from a server or a file opened without following a link, and
get typed, bounded values: every string is cut to a length and stripped of control
characters, a severity is one of five words, a time is an ISO 8601 UTC instant. What
cannot be read is an AuditFileError naming the file's problem, never a guess.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_BYTES = 4 * 1024 * 1024
# As koumbit-site-audit writes them (koumbit_infra/advisories/siteaudit.py, which runs
# alone on the servers and so keeps its own copy; a unit test holds both the same).
SEVERITIES = ("critical", "high", "medium", "low", "unknown")
# What KoumbitSiteAdvisoryOpen watches: critical, and what nobody rated.
ALERTING = ("critical", "unknown")
_SHORT, _LONG = 200, 500
UPDATE_RESULTS = ("updated", "rolled back", "unchanged")
UPDATE_STEPS = ("code", "database", "smoke")


class AuditFileError(ValueError):
    """A file that is not the audit or update the contract describes."""


@dataclass(frozen=True)
class OpenAdvisory:
    id: str
    package: str
    title: str
    cve: str
    severity: str
    link: str
    first_seen: datetime

    @property
    def alerting(self) -> bool:
        """Critical, or unrated: what KoumbitSiteAdvisoryOpen watches."""
        return self.severity in ALERTING


@dataclass(frozen=True)
class SiteAudit:
    at: datetime
    cms: str
    core: str | None
    php: str
    advisories: tuple[OpenAdvisory, ...]
    error: str | None

    def counts(self) -> dict[str, int]:
        """Open advisories by severity, every severity present (0 when none)."""
        return {s: sum(a.severity == s for a in self.advisories) for s in SEVERITIES}

    def oldest(self) -> dict[str, datetime]:
        """The first_seen of the longest-open advisory of each severity that has one."""
        out: dict[str, datetime] = {}
        for a in self.advisories:
            if a.severity not in out or a.first_seen < out[a.severity]:
                out[a.severity] = a.first_seen
        return out


@dataclass(frozen=True)
class SiteUpdate:
    at: datetime
    from_version: str
    to_version: str
    result: str
    step: str | None


def _clean(value: object, limit: int, *, what: str, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise AuditFileError(f"{what}: not a string")
    return "".join(c for c in value if c.isprintable())[:limit]


def _severity(value: object) -> str:
    """One of SEVERITIES; anything else is unknown (never low)."""
    return value if isinstance(value, str) and value in SEVERITIES else "unknown"


def _when(value: object, what: str) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise AuditFileError(f"{what}: not an ISO 8601 time")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AuditFileError(f"{what}: not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise AuditFileError(f"{what}: a time without its zone")
    return when.astimezone(UTC)


def _object(text: str) -> dict[str, Any]:
    if len(text) > MAX_BYTES:
        raise AuditFileError(f"larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(text)
    except ValueError:
        raise AuditFileError("not JSON") from None
    if not isinstance(data, dict):
        raise AuditFileError("not a JSON object")
    return data


def parse_audit(text: str) -> SiteAudit:
    """An audit.json's content; AuditFileError if it is not one."""
    data = _object(text)
    cms = data.get("cms")
    if cms not in ("drupal", "wordpress"):
        raise AuditFileError("cms: neither drupal nor wordpress")
    rows = data.get("advisories")
    if not isinstance(rows, list):
        raise AuditFileError("advisories: not a list")
    advisories = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise AuditFileError(f"advisories[{i}]: not an object")
        advisories.append(OpenAdvisory(
            id=_clean(row.get("id"), _SHORT, what=f"advisories[{i}].id", required=True),
            package=_clean(row.get("package"), _SHORT, what=f"advisories[{i}].package"),
            title=_clean(row.get("title"), _LONG, what=f"advisories[{i}].title"),
            cve=_clean(row.get("cve"), 50, what=f"advisories[{i}].cve"),
            severity=_severity(row.get("severity")),
            link=_clean(row.get("link"), _LONG, what=f"advisories[{i}].link"),
            first_seen=_when(row.get("first_seen"), f"advisories[{i}].first_seen")))
    error = data.get("error")
    return SiteAudit(
        at=_when(data.get("at"), "at"), cms=cms,
        core=_clean(data.get("core"), 40, what="core") or None,
        php=_clean(data.get("php"), 10, what="php"),
        advisories=tuple(sorted(advisories, key=lambda a: (a.package, a.id))),
        error=_clean(error, _LONG, what="error") or None if error is not None else None)


def parse_update(text: str) -> SiteUpdate:
    """An update.json's content (written by ``site update``); AuditFileError if not one."""
    data = _object(text)
    result, step = data.get("result"), data.get("step")
    if result not in UPDATE_RESULTS:
        raise AuditFileError(f"result: not one of {', '.join(UPDATE_RESULTS)}")
    if step is not None and step not in UPDATE_STEPS:
        raise AuditFileError(f"step: not one of {', '.join(UPDATE_STEPS)}")
    return SiteUpdate(at=_when(data.get("at"), "at"),
                      from_version=_clean(data.get("from"), 40, what="from"),
                      to_version=_clean(data.get("to"), 40, what="to"), result=result, step=step)


def read_nofollow(path: Path, limit: int = MAX_BYTES) -> str | None:
    """The text of ``path`` if it is a regular file reached without a last link (None if
    there is none); AuditFileError for a link, a FIFO or a file over ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditFileError(f"cannot open: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise AuditFileError("not a regular file")
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise AuditFileError(f"larger than {limit} bytes")
    return raw.decode("utf-8", errors="replace")
