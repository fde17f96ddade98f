"""Root's shell lines that act on a site safely: as the site's own user, or under its lock.

Every site is hostile: inside its own folders it may plant links and FIFOs and
race any command. Root never resolves a path there; it runs the command as
the site's user, who reaches only what it already could.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from koumbit_infra.sites.layout import LOCK_ROOT, SiteLayout

LOCK_WAIT_SECONDS = 600


def as_site(site: SiteLayout, script: str, *args: str,
            env: Mapping[str, str] | None = None) -> str:
    """Root's shell line running ``script`` (sh, with ``$1``...) as the site's own user.

    Whatever links or FIFOs the site planted in its own folders, the command can
    reach only what that user already can: root never resolves those paths.
    Under umask 022, as the site's PHP-FPM pool writes: nginx reads what it serves
    through "other" (the site's folders let only www-data through), and Debian 13's
    runuser would otherwise apply login.defs's 027 and hide the site's code from nginx.
    """
    quoted = " ".join(shlex.quote(a) for a in args)
    extra = "".join(f" {name}={shlex.quote(value)}" for name, value in (env or {}).items())
    return (f"runuser -u {site.name} -- env HOME={shlex.quote(site.tmp)}{extra}"
            f" sh -c {shlex.quote('umask 022 && ' + script)} sh {quoted}").rstrip()


def locked(site: SiteLayout, command: str) -> str:
    """``command`` under the site's lock, shared with the site commands and its timer.

    A site command that holds it (a restore, a copy) makes this wait, then fail
    with a message naming the site after ``LOCK_WAIT_SECONDS``.
    """
    return (f"mkdir -p {LOCK_ROOT} && {{ flock -w {LOCK_WAIT_SECONDS} -E 75"
            f" {shlex.quote(site.lock_file)} sh -c {shlex.quote(command)}"
            f" || {{ rc=$?; [ $rc -ne 75 ] || echo '{site.domain}: another koumbit command"
            f" holds the site lock ({site.lock_file}); try again when it is done' >&2;"
            f" exit $rc; }}; }}")
