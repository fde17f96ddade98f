"""Move a site to another server without losing anything, the source kept until deleted.

1. create the site on the target (sites deploy, scratch inventory: the site there);
2. copy code, uploads and database onto it (``copy.copy_content``);
3. ask the target for the home page with the site's Host header: it must
   answer 200 with the same <title> as the source;
4. only then disable the source (maintenance page, pool stopped, data kept).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from koumbit_infra.inventory import Inventory, load_inventory
from koumbit_infra.remote import connect
from koumbit_infra.sites.copy import copy_content, exists, moved
from koumbit_infra.sites.errors import SiteCommandError
from koumbit_infra.sites.http import fetch
from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.variant import write_variant
from koumbit_infra.sites.verify import sites_deploy


def _title(text: str) -> str | None:
    found = re.search(r"<title>([^<]*)</title>", text)
    return found[1] if found else None


def migrate(inv: Inventory, site: SiteLayout, target: str, scratch: Path, *,
            ca_file: str | None, say: Callable[[str], None], force: bool = False) -> str:
    source = site.placed.site.server
    src_addr, dst_addr = str(inv.server(source).address), str(inv.server(target).address)
    with connect(inv, target) as b:
        already = exists(b, site)
    if already and not force:
        raise SiteCommandError(
            f"{target} already holds {site.domain} ({site.root}): nothing was done. To"
            " replace that copy, pass --force (it is archived and verified first)", 2)
    before = fetch(src_addr, site.domain, tls=site.tls, ca_file=ca_file)
    say(f"1/4 creating {site.domain} on {target}")
    there = write_variant(inv.root.resolve(), scratch / "to", moved(site.domain, target))
    sites_deploy(there, target)
    moved_inv = load_inventory(there.with_suffix(""))
    dst = SiteLayout.of(moved_inv, moved_inv.site(site.domain))
    say(f"2/4 copying code, uploads and database from {source}")
    with connect(inv, source) as a, connect(inv, target) as b:
        # The target's copy was made just now by this command, or --force said to replace
        # the one there: either way it may be replaced (and is archived first).
        archives = copy_content(a, site, b, dst, force=True)
    for snap in archives:
        say(f"   {target}'s earlier copy is in verified snapshot {snap[:8]}")
    say(f"3/4 checking {site.domain} on {target} ({dst_addr}) with its Host header")
    after = fetch(dst_addr, site.domain, tls=site.tls, ca_file=ca_file)
    if after.status != 200 or _title(after.text) != _title(before.text):
        raise SiteCommandError(
            f"{site.domain} on {target} answers {after.status} with title"
            f" {_title(after.text)!r} (source: {_title(before.text)!r}); the source is"
            " untouched and still serving")
    say(f"4/4 disabling the source copy on {source} (kept, maintenance page)")
    here = write_variant(inv.root.resolve(), scratch / "from",
                         moved(site.domain, source, "disabled"))
    sites_deploy(here, source)
    return (f"{site.domain} now runs on {target}; {source} keeps a disabled copy.\n"
            f"Next: set 'server: {target}' for {site.domain} in"
            f" {inv.root}/clients/{site.placed.client.slug}.yaml, commit, and point DNS at"
            f" {dst_addr}. Delete the source copy later with"
            f" 'koumbit-site-remove {site.name}' on {source} (archives it first).")
