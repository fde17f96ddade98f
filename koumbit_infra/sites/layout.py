"""Where everything of one site lives and who owns it, derived from the inventory once.

Templates and operations read these finished values; nothing is computed in Jinja.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from koumbit_infra.inventory import Cms, Inventory, PlacedSite, SiteState
from koumbit_infra.releases import Php, Release
from koumbit_infra.tls import cert_dir

SITES_ROOT = "/srv/sites"
NGINX_USER = "www-data"
MAINTENANCE_ROOT = "/var/www/koumbit-maintenance"
WP_INSTALLER = "/usr/local/lib/koumbit/wp-install.php"
# Tells a copied WordPress its new address (read by the site's PHP on its standard input).
WP_REPLACE_URL = "/usr/local/lib/koumbit/wp-replace-url.php"
# Written by deploys/backups.py on every backup client: restic with this server's repository.
RESTIC = "/usr/local/sbin/koumbit-restic"
ARCHIVE = "/usr/local/sbin/koumbit-site-archive"
REMOVE = "/usr/local/sbin/koumbit-site-remove"
RESTORE = "/usr/local/sbin/koumbit-site-restore"
DUMP_ROOT = "/var/backups/koumbit/sites"
# Shell functions the site tools share (lock, pool stop/start, content check, scratch).
SITE_LIB = "/usr/local/lib/koumbit/site-lib.sh"
IMPORT = "/usr/local/sbin/koumbit-site-import"
# Installs or updates a site's core code, as the site's user (koumbit-site-code SITE [VERSION]).
CODE = "/usr/local/sbin/koumbit-site-code"
# composer's home on the web servers: root's, holding only the repositories it reads
# (settings.codebases); each site's composer cache is its own folder under the cache
# root, outside the site's tree and anything nginx serves (and out of the backups).
COMPOSER_HOME = "/etc/koumbit/composer"
COMPOSER_CACHE_ROOT = "/var/cache/koumbit/composer"
# Debian's composer, run by the site's own PHP (its CLI) so that it resolves for that PHP.
COMPOSER = "/usr/bin/composer"
# The only programs a site's code step finds (composer, curl, tar, rsync, sha256sum).
CODE_SEARCH_PATH = "/usr/bin:/bin"
# The whole update around koumbit-site-code: snapshot, code, database, smoke test, rollback.
UPDATE = "/usr/local/sbin/koumbit-site-update"
# WordPress's own database upgrade (wp_upgrade), read by the site's PHP on its standard input.
WP_UPGRADER = "/usr/local/lib/koumbit/wp-upgrade.php"
# One lock per site (root:<site> 0640, in a root-owned folder): taken by deploys, the
# site commands and the site's own cron timer, so none of them interleave.
# root-owned 0755: each site's cron, run as the site, reaches its lock through it.
STATE_ROOT = "/var/lib/koumbit"
LOCK_ROOT = f"{STATE_ROOT}/site-locks"
# What each site runs and is exposed to, per site: audit.json (koumbit-site-audit) and
# update.json (site update), root's, read by the exporter and `sites status`.
SITE_STATE_ROOT = f"{STATE_ROOT}/sites"
AUDIT = "/usr/local/sbin/koumbit-site-audit"
AUDIT_CONFIG = "/etc/koumbit/site-audit.json"
AUDIT_UNIT = "koumbit-site-audit"
# The audit's scratch (0711): each site's lock and our composer.json, for composer run
# as an unprivileged user in a folder of its own.
AUDIT_WORK = f"{STATE_ROOT}/audit-work"
# Faults the lab tests ask for (<site>.update-fail, made by root only): never in a site's tree.
TEST_HOOK_ROOT = f"{STATE_ROOT}/test-hooks"
# Root-only scratch on the sites' file system, so a restored tree is swapped in by rename.
WORK_ROOT = f"{SITES_ROOT}/.koumbit-work"
# The PHP settings a site's CLI PHP reads (cron, ``koumbit-infra run``), like its pool's.
PHP_CLI_ROOT = "/etc/koumbit/php-cli"
# Where each pool's sockets are (<site>.sock, <site>.status.sock).
FPM_RUN_DIR = "/run/php"
# Each pool's status socket, and the path its status page answers on (the
# exporter asks it over FastCGI; {system_name} is the site's).
FPM_STATUS_SOCKET = f"{FPM_RUN_DIR}/{{system_name}}.status.sock"
FPM_STATUS_PATH = "/fpm-status"
# nginx's logs of each site: <site>.access.log (read by the exporter), <site>.error.log.
SITE_LOG_ROOT = "/var/log/nginx/sites"
# Their rotation (Debian's own rotation of nginx's logs does not reach that folder).
SITE_LOGROTATE = "/etc/logrotate.d/koumbit-sites"
# The cgroup v2 slice, under /sys/fs/cgroup, where a site's processes are
# counted when it exists; no deploy makes one yet, so the exporter counts the
# site user's processes instead.
SITE_CGROUP = "koumbit.slice/koumbit-sites.slice/koumbit-sites-{system_name}.slice"
# What a site's PHP may never call, in FPM and on the command line alike.
PHP_DISABLED_FUNCTIONS = "exec,passthru,shell_exec,system,proc_open,popen,pcntl_exec"
# Touched before any configuration change, removed after nginx, PHP-FPM and
# systemd have reloaded: a run killed in between reloads on the next run.
RELOAD_PENDING = "/run/koumbit-sites/reload-pending"
CRON_PERIOD_MIN = 15
# Staging copies' HTTP basic auth files, <site>.htpasswd (root:www-data 0640): nginx reads
# them, no site's user can (none is in group www-data).
STAGING_AUTH_DIR = "/etc/nginx/koumbit-staging"
STAGING_USER = "staging"
# What every answer of a staging copy says to search engines.
STAGING_ROBOTS = "noindex, nofollow"
# Rights a CMS needs on its own database, and nothing on any other one.
DB_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX",
                 "CREATE TEMPORARY TABLES", "LOCK TABLES", "REFERENCES")


@dataclass(frozen=True)
class Directory:
    path: str
    owner: str
    group: str
    mode: str

    def settled(self, mode: str, hardened: bool = False) -> bool:
        """Whether a folder now of ``mode`` needs no chmod: exactly this mode, or with
        ``hardened`` (a folder the site owns) this mode less write bits, as Drupal's status
        check leaves its folders (0755 -> 0555); never a bit more, never a read bit less."""
        if mode == self.mode:
            return True
        now, wanted = int(mode, 8), int(self.mode, 8)
        readable = wanted & 0o7555
        return hardened and now & ~wanted == 0 and now & readable == readable


@dataclass(frozen=True)
class SiteLayout:
    """One site on its server: names, paths, pool sizing, schedule."""

    placed: PlacedSite
    php_version: str
    max_children: int
    memory_limit_mib: int
    title: str
    admin_email: str
    # The Debian release of the site's server: its PHP, nginx and paths follow it.
    release: Release

    @classmethod
    def of(cls, inv: Inventory, placed: PlacedSite) -> SiteLayout:
        plan = inv.plan(placed.client.plan)
        return cls(placed=placed, php_version=inv.php_version(placed.site),
                   max_children=plan.php_workers, memory_limit_mib=plan.php_memory_limit_mib,
                   title=placed.site.title or placed.client.name,
                   admin_email=placed.client.contact.email,
                   release=inv.server(placed.site.server).release)

    @property
    def php(self) -> Php:
        """The site's PHP as its server's release packages it (FPM, paths, CLI)."""
        return Php(self.php_version)

    # --- identity -----------------------------------------------------------
    @property
    def name(self) -> str:
        return self.placed.site.system_name

    @property
    def domain(self) -> str:
        return self.placed.site.domain

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.placed.site.aliases

    @property
    def cms(self) -> Cms:
        return self.placed.site.cms

    @property
    def state(self) -> SiteState:
        return self.placed.site.state

    @property
    def tls(self) -> bool:
        return self.placed.site.tls

    @property
    def staging_of(self) -> str | None:
        """The domain of the site this one is the staging copy of (None: a site of its own)."""
        of = self.placed.staging_of
        return of.domain if of is not None else None

    @property
    def htpasswd_file(self) -> str:
        """A staging copy's HTTP basic auth file (credentials made on the server)."""
        return f"{STAGING_AUTH_DIR}/{self.name}.htpasswd"

    @property
    def staging_marker(self) -> str:
        """Written by root once production was copied into this staging copy (root's
        folder: the site cannot forge it)."""
        return f"{self.secrets_dir}/staging-copied"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.domain}"

    @property
    def listen(self) -> str:
        """What the vhost's ``listen`` says: HTTPS with HTTP/2 on the old syntax where
        the release's nginx needs it, or plain HTTP."""
        if not self.tls:
            return "80"
        return "443 ssl" if self.release.nginx_http2_directive else "443 ssl http2"

    @property
    def http2_directive(self) -> bool:
        """Whether the vhost turns HTTP/2 on with ``http2 on;`` (nginx 1.25.1 and later)."""
        return self.tls and self.release.nginx_http2_directive

    # --- tree -----------------------------------------------------------------
    @property
    def root(self) -> str:
        return f"{SITES_ROOT}/{self.name}"

    @property
    def web(self) -> str:
        return f"{self.root}/web"

    @property
    def docroot(self) -> str:
        """Served folder: the code itself for WordPress, composer's web/ for Drupal."""
        return self.web if self.cms is Cms.WORDPRESS else f"{self.web}/web"

    @property
    def files(self) -> str:
        return f"{self.root}/files"

    @property
    def tmp(self) -> str:
        return f"{self.root}/tmp"  # noqa: S108 (the site's own 0700 folder, not /tmp)

    @property
    def sessions(self) -> str:
        return f"{self.root}/sessions"

    @property
    def logs(self) -> str:
        return f"{self.root}/logs"

    @property
    def php_error_log(self) -> str:
        """Where the site's PHP (its pool and its CLI) logs errors: in its own folder,
        so the site may swap it for anything; read it only as the site."""
        return f"{self.logs}/php-error.log"

    @property
    def secrets_dir(self) -> str:
        return f"{self.root}/secrets"

    @property
    def secrets_file(self) -> str:
        """INI file of the site's secrets, made on the server (root:site 0640)."""
        return f"{self.secrets_dir}/site.ini"

    @property
    def installed_marker(self) -> str:
        """Written by root once the CMS's installer succeeded."""
        return f"{self.secrets_dir}/installed"

    @property
    def drupal_dir(self) -> str:
        """Drupal's ``sites/default``: root's folder outside the code, linked from it."""
        return f"{self.root}/drupal"

    @property
    def directories(self) -> tuple[Directory, ...]:
        """The folders root makes, parents first, all in root-owned parents.

        The site's root is root's, so the site can never swap what is in it;
        nginx (group www-data) may traverse it, the site's user only passes
        through (o+x) to its own folders, which no other site may enter.
        Secrets, and Drupal's settings folder, are root's and readable by the site.
        The uploads folder is setgid: what the site makes in it belongs to group
        www-data, so nginx serves a folder WordPress made by copying its parent's
        mode (2750) as it serves the uploads folder itself.
        """
        n = self.name
        out = [
            Directory(self.root, "root", NGINX_USER, "751"),
            Directory(self.web, n, NGINX_USER, "750"),
            Directory(self.files, n, NGINX_USER, "2750"),
            Directory(self.tmp, n, n, "700"),
            Directory(self.sessions, n, n, "700"),
            Directory(self.logs, n, n, "750"),
            Directory(self.secrets_dir, "root", n, "750"),
        ]
        if self.cms is Cms.DRUPAL:
            out.append(Directory(self.drupal_dir, "root", NGINX_USER, "751"))
        return tuple(out)

    @property
    def config_sync(self) -> str:
        """Drupal's ``config_sync_directory``: in its composer project, beside (not under) the
        served web/, where ``drush config:export`` writes as the site. Drupal's installer
        takes the deploy's settings.php as finished only once this folder exists."""
        return f"{self.web}/config/sync"

    @property
    def site_directories(self) -> tuple[Directory, ...]:
        """Folders inside the site's own folders: made by the site's user, never by root."""
        n = self.name
        if self.cms is not Cms.DRUPAL:
            return ()
        return (Directory(f"{self.docroot}/sites", n, n, "755"),
                Directory(f"{self.files}/private", n, n, "700"),
                Directory(self.config_sync, n, n, "700"))

    @property
    def lock_file(self) -> str:
        return f"{LOCK_ROOT}/{self.name}.lock"

    @property
    def php_cli_ini(self) -> str:
        """The site's CLI PHP settings, found through ``PHP_INI_SCAN_DIR``."""
        return f"{PHP_CLI_ROOT}/{self.name}/site.ini"

    @property
    def php_cli_env(self) -> str:
        """``PHP_INI_SCAN_DIR``: PHP's own folder first (leading ':'), then the site's."""
        return f":{PHP_CLI_ROOT}/{self.name}"

    @property
    def cli_env(self) -> dict[str, str]:
        """The environment of every command run as the site (its timer, ``koumbit-infra run``,
        drush): its own tmp, its pool's PHP limits, and for Drupal its address, which drush
        otherwise takes to be ``http://default`` in every link it makes (``drush uli``).
        DRUSH_OPTIONS_URI is drush's name for ``--uri``; DRUPAL_URI the one later drush and
        core's own ``dr`` read."""
        env = {"TMPDIR": self.tmp, "PHP_INI_SCAN_DIR": self.php_cli_env}
        if self.cms is Cms.DRUPAL:
            env |= {"DRUSH_OPTIONS_URI": self.url, "DRUPAL_URI": self.url}
        return env

    @property
    def php_open_basedir(self) -> str:
        return f"{self.root}/:/usr/share/php/:/dev/urandom"

    @property
    def php_disabled_functions(self) -> str:
        return PHP_DISABLED_FUNCTIONS

    # --- services -------------------------------------------------------------
    @property
    def pool_file(self) -> str:
        return self.php.pool_file(self.name)

    @property
    def fpm_socket(self) -> str:
        return f"{FPM_RUN_DIR}/{self.name}.sock"

    @property
    def fpm_status_socket(self) -> str:
        return FPM_STATUS_SOCKET.format(system_name=self.name)

    @property
    def fpm_status_path(self) -> str:
        return FPM_STATUS_PATH

    @property
    def fpm_service(self) -> str:
        return self.php.fpm_service

    @property
    def vhost_file(self) -> str:
        return f"/etc/nginx/sites-available/{self.name}.conf"

    @property
    def vhost_link(self) -> str:
        return f"/etc/nginx/sites-enabled/{self.name}.conf"

    @property
    def access_log(self) -> str:
        return f"{SITE_LOG_ROOT}/{self.name}.access.log"

    @property
    def error_log(self) -> str:
        return f"{SITE_LOG_ROOT}/{self.name}.error.log"

    @property
    def cert_dir(self) -> str:
        return cert_dir(self.name)

    @property
    def cron_unit(self) -> str:
        return f"koumbit-site-{self.name}"

    @property
    def cron_minute(self) -> int:
        """Minute offset in the period, from a hash of the name: stable and spread out."""
        digest = hashlib.sha256(self.name.encode()).digest()
        return int.from_bytes(digest[:4], "big") % CRON_PERIOD_MIN

    @property
    def cron_calendar(self) -> str:
        return f"*-*-* *:{self.cron_minute:02d}/{CRON_PERIOD_MIN}:00"

    @property
    def config_file(self) -> str:
        """The CMS's own configuration, generated from the inventory."""
        if self.cms is Cms.WORDPRESS:
            # WordPress reads wp-config.php one folder above its code when the code
            # has none: there it sits in root's folder, where the site cannot swap it.
            return f"{self.root}/wp-config.php"
        return f"{self.drupal_dir}/settings.php"

    @property
    def code_marker(self) -> str:
        """A file present once the codebase is in place."""
        if self.cms is Cms.WORDPRESS:
            return f"{self.web}/wp-includes/version.php"
        return f"{self.docroot}/index.php"

    @property
    def trusted_host_patterns(self) -> tuple[str, ...]:
        """Drupal's trusted_host_patterns: each domain, anchored and escaped."""
        return tuple("^" + d.replace(".", "\\.") + "$" for d in self.placed.site.all_domains)

    @property
    def db_privileges(self) -> str:
        return ", ".join(DB_PRIVILEGES)
