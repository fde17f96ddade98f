"""Every file the sites deploy writes: rendered here, compared by hash, sent when it differs.

Unit tests render the same lists for every server of the lab and example
inventories and check each file with its real tool.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from jinja2 import Environment, StrictUndefined

from koumbit_infra.inventory import Cms, Inventory, Server, SiteState
from koumbit_infra.serverconf.backup import targets_of
from koumbit_infra.serverconf.tuning import OPCACHE_REVALIDATE_S
from koumbit_infra.sites.auditfiles import audit_context
from koumbit_infra.sites.drush import drush_argv, drush_line, drush_path
from koumbit_infra.sites.layout import (
    ARCHIVE,
    AUDIT,
    AUDIT_CONFIG,
    AUDIT_UNIT,
    CODE,
    CODE_SEARCH_PATH,
    COMPOSER,
    COMPOSER_CACHE_ROOT,
    COMPOSER_HOME,
    DB_PRIVILEGES,
    DUMP_ROOT,
    FPM_RUN_DIR,
    IMPORT,
    LOCK_ROOT,
    MAINTENANCE_ROOT,
    PHP_CLI_ROOT,
    REMOVE,
    RESTIC,
    RESTORE,
    SITE_LIB,
    SITE_STATE_ROOT,
    SITES_ROOT,
    STAGING_AUTH_DIR,
    STAGING_ROBOTS,
    TEST_HOOK_ROOT,
    UPDATE,
    WORK_ROOT,
    WP_INSTALLER,
    WP_REPLACE_URL,
    WP_UPGRADER,
    SiteLayout,
)
from koumbit_infra.sites.secrets import WP_SALT_KEYS
from koumbit_infra.sites.sftp import KEYS_DIR as SFTP_KEYS_DIR
from koumbit_infra.sites.sftp import UNIT_PREFIX as SFTP_UNIT_PREFIX
from koumbit_infra.templating import jinja_env_kwargs
from koumbit_infra.tls import TLS_ROOT
from koumbit_infra.tls.certbot import SCRIPT as CERTIFICATE_TOOL


@cache
def _environment() -> Environment:
    """templating.render's settings, kept for the process: each template compiles once
    (rendering dozens of sites' files was otherwise a visible part of a deploy)."""
    # Configuration files, not HTML: escaping would corrupt them.
    return Environment(undefined=StrictUndefined, keep_trailing_newline=True,  # noqa: S701
                       **jinja_env_kwargs())


@dataclass(frozen=True)
class SiteFile:
    """``templates/<template>`` rendered with ``context``, for ``dest`` with owner and mode."""

    dest: str
    template: str
    mode: str
    owner: str = "root"
    group: str = "root"
    context: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def content(self) -> str:
        return _environment().get_template(self.template).render(**self.context)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


def layouts(inv: Inventory, server: Server) -> tuple[SiteLayout, ...]:
    """The sites of ``server``, in a stable order (by domain), absent ones included."""
    return tuple(SiteLayout.of(inv, p) for p in inv.sites_on(server.name))


def update_drush_steps(inv: Inventory, server: Server) -> dict[str, tuple[str, str]]:
    """koumbit-site-update's database step for each Drupal site of ``server``: ``drush
    updatedb`` then ``cache:rebuild``, run the one way drush runs (sites.drush), each line
    quoted for ``sh -c`` (the tool holds the site's lock already)."""
    return {s.name: (shlex.quote(drush_line(s, "updatedb", "--yes")),
                     shlex.quote(drush_line(s, "cache:rebuild")))
            for s in layouts(inv, server)
            if s.cms is Cms.DRUPAL and s.state is not SiteState.ABSENT}


def server_files(inv: Inventory, server: Server) -> tuple[SiteFile, ...]:
    """Files shared by the sites of a web server: maintenance page, WordPress's installer,
    address changer and database upgrade, archive, code and update tools, the advisory
    audit and its timer."""
    tools = {"sites_root": SITES_ROOT, "dump_root": DUMP_ROOT, "restic": RESTIC,
             "tls_root": TLS_ROOT, "privileges": ", ".join(DB_PRIVILEGES),
             "site_lib": SITE_LIB, "lock_root": LOCK_ROOT, "work_root": WORK_ROOT,
             "archive": ARCHIVE, "fpm_run_dir": FPM_RUN_DIR, "certificate": CERTIFICATE_TOOL,
             "targets": [t.name for t in targets_of(inv, server)],
             "sftp_keys_dir": SFTP_KEYS_DIR, "sftp_units": SFTP_UNIT_PREFIX,
             "staging_auth_dir": STAGING_AUTH_DIR, "composer_cache_root": COMPOSER_CACHE_ROOT,
             "site_state_root": SITE_STATE_ROOT}
    audit = audit_context(inv, server)
    update = {**tools, "restore": RESTORE, "code_tool": CODE, "audit": AUDIT,
              "state_root": SITE_STATE_ROOT, "hook_root": TEST_HOOK_ROOT,
              "php_cli_root": PHP_CLI_ROOT,
              "wp_upgrader": WP_UPGRADER, "opcache_revalidate_s": OPCACHE_REVALIDATE_S,
              "drush_steps": update_drush_steps(inv, server)}
    return (
        SiteFile(AUDIT, "usr/local/sbin/koumbit-site-audit.j2", "700", context=audit),
        SiteFile(AUDIT_CONFIG, "etc/koumbit/site-audit.json.j2", "644", context=audit),
        SiteFile(f"/etc/systemd/system/{AUDIT_UNIT}.service",
                 "etc/systemd/system/koumbit-site-audit.service.j2", "644", context=audit),
        SiteFile(f"/etc/systemd/system/{AUDIT_UNIT}.timer",
                 "etc/systemd/system/koumbit-site-audit.timer.j2", "644", context=audit),
        SiteFile(SITE_LIB, "usr/local/lib/koumbit/site-lib.sh.j2", "600", context=tools),
        SiteFile(ARCHIVE, "usr/local/sbin/koumbit-site-archive.j2", "700", context=tools),
        SiteFile(REMOVE, "usr/local/sbin/koumbit-site-remove.j2", "700", context=tools),
        SiteFile(RESTORE, "usr/local/sbin/koumbit-site-restore.j2", "700", context=tools),
        SiteFile(IMPORT, "usr/local/sbin/koumbit-site-import.j2", "700", context=tools),
        SiteFile(CODE, "usr/local/sbin/koumbit-site-code.j2", "700", context={
            **tools, "sites": [s for s in layouts(inv, server) if s.state is not SiteState.ABSENT],
            "wordpress_source": inv.settings.codebases.wordpress_source,
            "composer_home": COMPOSER_HOME, "composer_cache_root": COMPOSER_CACHE_ROOT,
            "composer": COMPOSER, "search_path": CODE_SEARCH_PATH}),
        SiteFile(f"{COMPOSER_HOME}/config.json", "etc/koumbit/composer/config.json.j2", "644",
                 context={"config": composer_config(inv.settings.codebases.composer_repositories)}),
        SiteFile(UPDATE, "usr/local/sbin/koumbit-site-update.j2", "700", context=update),
        SiteFile(f"{MAINTENANCE_ROOT}/503.html", "var/www/koumbit-maintenance/503.html.j2", "644"),
        SiteFile(WP_INSTALLER, "usr/local/lib/koumbit/wp-install.php.j2", "644"),
        SiteFile(WP_REPLACE_URL, "usr/local/lib/koumbit/wp-replace-url.php.j2", "644"),
        SiteFile(WP_UPGRADER, "usr/local/lib/koumbit/wp-upgrade.php.j2", "644"),
    )


def composer_config(repositories: tuple[str, ...]) -> str:
    """composer's global configuration (JSON): the inventory's repositories in order, and
    packagist only when listed there (composer adds it otherwise)."""
    listed: list[dict[str, Any]] = [{"type": "composer", "url": url} for url in repositories]
    return json.dumps({"repositories": [*listed, {"packagist.org": False}],
                       "config": {"secure-http": True}}, indent=4, sort_keys=True) + "\n"


def site_files(site: SiteLayout) -> tuple[SiteFile, ...]:
    """The files of one site that is not absent; a disabled site keeps all but its pool."""
    ctx = {"site": site, "maintenance_root": MAINTENANCE_ROOT, "wp_salt_keys": WP_SALT_KEYS,
           "staging_robots": STAGING_ROBOTS}
    if site.cms is Cms.DRUPAL:
        ctx |= {"drush_path": drush_path(site), "drush_cron": shlex.join(drush_argv(site, "cron"))}
    config = ("srv/sites/wp-config.php.j2" if site.cms is Cms.WORDPRESS
              else "srv/sites/settings.php.j2")
    out = [
        # Root writes the site's wiring; the site may read it, never change it.
        SiteFile(site.config_file, config, "640", "root", site.name, ctx),
        SiteFile(site.vhost_file, "etc/nginx/sites-available/site.conf.j2", "644", context=ctx),
        SiteFile(f"/etc/systemd/system/{site.cron_unit}.service",
                 "etc/systemd/system/koumbit-site-cron.service.j2", "644", context=ctx),
        SiteFile(f"/etc/systemd/system/{site.cron_unit}.timer",
                 "etc/systemd/system/koumbit-site-cron.timer.j2", "644", context=ctx),
        SiteFile(site.php_cli_ini, "etc/koumbit/php-cli/site.ini.j2", "644", context=ctx),
        # Empty: only its lock matters. The site may take it (its cron does), no other can.
        SiteFile(site.lock_file, "var/lib/koumbit/site-locks/site.lock.j2", "640", "root",
                 site.name, ctx),
    ]
    if site.state is SiteState.ACTIVE:
        out.append(SiteFile(site.pool_file, "etc/php/fpm/pool.d/site.conf.j2", "644",
                            context=ctx))
    return tuple(out)


def removed_paths(site: SiteLayout) -> tuple[str, ...]:
    """What must not exist for the site's state (its pool, once disabled)."""
    if site.state is SiteState.DISABLED:
        return (site.pool_file,)
    return ()


def links(site: SiteLayout) -> dict[str, str]:
    """Symbolic links ``path -> target`` that root makes, each in a root-owned folder."""
    out = {site.vhost_link: site.vhost_file}
    if site.cms is Cms.DRUPAL:
        out[f"{site.drupal_dir}/files"] = site.files
    return out


def site_links(site: SiteLayout) -> dict[str, str]:
    """Links inside the site's own code, made by the site's user (never by root): the
    uploads folder, and Drupal's ``sites/default`` pointing at root's settings folder."""
    if site.cms is Cms.WORDPRESS:
        return {f"{site.web}/wp-content/uploads": site.files}
    return {f"{site.docroot}/sites/default": site.drupal_dir}


def legacy_paths(site: SiteLayout) -> tuple[str, ...]:
    """Root-owned files an earlier layout left inside the site's code, where they would
    override the current ones (WordPress reads web/wp-config.php before ../wp-config.php)."""
    if site.cms is Cms.WORDPRESS:
        return (f"{site.web}/wp-config.php",)
    return ()
