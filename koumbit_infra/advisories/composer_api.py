"""The answer packagist's security-advisories API gives composer, made from the data.

Composer (2.5 to 2.8) learns of the API from a repository's ``packages.json``::

    "metadata-url": "/p2/%package%.json",
    "security-advisories": {"metadata": false, "api-url": "https://HOST/api/security-advisories/"}

(composer reads ``security-advisories`` only from a v2 repository, one with a
``metadata-url``: without it composer 2.5 never asks for advisories) and for
``composer audit`` POSTs ``packages[]=vendor/name&...`` to that URL
(``application/x-www-form-urlencoded``). It expects::

    {"advisories": {"vendor/name": [{
        "advisoryId": "...", "packageName": "vendor/name", "remoteId": "...",
        "title": "...", "link": "https://..." | null, "cve": "CVE-..." | null,
        "affectedVersions": ">=2.0.0,<2.0.19|>=2.1.0,<2.1.4",
        "source": "FriendsOfPHP/security-advisories", "reportedAt": "2012-11-27 22:21:23",
        "composerRepository": null,
        "sources": [{"name": "FriendsOfPHP/security-advisories", "remoteId": "..."}],
        "severity": null}]}}

and keeps those whose ``affectedVersions`` (composer's constraint syntax: ``,`` and, ``|``
or) the locked version meets. Composer 2.5 loads an advisory fully only when ``title``,
``sources`` and ``reportedAt`` are all present (or fails the audit); 2.6+ also reads
``severity`` (null when unknown). ``advisoryId`` here is the advisory's file without
``.yaml`` (packagist would give a PKSA id), ``remoteId`` the file itself, as packagist
names FriendsOfPHP advisories.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from koumbit_infra.advisories.database import SOURCE_NAME, Advisory, of_package


def advisory_document(advisory: Advisory) -> dict[str, Any]:
    """One advisory as composer reads it from the API."""
    return {
        "advisoryId": advisory.advisory_id,
        "packageName": advisory.package,
        "remoteId": advisory.remote_id,
        "title": advisory.title,
        "link": advisory.link,
        "cve": advisory.cve,
        "affectedVersions": advisory.affected_versions,
        "source": SOURCE_NAME,
        "reportedAt": advisory.reported_at.strftime("%Y-%m-%d %H:%M:%S"),
        "composerRepository": None,
        "sources": [{"name": SOURCE_NAME, "remoteId": advisory.remote_id}],
        "severity": None,
    }


def advisories_for(packages: dict[str, list[str]], root: Path | None = None) -> dict[str, Any]:
    """Composer's security-advisories answer for ``packages`` (name -> versions).

    With no versions for a name (what composer's request carries: names only) every
    advisory of that package is given, and composer keeps those its locked version
    meets; with versions, only the advisories affecting at least one of them. Every name
    asked is in the answer, with an empty list when nothing is known (composer counts it
    as found). A name composer would refuse gets an empty list: names never reach a path.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for name, wanted in packages.items():
        key = name.strip().lower()
        found = of_package(key, root)
        if wanted:
            found = tuple(a for a in found if any(a.affects(v) for v in wanted))
        out[key] = [advisory_document(a) for a in found]
    return {"advisories": out}
