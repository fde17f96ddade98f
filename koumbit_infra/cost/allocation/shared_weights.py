"""How shared costs and idle are spread over sites: the policies of ``budget.yaml``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal

from koumbit_infra.inventory import PlacedSite, SiteState
from koumbit_infra.inventory.models import SharedPolicy


def spread_weights(
    policy: SharedPolicy,
    tenants: Sequence[PlacedSite],
    direct: Mapping[str, Decimal],
    hosted: Mapping[str, Decimal],
) -> dict[str, Decimal]:
    """Each tenant site's weight (by domain) in a shared cost under ``policy``.

    - ``by_reserved``: in proportion to the site's direct cost (its
      reservation, or its usage when that was higher);
    - ``per_site``: the same for every site not absent, for the share of the
      month it was hosted (``hosted``, 0..1);
    - ``per_client``: the same for every client, split evenly over its sites
      not absent, again by share of the month hosted.

    A disabled site counts: its files, database, backups and domains still
    cost the shared lines. Weights need not add up to anything; an all-zero
    result means nobody can bear the cost.
    """
    if policy is SharedPolicy.BY_RESERVED:
        weights = {p.site.domain: direct.get(p.site.domain, Decimal(0)) for p in tenants}
        if any(weights.values()):
            return weights
        # Nobody has a direct cost (no web server in service): fall back to sites.
        policy = SharedPolicy.PER_SITE
    kept = [p for p in tenants if p.site.state is not SiteState.ABSENT]
    if policy is SharedPolicy.PER_SITE:
        return {p.site.domain: hosted.get(p.site.domain, Decimal(0)) for p in kept}
    per_client = Counter(p.client.slug for p in kept)
    return {
        p.site.domain: hosted.get(p.site.domain, Decimal(0)) / per_client[p.client.slug]
        for p in kept
    }
