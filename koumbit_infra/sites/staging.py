"""``koumbit-infra site staging DOMAIN [--refresh]``: production copied into its staging copy.

The staging copy is a site of the inventory (the site's ``staging:``, named by
``settings.staging_name``): the sites deploy gives it its own user, pool,
database, secrets, certificate, and a vhost behind HTTP basic auth that says
``noindex`` on every answer. This command only moves content, always from
production to staging, with the machinery of ``site clone``
(:func:`koumbit_infra.sites.copy.copy_content`): packed by production's user,
unpacked by the copy's, whatever the copy held archived and verified first (a
failed archive stops it before anything changes), then the copy told its own
address by its CMS's own means. The first copy makes the credentials on the
server and shows them once; nothing here stores them.

Nothing copies staging over production: a staging copy is never a source
(:func:`pair` refuses it, and ``site clone`` refuses it onto any other site).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from fabric import Connection

from koumbit_infra.inventory import Inventory, SiteState
from koumbit_infra.remote import run
from koumbit_infra.sites.copy import copy_content
from koumbit_infra.sites.errors import SiteCommandError, must
from koumbit_infra.sites.layout import STAGING_USER, SiteLayout
from koumbit_infra.sites.secrets import PASSWORD_LENGTH, htpasswd_command
from koumbit_infra.sites.selection import one

_PASSWORD = re.compile(rf"^password=([A-Za-z0-9]{{{PASSWORD_LENGTH}}})$", re.MULTILINE)


@dataclass(frozen=True)
class Copied:
    """What one run did: whether production was copied in, the archives of what that
    replaced, and new credentials, if any."""

    copied: bool
    archives: list[str]
    password: str | None


def pair(inv: Inventory, domain: str) -> tuple[SiteLayout, SiteLayout]:
    """The production site at ``domain`` and its staging copy, or why there is none to copy
    into (exit 2, nothing contacted)."""
    site = one(inv, domain)
    if site.staging_of is not None:
        raise SiteCommandError(
            f"{site.domain} is the staging copy of {site.staging_of}: a staging copy is made"
            " from production only, and nothing copies staging over production. To refresh"
            f" it from production: koumbit-infra site staging {site.staging_of} --refresh", 2)
    copy = inv.staging_copy(site.placed)
    where = f"{inv.root}/clients/{site.placed.client.slug}.yaml"
    if copy is None:
        raise SiteCommandError(
            f"{site.domain} has no staging copy: add 'staging: active' to it in {where},"
            " deploy the sites (koumbit-infra deploy), then run this again", 2)
    if copy.site.state is not SiteState.ACTIVE:
        raise SiteCommandError(
            f"the staging copy of {site.domain} ({copy.site.domain}) is {copy.site.state}"
            f" in {where}: set 'staging: active' and deploy first", 2)
    return site, SiteLayout.of(inv, copy)


def refusal(staging: SiteLayout, made: bool, refresh: bool) -> str | None:
    """Why this run may not go on, given whether the copy was already made from production:
    a made copy holds its developers' work, replaced only when --refresh says so."""
    if made and not refresh:
        return (f"{staging.domain} was already copied from {staging.staging_of}; its content"
                " may be its developers' work. To replace it with production's now, pass"
                " --refresh (it is archived and verified first); for new credentials only,"
                " --new-password; nothing was done")
    if refresh and not made:
        return (f"{staging.domain} was never copied from {staging.staging_of}: run this"
                " without --refresh; nothing was done")
    return None


def marker_command(staging: SiteLayout) -> str:
    """Root's line recording that production was copied in (in root's own folder of the
    copy, where the site cannot forge or remove it)."""
    dest = shlex.quote(staging.staging_marker)
    return (f"umask 022 && printf '%s\\n' {shlex.quote(str(staging.staging_of))}"
            f" > {dest}.new && mv {dest}.new {dest}")


def new_password(conn: Connection, staging: SiteLayout) -> str:
    """New credentials for the staging copy, made on its server; answers the password,
    read from the one line that shows it (its hash alone stays on the server)."""
    out = must(conn, htpasswd_command(staging.htpasswd_file, STAGING_USER, show=True),
               f"making {staging.domain}'s password")
    found = _PASSWORD.findall(out)
    if len(found) != 1:
        raise SiteCommandError(f"{staging.domain}: the server did not show one new password")
    return str(found[0])


def copy_into_staging(conn: Connection, site: SiteLayout, staging: SiteLayout, *,
                      refresh: bool, password: bool) -> Copied:
    """Production's content into its staging copy (both on ``conn``'s server).

    A refresh takes a verified archive of the copy before anything changes (the import's
    own, which stops everything if it fails); its id says how to undo. The first copy
    makes new credentials, as ``password`` asks for them on a refresh; on a copy already
    made, ``password`` alone makes them and copies nothing.
    """
    made = run(conn, f"test -f {shlex.quote(staging.staging_marker)}").ok
    if made and password and not refresh:
        return Copied(False, [], new_password(conn, staging))
    if why := refusal(staging, made, refresh):
        raise SiteCommandError(why, 2)
    archives = copy_content(conn, site, conn, staging, force=True)
    must(conn, marker_command(staging), f"recording {staging.domain}'s copy")
    shown = new_password(conn, staging) if password or not refresh else None
    return Copied(True, archives, shown)
