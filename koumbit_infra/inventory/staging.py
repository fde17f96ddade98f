"""Staging copies: a site's copy for its developers, derived from the site's ``staging:``.

A client file says ``staging: active`` on a site; the inventory then holds a
second site, named by ``settings.staging_name``, on the same server, of the same
CMS and PHP, with its own system name (so its own user, pool, database, secrets
and certificate). It is never written in YAML, so nothing can make it anything
else than a copy of its site; ``PlacedSite.staging_of`` says whose.
"""

from __future__ import annotations

from koumbit_infra.inventory.fields import staging_domain
from koumbit_infra.inventory.models import Site


def staging_site(site: Site, pattern: str) -> Site:
    """The staging copy of ``site`` (which has ``staging`` set) under ``pattern``.

    Built by validation from the site's own values, never copied as an object:
    a copy would carry the site's cached system name along.
    """
    if site.staging is None:
        raise ValueError(f"{site.domain} has no staging copy")
    values = site.model_dump(exclude={"aliases", "staging", "domain", "state"})
    return Site.model_validate({**values, "domain": staging_domain(pattern, site.domain),
                                "state": site.staging})
