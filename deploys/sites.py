"""Sites: every site of a web server converged from the inventory, isolated from the others.

Per site: Unix user and tree, secret file made on the server, database and user, codebase
(koumbit-site-code, from settings.codebases' sources, as the site's user; the same in the
lab, whose sources the lab host serves), CMS configuration, PHP-FPM pool, nginx vhost with
its certificate, cron timer; a staging copy (a site's ``staging:``) is a site like any
other, with HTTP basic auth (its password file made on the server) and ``X-Robots-Tag:
noindex, nofollow`` on its vhost. ``disabled`` keeps everything but the pool and serves a
maintenance page (bilingual); ``absent`` sites are archived, the archive verified, and
only then removed (koumbit-site-remove, from templates/usr/local/sbin/).
All decisions read one batched fact gathered once per host.
Runnable alone: ``pyinfra inventory/lab.py deploys/sites.py --limit web1``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pyinfra.api.deploy import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.operations import files, server, systemd

from koumbit_infra.converge import call, converge, need, need_now, surveying
from koumbit_infra.deploykit import current
from koumbit_infra.facts.services import STAMP_DIR
from koumbit_infra.inventory import Cms, Role, SiteState
from koumbit_infra.operations import packages, services
from koumbit_infra.operations import sites as ops
from koumbit_infra.operations import tls as tls_ops
from koumbit_infra.sites.files import (
    layouts,
    legacy_paths,
    links,
    removed_paths,
    server_files,
    site_files,
    site_links,
)
from koumbit_infra.sites.layout import (
    AUDIT_UNIT,
    CODE,
    COMPOSER_HOME,
    LOCK_ROOT,
    RELOAD_PENDING,
    REMOVE,
    STATE_ROOT,
    WP_INSTALLER,
    SiteLayout,
)
from koumbit_infra.tls.certbot import NGINX_STAMP

# What koumbit-site-code runs on a web server: composer (and unzip, for its zip dists),
# curl for the WordPress releases.
CODE_PACKAGES = ["composer", "unzip", "curl"]


def _watched_paths(site: SiteLayout) -> list[str]:
    """Every path the site operations decide on, for the batched fact."""
    paths = [d.path for d in (*site.directories, *site.site_directories)]
    paths += [f.dest for f in site_files(site)] + list(links(site)) + list(site_links(site))
    paths += list(legacy_paths(site))
    if site.tls:  # certbot's link (or a placeholder, an older CA's file), a failed try
        paths += [f"{site.cert_dir}/fullchain.pem", tls_ops.failure_mark(site.name)]
    paths += [site.access_log, site.error_log]
    paths += [site.secrets_file, site.code_marker, site.installed_marker, site.pool_file,
              site.fpm_socket, site.fpm_status_socket, *removed_paths(site)]
    if site.staging_of:
        paths.append(site.htpasswd_file)
    return paths


def _codebase(site: SiteLayout) -> None:
    """The site's code from settings.codebases, lab and production alike."""
    d, need = site.domain, need_now
    need(ops.site_code, name=f"{d}: {site.cms.value} code ({CODE} {site.name})", site=site,
         tool=CODE)
    if site.cms is Cms.DRUPAL:
        need(ops.site_directories, name=f"{d}: Drupal sites/, private files (as the site)",
             site=site, dirs=list(site.site_directories))


def _one_site(site: SiteLayout, acme_host: str) -> list[OperationMeta]:
    """Converge one site; answers the operations that may need reloads.

    Only operations with something to do are called (``need_now``), so a
    converged site costs a no-change run nothing but its lines in the fact.
    """
    d, need = site.domain, need_now
    need(ops.user, name=f"{d}: user {site.name}", site=site.name, home=site.root)
    need(ops.directories, name=f"{d}: tree under {site.root}", dirs=list(site.directories),
         site=site)
    need(ops.log_files, name=f"{d}: its nginx logs, readable by its group", site=site)
    need(ops.secrets, name=f"{d}: secrets made on the server", site=site)
    if site.staging_of:
        need(ops.staging_credentials, name=f"{d}: password of the staging copy of"
             f" {site.staging_of} (made on the server)", path=site.htpasswd_file)
    need(ops.database, name=f"{d}: database and user, rights on its own database only",
         site=site)
    _codebase(site)
    metas = [
        need(ops.files_written, name=f"{d}: configuration, vhost, pool, timer",
             files=list(site_files(site))),
        need(ops.links, name=f"{d}: vhost enabled", links=links(site)),
        need(ops.site_links, name=f"{d}: links in its code (as the site)", site=site,
             links=site_links(site)),
        need(ops.legacy_removed, name=f"{d}: wiring of an earlier layout removed", site=site,
             paths=list(legacy_paths(site))),
        need(ops.paths_removed, name=f"{d}: pool stopped while disabled",
             paths=list(removed_paths(site))),
    ]
    # Certificates were read with the batched fact: the ACME server is asked only when
    # one is missing, due, not certbot's, or names other domains than the inventory's.
    if site.tls and ops.certificate_needed(site):
        metas.append(call(tls_ops.issued, name=f"{d}: certificate from {acme_host}",
                          cert_name=site.name, domains=list(site.placed.site.all_domains),
                          failed_before=ops.certificate_failed(site)))
    if site.cms is Cms.WORDPRESS:
        need(ops.wordpress_installed, name=f"{d}: WordPress installed (its own installer)",
             site=site, installer=WP_INSTALLER)
    else:
        need(ops.drupal_installed, name=f"{d}: Drupal installed (drush site:install)", site=site)
    return [m for m in metas if m is not None]


