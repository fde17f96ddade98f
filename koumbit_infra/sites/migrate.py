"""Move a site to another server without losing anything, the source kept until deleted.

1. create the site on the target (sites deploy, scratch inventory: the site there),
   its certificate taken along from the source (koumbit_infra.sites.copy);
2. copy code, uploads and database onto it (``copy.copy_content``);
3. ask the target for the home page with the site's Host header: it must
   answer 200 with the same <title> as the source, and PHP must log no fatal
   error in the site's error log there meanwhile (its PHP and MariaDB are the
   target's release's: 8.2 and 10.11 on Debian 12, 8.4 and 11.8 on Debian 13);
4. only then disable the source (maintenance page, pool stopped, data kept).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from fabric import Connection

from koumbit_infra.inventory import Inventory, load_inventory
from koumbit_infra.remote import connect, run
from koumbit_infra.sites.copy import copy_certificate, copy_content, exists, moved
from koumbit_infra.sites.errors import SiteCommandError
from koumbit_infra.sites.http import Answer, fetch
from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.phperrors import (
    READ_LIMIT_BYTES,
    LogRead,
    LogState,
    log_problem,
    parse_read,
    read_command,
)
from koumbit_infra.sites.variant import write_variant
from koumbit_infra.sites.verify import sites_deploy


def _title(text: str) -> str | None:
    found = re.search(r"<title>([^<]*)</title>", text)
    return found[1] if found else None


def pinned_php_refusal(inv: Inventory, site: SiteLayout, target: str) -> str | None:
    """Why ``target`` cannot take the site as it is (a PHP pinned that it does not offer)."""
    pinned, server = site.placed.site.php_version, inv.server(target)
    if not pinned or pinned in server.php_versions:
        return None
    rel = server.release
    return (f"{site.domain} pins PHP {pinned} ({inv.root}/clients/{site.placed.client.slug}.yaml),"
            f" which {target} ({rel.name}) does not offer: it has"
            f" {', '.join(server.php_versions)}. Check that the site runs on"
            f" PHP {server.php_versions[0]}, remove its php_version (or set one {target} offers),"
            " then migrate again; nothing was done")


def _read_log(conn: Connection, site: SiteLayout, offset: int,
              limit: int = READ_LIMIT_BYTES) -> LogRead:
    done = run(conn, read_command(site, offset, limit), timeout=60)
    return parse_read(done.stdout) if done.ok else LogRead(LogState.OTHER)


def target_problems(dst: SiteLayout, before: Answer, after: Answer, log: LogRead) -> list[str]:
    """Why the target's copy may not replace the source (none: it may)."""
    problems = []
    if after.status != 200 or _title(after.text) != _title(before.text):
        problems.append(f"its home page answers {after.status} with title"
                        f" {_title(after.text)!r} (source: {_title(before.text)!r})")
    if found := log_problem(dst, log):
        problems.append(found)
    return problems


def _refusal(site: SiteLayout, dst: SiteLayout, target: str, problems: list[str],
             archives: list[str]) -> str:
    """The failed check, and what to do: fix and retry, or take the target's copy away."""
    source = site.placed.site.server
    earlier = "".join(f" Its earlier copy there is snapshot {snap[:8]}: 'koumbit-site-restore"
                      f" {dst.name} {snap}' on {target} brings it back." for snap in archives)
    return (f"{site.domain} on {target} failed its check, so the source on {source} was left"
            f" untouched and still serving:\n" + "\n".join(f"  - {p}" for p in problems)
            + f"\nLook at the site there as its user (runuser -u {dst.name} -- tail -n 50"
            f" {dst.php_error_log} on {target}); it runs PHP {dst.php_version} and MariaDB"
            f" {dst.release.mariadb} there. Once fixed, run this migrate again with --force."
            f" To drop the copy on {target} instead: 'koumbit-site-remove {dst.name}' on"
            f" {target} (it archives the copy first).{earlier}")


def migrate(inv: Inventory, site: SiteLayout, target: str, scratch: Path, *,
            ca_file: str | None, say: Callable[[str], None], force: bool = False) -> str:
    source = site.placed.site.server
    src_addr, dst_addr = str(inv.server(source).address), str(inv.server(target).address)
    if refusal := pinned_php_refusal(inv, site, target):
        raise SiteCommandError(refusal, 2)
    with connect(inv, target) as b:
        already = exists(b, site)
    if already and not force:
        raise SiteCommandError(
            f"{target} already holds {site.domain} ({site.root}): nothing was done. To"
            " replace that copy, pass --force (it is archived and verified first)", 2)
    before = fetch(src_addr, site.domain, tls=site.tls, ca_file=ca_file)
    say(f"1/4 creating {site.domain} on {target}")
    with connect(inv, source) as a, connect(inv, target) as b:
        if copy_certificate(a, b, site):
            # HTTP-01 could not prove the target before the site's DNS points at it.
            say(f"   its certificate taken along from {source}")
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
    with connect(inv, target) as b:
        mark = _read_log(b, dst, 0, 0)
        after = fetch(dst_addr, site.domain, tls=site.tls, ca_file=ca_file)
        log = _read_log(b, dst, mark.size)
    problems = target_problems(dst, before, after, log)
    if problems:
        raise SiteCommandError(_refusal(site, dst, target, problems, archives))
    say(f"   {target} answers 200, same title, no PHP fatal error"
        f" (PHP {dst.php_version}, MariaDB {dst.release.mariadb})")
    say(f"4/4 disabling the source copy on {source} (kept, maintenance page)")
    here = write_variant(inv.root.resolve(), scratch / "from",
                         moved(site.domain, source, "disabled"))
    sites_deploy(here, source)
    return (f"{site.domain} now runs on {target}; {source} keeps a disabled copy.\n"
            f"Next: set 'server: {target}' for {site.domain} in"
            f" {inv.root}/clients/{site.placed.client.slug}.yaml, commit, and point DNS at"
            f" {dst_addr}. Delete the source copy later with"
            f" 'koumbit-site-remove {site.name}' on {source} (archives it first).")
