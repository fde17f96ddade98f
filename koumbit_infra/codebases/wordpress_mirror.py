"""Production's WordPress source: the team's mirror of wordpress.org's releases.

``koumbit-infra codebases wordpress-mirror DIR [VERSION...]`` downloads each release from
wordpress.org over HTTPS, checks it against the SHA-1 wordpress.org publishes beside it
(``wordpress-VERSION.tar.gz.sha1``), and only then publishes it in DIR with its SHA-256
(koumbit_infra/codebases/wordpress_source.py), which the web servers check. Which
branches still get security fixes comes from wordpress.org's own answer
(``api.wordpress.org/core/stable-check/1.0/``: ``latest`` and ``outdated`` releases are
safe, ``insecure`` ones are not). DIR is then served over HTTPS as
settings.codebases.wordpress_source (a static folder: any web server will do).
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from koumbit_infra.codebases.wordpress_source import publish
from koumbit_infra.errors import KoumbitError

WORDPRESS_ORG = "https://wordpress.org"
STABLE_CHECK = "https://api.wordpress.org/core/stable-check/1.0/"
_VERSION = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}(?:\.[0-9]{1,3})?")
MAX_ARCHIVE = 200 * 1024 * 1024
TIMEOUT_S = 120


class MirrorError(KoumbitError):
    """A release could not be fetched or did not match wordpress.org's checksum."""


def _get(url: str, limit: int, context: ssl.SSLContext | None) -> bytes:
    if not url.startswith("https://"):
        raise MirrorError(f"{url}: https only (code is fetched from it); nothing was published",
                          exit_code=2)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S,  # noqa: S310 (https, checked)
                                    context=context) as answer:
            data = bytes(answer.read(limit + 1))
    except OSError as exc:
        raise MirrorError(f"{url} could not be fetched ({exc}); nothing was published") \
            from None
    if len(data) > limit:
        raise MirrorError(f"{url} is larger than {limit} bytes; nothing was published")
    return data


def statuses(api: str = STABLE_CHECK, context: ssl.SSLContext | None = None) -> dict[str, str]:
    """wordpress.org's word on each release: latest, outdated (safe) or insecure."""
    try:
        found = json.loads(_get(api, 1 << 20, context))
    except ValueError:
        raise MirrorError(f"{api} did not answer JSON; nothing was published") from None
    return {str(v): str(s) for v, s in found.items() if _VERSION.fullmatch(str(v))}


def mirror(folder: Path, versions: Sequence[str] = (), origin: str = WORDPRESS_ORG,
           api: str = STABLE_CHECK, context: ssl.SSLContext | None = None) -> list[str]:
    """``versions`` (default: wordpress.org's latest) published in ``folder`` once each
    matches wordpress.org's SHA-1; the files written. Nothing is written if one fails."""
    for given in (*versions, origin, api):
        if given in versions and not _VERSION.fullmatch(given):
            raise MirrorError(f"'{given}' is not a WordPress version such as 6.8.3",
                              exit_code=2)
        if given not in versions and not given.startswith("https://"):
            raise MirrorError(f"{given}: https only (code is fetched from it); nothing was"
                              " published", exit_code=2)
    known = statuses(api, context)
    wanted = list(versions) or [v for v, s in known.items() if s == "latest"]
    for version in wanted:
        if version not in known:
            raise MirrorError(f"wordpress.org knows no WordPress {version}", exit_code=2)
    archives = {}
    for version in wanted:
        url = f"{origin}/wordpress-{version}.tar.gz"
        data = _get(url, MAX_ARCHIVE, context)
        published = _get(f"{url}.sha1", 1000, context).decode("ascii", "replace").split()
        if not published or hashlib.sha1(data).hexdigest() != published[0].lower():  # noqa: S324 (wordpress.org's)
            raise MirrorError(f"{url} does not match the SHA-1 wordpress.org publishes beside"
                              " it; nothing was published")
        archives[version] = data
    insecure = {v for v, s in known.items() if s == "insecure"}
    return publish(folder, archives, insecure)
