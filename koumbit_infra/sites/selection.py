"""Which sites a command acts on: ``--sites`` selectors, and one site by domain."""

from __future__ import annotations

from fnmatch import fnmatch

from koumbit_infra.inventory import Inventory, SiteState
from koumbit_infra.sites.errors import SiteCommandError
from koumbit_infra.sites.layout import SiteLayout

SELECTOR_HELP = (
    "Comma-separated terms, any of which selects a site: all, cms:wordpress, cms:drupal, "
    "server:NAME, client:SLUG, state:active|disabled, staging (the staging copies), or a "
    "domain (globs allowed: *.test). "
    "Absent sites are never selected."
)


def _matches(site: SiteLayout, term: str) -> bool:
    kind, _, value = term.partition(":")
    placed = site.placed
    if term == "all":
        return True
    if term == "staging":
        return placed.is_staging
    if value and kind == "cms":
        return site.cms.value == value
    if value and kind == "server":
        return placed.site.server == value
    if value and kind == "client":
        return placed.client.slug == value
    if value and kind == "state":
        return site.state.value == value
    return any(fnmatch(d, term) for d in placed.site.all_domains)


def select(inv: Inventory, selector: str) -> list[SiteLayout]:
    """Sites matching any term of ``selector``, in inventory order; none is an error."""
    terms = [t.strip() for t in selector.split(",") if t.strip()]
    sites = [SiteLayout.of(inv, p) for p in inv.placed_sites()
             if p.site.state is not SiteState.ABSENT]
    found = [s for s in sites if any(_matches(s, t) for t in terms)]
    if not found:
        raise SiteCommandError(f"no site matches '{selector}'", exit_code=2)
    return found


def one(inv: Inventory, domain: str) -> SiteLayout:
    """The site answering at ``domain`` (primary or alias); exit 2 if there is none."""
    try:
        return SiteLayout.of(inv, inv.site(domain))
    except KeyError:
        raise SiteCommandError(f"no site '{domain}' in inventory '{inv.env}'",
                               exit_code=2) from None
