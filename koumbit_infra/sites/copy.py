"""Copy a site's content (code, uploads, database) onto another site: clone and migrate.

The target site must already exist (made by the sites deploy from the
inventory, or a scratch copy of it): its user, database, secrets and
generated configuration stay its own; only content is copied. The archive
and the dump travel through the operator's machine in a private temporary
folder, deleted afterwards.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

from fabric import Connection

from koumbit_infra.inventory import Cms
from koumbit_infra.remote import run
from koumbit_infra.sites.layout import DUMP_ROOT, SiteLayout
from koumbit_infra.sites.remote import SiteCommandError, must
from koumbit_infra.sites.variant import Clients


def _generated(site: SiteLayout) -> list[str]:
    """Paths under the site's root that belong to the site itself, never copied."""
    rel = [site.config_file, *(p for p in _links(site))]
    return ["./" + p.removeprefix(site.root + "/") for p in rel]


def _links(site: SiteLayout) -> list[str]:
    if site.cms is Cms.WORDPRESS:
        return [f"{site.web}/wp-content/uploads"]
    return [f"{site.docroot}/sites/default/files"]


def exists(conn: Connection, site: SiteLayout) -> bool:
    return run(conn, f"id -u {site.name} && test -d {site.web}").ok


def copy_content(src_conn: Connection, src: SiteLayout, dst_conn: Connection,
                 dst: SiteLayout) -> None:
    """``src``'s code, uploads and database onto ``dst``, which keeps its own wiring."""
    if src.cms is not dst.cms:
        raise SiteCommandError(f"{src.domain} is {src.cms.value}, {dst.domain} is"
                               f" {dst.cms.value}: a copy needs the same CMS", 2)
    if not exists(dst_conn, dst):
        raise SiteCommandError(f"{dst.domain} does not exist on {dst_conn.host} yet: add it to"
                               " the inventory and deploy first", 2)
    excludes = " ".join(f"--exclude={shlex.quote(p)}" for p in _generated(src))
    src_dir, dst_dir = f"{DUMP_ROOT}/{src.name}", f"{DUMP_ROOT}/{dst.name}"
    must(src_conn, f"umask 077 && mkdir -p {src_dir} && tar -C {src.root} {excludes}"
                   f" -czf {src_dir}/copy.tar.gz ./web ./files && mariadb-dump"
                   f" --single-transaction --routines --triggers {src.name}"
                   f" > {src_dir}/copy.sql", f"packing {src.domain}")
    with tempfile.TemporaryDirectory(prefix="koumbit-copy-") as tmp:
        for name in ("copy.tar.gz", "copy.sql"):
            src_conn.get(f"{src_dir}/{name}", str(Path(tmp) / name))
        run(src_conn, f"rm -f {src_dir}/copy.tar.gz {src_dir}/copy.sql")
        must(dst_conn, f"umask 077 && mkdir -p {dst_dir}", "preparing the target")
        for name in ("copy.tar.gz", "copy.sql"):
            dst_conn.put(str(Path(tmp) / name), f"{dst_dir}/{name}")
    n = dst.name
    replace = ""
    if dst.cms is Cms.WORDPRESS and src.url != dst.url:
        # Links inside posts name the old address; WP_HOME already gives the new one.
        # Both URLs are made of domains the inventory validated.
        old, new = src.url, dst.url
        replace = (f" && mariadb {n} -e \"UPDATE wp_posts SET post_content ="  # noqa: S608
                   f" REPLACE(post_content, '{old}', '{new}'), guid = REPLACE(guid, '{old}',"
                   f" '{new}')\"")
    must(dst_conn,
         f"tar -C {dst.root} --no-same-owner -xzf {dst_dir}/copy.tar.gz"
         f" && chown -R {n}:{n} {dst.web} {dst.files}"
         f" && chown root:{n} {dst.config_file} && chmod 640 {dst.config_file}"
         f" && mariadb -e 'DROP DATABASE IF EXISTS `{n}`; CREATE DATABASE `{n}`"
         f" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'"
         f" && mariadb {n} < {dst_dir}/copy.sql{replace}"
         f"; status=$?; rm -f {dst_dir}/copy.tar.gz {dst_dir}/copy.sql; exit $status",
         f"unpacking into {dst.domain}")


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
