"""``koumbit-infra run``: one command as each selected site's own user, in parallel.

The command runs in the site's code folder as the site's Unix user (never
root), with the site's tmp as TMPDIR, so wp-cli, drush or anything else acts
with exactly that site's rights.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from koumbit_infra.inventory import Inventory
from koumbit_infra.remote import Result, connect, run
from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.shell import as_site, locked


@dataclass(frozen=True)
class SiteResult:
    domain: str
    server: str
    result: Result


def in_code(site: SiteLayout, command: str) -> str:
    """The root shell line that runs ``command`` as the site, in its code folder, with its
    environment (:attr:`SiteLayout.cli_env`: its pool's PHP limits for any PHP it starts,
    Drupal's address for drush), under the pool's umask (022: what it writes, nginx can
    serve, on Debian 12 and 13 alike). Not locked: callers that already hold the site's
    lock use this; everyone else :func:`site_command`."""
    return as_site(site, f"cd {shlex.quote(site.web)} && {command}", env=site.cli_env)


def site_command(site: SiteLayout, command: str) -> str:
    """The root shell line that runs ``command`` as the site (:func:`in_code`), under the
    site's lock."""
    return locked(site, in_code(site, command))


def run_on_sites(inv: Inventory, sites: list[SiteLayout], command: str,
                 parallel: int = 8) -> list[SiteResult]:
    """Run ``command`` on every site (at most ``parallel`` at once); results in site order."""

    def one(site: SiteLayout) -> SiteResult:
        server = site.placed.site.server
        try:
            with connect(inv, server) as conn:
                return SiteResult(site.domain, server, run(conn, site_command(site, command)))
        except Exception as exc:  # one unreachable server must not hide the others
            return SiteResult(site.domain, server, Result(False, 255, "", str(exc)))

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(one, sites))
