"""The lab's stand-in for the sites' public DNS: every domain of a site answers with the
address of the server the inventory puts it on, in the DNS Pebble asks for HTTP-01
(pebble-challtestsrv, koumbit_infra/lab/pebble.py).

In production a client points its domains at its server; in the lab the inventory a
deploy reads says where each site is. The lab's pyinfra inventory publishes it when it
is built (koumbit_infra/pyinfra_inventory.py, beside the lab's SSH key): the deploys
themselves do nothing of the kind, and run as in production. An absent site's names
stop resolving; a site moved to another server follows.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping

from koumbit_infra.inventory import Inventory, SiteState
from koumbit_infra.lab.pebble import LAB_ENDPOINTS, Endpoints


def site_records(inv: Inventory) -> dict[str, str | None]:
    """Domain -> IPv4 address of its site's server; ``None`` for an absent site's."""
    records: dict[str, str | None] = {}
    for placed in inv.placed_sites():
        address = (None if placed.site.state is SiteState.ABSENT
                   else str(inv.server(placed.site.server).address))
        for domain in placed.site.all_domains:
            records[domain] = address
    return dict(sorted(records.items()))


def _post(endpoints: Endpoints, path: str, body: dict[str, object], timeout: float) -> None:
    host, port = endpoints.dns_management
    request = urllib.request.Request(
        f"http://{host}:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        answer.read()


def publish(records: Mapping[str, str | None], endpoints: Endpoints = LAB_ENDPOINTS,
            timeout: float = 2.0) -> str | None:
    """Every record set in the lab's DNS; a warning to print when it does not answer
    (the deploys still run: only the certificates they ask for will fail to validate)."""
    try:
        for domain, address in records.items():
            # add-a appends: without the clear, every deploy would add the address once
            # more, until the answer outgrows a DNS message and Pebble cannot resolve it.
            _post(endpoints, "/clear-a", {"host": domain}, timeout)
            if address is not None:
                _post(endpoints, "/add-a", {"host": domain, "addresses": [address]}, timeout)
    except OSError as exc:
        host, port = endpoints.dns_management
        return (f"lab: warning: the lab's DNS ({host}:{port}) did not take the sites'"
                f" addresses ({exc}); certificates cannot be issued until"
                " `koumbit-infra lab up` runs it")
    return None
