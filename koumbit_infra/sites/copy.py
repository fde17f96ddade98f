"""Copy a site's content (code, uploads, database) onto another site: clone and migrate.

The target site must already exist (made by the sites deploy from the
inventory, or a scratch copy of it): its user, database, secrets and
generated configuration stay its own; only content is copied. The archives
and the dump travel through the operator's machine in a private temporary
folder, deleted afterwards. A target that has content is refused without
``force``, and archived (verified) before it is replaced. A target at another
address is then told its own by its CMS's own means, as its own user
(:func:`new_address_command`).
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

from fabric import Connection

from koumbit_infra.inventory import Cms
from koumbit_infra.remote import run
from koumbit_infra.sites.backups import archived
from koumbit_infra.sites.drush import drush_command
from koumbit_infra.sites.errors import SiteCommandError, must
from koumbit_infra.sites.files import site_links
from koumbit_infra.sites.layout import DUMP_ROOT, IMPORT, WP_REPLACE_URL, SiteLayout
from koumbit_infra.sites.runner import site_command
from koumbit_infra.sites.shell import as_site, locked
from koumbit_infra.sites.variant import Clients
from koumbit_infra.tls.certbot import STATE_DIR, adopt_command, pack_command, parcel


def _links(site: SiteLayout) -> list[str]:
    """The site's own links into its wiring (never copied: the target has its own),
    relative to its code folder as ``tar -C web`` names them."""
    return ["./" + p.removeprefix(site.web + "/") for p in site_links(site)]


def exists(conn: Connection, site: SiteLayout) -> bool:
    return run(conn, f"id -u {site.name} && test -d {site.web}").ok


def copy_certificate(src_conn: Connection, dst_conn: Connection, site: SiteLayout) -> bool:
    """The site's certificate from certbot on the source, taken in by the target.

    A site moving to another server keeps serving a valid certificate there at once:
    HTTP-01 could not prove the target before the site's DNS points at it. The lineage
    (private key included) travels like the site's content, through a private temporary
    folder here. False when the source has none from certbot (the target then asks the
    ACME server itself).
    """
    if not site.tls or not run(src_conn, pack_command(site.name)).ok:
        return False
    moving = parcel(site.name)
    with tempfile.TemporaryDirectory(prefix="koumbit-certificate-") as tmp:
        local = str(Path(tmp) / "certificate.tar.gz")
        src_conn.get(moving, local)
        run(src_conn, f"rm -f {moving}")
        must(dst_conn, f"umask 077 && mkdir -p {STATE_DIR}", "preparing the target")
        dst_conn.put(local, moving)
    try:
        must(dst_conn, adopt_command(site.name, site.domain),
             f"taking in {site.domain}'s certificate")
    finally:
        run(dst_conn, f"rm -f {moving}")
    return True


def copy_content(src_conn: Connection, src: SiteLayout, dst_conn: Connection,
                 dst: SiteLayout, *, force: bool = False) -> list[str]:
    """``src``'s code, uploads and database onto ``dst``, which keeps its own wiring.

    Packed on the source by the source site's own user, under its lock (files
    and database from the same moment); unpacked on the target by
    koumbit-site-import, as the target site's user. A target with content is
    refused unless ``force``, and then archived and verified first: answers the
    ids of those archives.
    """
    if src.cms is not dst.cms:
        raise SiteCommandError(f"{src.domain} is {src.cms.value}, {dst.domain} is"
                               f" {dst.cms.value}: a copy needs the same CMS", 2)
    if not exists(dst_conn, dst):
        raise SiteCommandError(f"{dst.domain} does not exist on {dst_conn.host} yet: add it to"
                               " the inventory and deploy first", 2)
    excludes = " ".join(f"--exclude={shlex.quote(p)}" for p in _links(src))
    # Beside each site's dumps folder (which its archive writes and backs up), not in it.
    src_dir, dst_dir = f"{DUMP_ROOT}/{src.name}.outgoing", f"{DUMP_ROOT}/{dst.name}.incoming"
    # Read by the source site's own user; root only writes its output, in root's folder.
    pack_web = as_site(src, f'tar -C "$1" {excludes} -czf - .', src.web)
    pack_files = as_site(src, 'tar -C "$1" -czf - .', src.files)
    pack = (f"umask 077 && rm -rf {src_dir} && mkdir -p {src_dir}"
            f" && {pack_web} > {src_dir}/web.tar.gz && {pack_files} > {src_dir}/files.tar.gz"
            f" && mariadb-dump --single-transaction {src.name} > {src_dir}/db.sql")
    must(src_conn, locked(src, pack), f"packing {src.domain}")
    names = ("web.tar.gz", "files.tar.gz", "db.sql")
    with tempfile.TemporaryDirectory(prefix="koumbit-copy-") as tmp:
        for name in names:
            src_conn.get(f"{src_dir}/{name}", str(Path(tmp) / name))
        run(src_conn, f"rm -rf {src_dir}")
        must(dst_conn, f"umask 077 && rm -rf {dst_dir} && mkdir -p {dst_dir}",
             "preparing the target")
        for name in names:
            dst_conn.put(str(Path(tmp) / name), f"{dst_dir}/{name}")
    args = [dst.name, dst_dir] + (["--force"] if force else [])
    result = run(dst_conn, f"{IMPORT} {shlex.join(args)}")
    if not result.ok:
        run(dst_conn, f"rm -rf {dst_dir}")
        tail = (result.stderr or result.stdout).strip().splitlines()[-6:]
        raise SiteCommandError(f"copy into {dst.domain} refused or failed on {dst_conn.host}"
                               f" (exit {result.exit_code}):\n" + "\n".join(tail),
                               2 if result.exit_code in (2, 3) else 1)
    archives = archived(result.stdout)
    told = new_address_command(src, dst)
    if told is not None and not (said := run(dst_conn, told)).ok:
        tail = (said.stderr or said.stdout).strip().splitlines()[-6:]
        earlier = "".join(f" (what it replaced is in snapshot {a[:8]})" for a in archives)
        raise SiteCommandError(f"{dst.domain} holds {src.domain}'s content now{earlier}, but"
                               f" telling it its own address failed on {dst_conn.host} (exit"
                               f" {said.exit_code}):\n" + "\n".join(tail))
    return archives


def new_address_command(src: SiteLayout, dst: SiteLayout) -> str | None:
    """Root's shell line telling ``dst``, a copy of ``src`` at another address, its own
    address by its CMS's own means (None at the same address: a migrated site).

    Run as the copy's own user, under its lock, with its PHP limits (the runner's line).
    WordPress: its own API in wp-replace-url.php (fed on standard input, so the site's
    open_basedir holds) replaces ``src``'s address, over HTTPS and plain HTTP, in every
    text of its tables, serialized values rebuilt, and sets siteurl and home. Drupal takes
    its base URL from each request, and the copy's settings.php (the deploy's, from the
    inventory) trusts only the copy's own names: nothing in its database names it; its
    caches, which may hold pages rendered at the old address, are rebuilt (drush, where
    the site has it).
    """
    if src.url == dst.url:
        return None
    if dst.cms is Cms.DRUPAL:
        return drush_command(dst, "cache:rebuild", missing_ok=True)
    olds = [src.url] + ([f"http://{src.domain}"] if src.tls else [])
    args = shlex.join([dst.docroot, dst.url, *olds])
    return site_command(dst, f"{dst.php.cli} -- {args} < {WP_REPLACE_URL}")


def moved(domain: str, server: str, state: str | None = None) -> Callable[[Clients], None]:
    """An inventory edit for ``write_variant``: ``domain``'s site on ``server``."""

    def edit(clients: Clients) -> None:
        for client in clients.values():
            for site in client.get("sites", []):
                if site["domain"] == domain:
                    site["server"] = server
                    if state:
                        site["state"] = state

    return edit