@deploy("Sites")
def sites() -> None:
    inv, srv = current()
    if not srv.has(Role.WEB):
        return
    every = layouts(inv, srv)
    live = [s for s in every if s.state is not SiteState.ABSENT]
    gone = [s for s in every if s.state is SiteState.ABSENT]
    if not every:
        return
    if srv.database_host != srv.name:
        raise DeployError(f"{srv.name}: sites whose database is on another server"
                          f" ({srv.database_host}) are not supported yet")
    ops.sites_state(names=[s.name for s in every],
                    paths=[p for s in live for p in _watched_paths(s)]
                    + [p for s in gone for p in (s.root, s.vhost_file, s.vhost_link, s.pool_file)]
                    + [f.dest for f in server_files(inv, srv)] + [RELOAD_PENDING],
                    timers=[f"{s.cron_unit}.timer" for s in live] + [f"{AUDIT_UNIT}.timer"],
                    certificates=[f"{s.cert_dir}/fullchain.pem" for s in live if s.tls])
    # Each site's cron opens its lock as the site's user: the folders on the way must let
    # it through (a recovery run before this deploy once left /var/lib/koumbit 0700).
    # composer, run as each site by koumbit-site-code, reads its repositories in
    # COMPOSER_HOME (Debian 13's root sessions make folders 0750: umask 027).
    for path in (STATE_ROOT, LOCK_ROOT, "/etc/koumbit", COMPOSER_HOME):
        need(files.directory, name=f"Sites: {path}", path=path, user="root", group="root",
             mode="755")
    # rsync: koumbit-site-restore puts a tree back exactly (files made since removed).
    need(packages.installed, name="Sites: rsync package", packages=["rsync"])
    if live:
        need(packages.installed, name="Sites: composer, unzip and curl (koumbit-site-code)",
             packages=CODE_PACKAGES)
    shared = need_now(ops.files_written,
                      name="Sites: maintenance page, WordPress installer, site tools, composer's"
                           " repositories, advisory audit and its timer",
                      files=list(server_files(inv, srv)))
    if surveying():
        # The site operations read only the batched sites fact above: nothing more to
        # survey, and rendering every site's files again would cost each pass.
        _renewed_certificates_served(live)
        return
    for site in host.loop(gone):
        need_now(ops.absent,
                        name=f"{site.domain}: absent (archived, archive verified, then removed)",
                        site=site, remover=REMOVE)
    # Reloads happen when something changed in this run (decided at run time),
    # or when a killed earlier run left its reload-pending mark.
    # A new or changed audit timer is read by systemd's reload below.
    changed: list[OperationMeta] = [shared] if shared is not None else []
    for site in host.loop(live):
        changed += _one_site(site, urlsplit(inv.settings.acme_directory).netloc)
    pending = ops.reload_pending()
    found = [m for m in changed if m is not None]
    # Reloads are called only when something may have changed; whether it did
    # is decided when they run.
    reloads = call if pending or found else _skip

    def reload() -> bool:
        return pending or any(m.did_change() for m in found)

    for php in host.loop(sorted({s.php for s in live})):
        reloads(server.shell, name=f"Sites: PHP {php.version} configuration checked",
                commands=[php.fpm_check], _if=reload)
        # A reload starts new pools and stops the pools whose file is gone.
        reloads(systemd.service, name=f"Sites: PHP {php.version} reloaded",
                service=php.fpm_service, reloaded=True, _if=reload)
        sockets = [p for s in live if s.php == php and s.state is SiteState.ACTIVE
                   for p in (s.fpm_socket, s.fpm_status_socket)]
        need_now(ops.sockets_current, name=f"Sites: PHP {php.version} sockets as configured",
                 service=php.fpm_service, sockets=sockets)
    reloads(server.shell, name="Sites: nginx configuration checked", commands=["nginx -t -q"],
            _if=reload)
    reloads(systemd.service, name="Sites: nginx reloaded", service="nginx", reloaded=True,
            _if=reload)
    reloads(systemd.daemon_reload, name="Sites: systemd reads the timers", _if=reload)
    # The stamp tells the check below (and web's) that nginx has read what is on disk now.
    reloads(server.shell, name="Sites: reloads done",
            commands=[f"rm -f {RELOAD_PENDING}", f"mkdir -p {STAMP_DIR} && touch {NGINX_STAMP}"],
            _if=reload)
    _renewed_certificates_served(live)
    for site in host.loop(live):
        need_now(ops.timer, name=f"{site.domain}: cron timer",
                        unit=f"{site.cron_unit}.timer", active=site.state is SiteState.ACTIVE)
    need_now(ops.timer, name="Sites: advisory audit timer", unit=f"{AUDIT_UNIT}.timer",
             active=True)


def _renewed_certificates_served(live: list[SiteLayout]) -> None:
    """nginx reloads when a certificate is newer than its last reload: one certbot renewed
    in a run cut off before its hook reloaded nginx, served now rather than at some later
    change (the sites' own reloads and the hook's touch the stamp it compares with)."""
    certificates = [f"{s.cert_dir}/fullchain.pem" for s in live if s.tls]
    if certificates:
        need(services.refreshed, name="Sites: nginx serves the certificates renewed since",
             service="nginx", files=certificates, changes=[], check="nginx -t -q")


def _skip(op: Any, **kwargs: Any) -> None:
    """Not called: nothing changed and no earlier run left a reload pending."""


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(sites)
