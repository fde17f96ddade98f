"""Web servers: hardened nginx with a default server that refuses unknown hosts,
and PHP-FPM for each PHP version the inventory offers, OPcache sized from memory.

Sites (deploys/sites.py) add their own vhosts and pools on top of this.
Runnable alone: ``pyinfra inventory/lab.py deploys/web.py``.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.context import host
from pyinfra.operations import files, systemd

from koumbit_infra.converge import converge, need, ran
from koumbit_infra.deploykit import current, write, write_all
from koumbit_infra.inventory import Role
from koumbit_infra.operations import packages, services
from koumbit_infra.serverconf.files import ConfigFile, web_config
from koumbit_infra.sites.layout import SITE_LOG_ROOT, SITE_LOGROTATE
from koumbit_infra.templating import TEMPLATE_DIR
from koumbit_infra.tls.certbot import ACME_WEBROOT

# Written by the exporter: the access-log format every site's vhost uses.
LOG_FORMAT = "etc/nginx/conf.d/koumbit-log-format.conf.j2"
SITE_LOGROTATE_TEMPLATE = "etc/logrotate.d/koumbit-sites.j2"


@deploy("Web: nginx")
def nginx() -> None:
    _, srv = current()
    need(packages.installed, name="nginx package", packages=["nginx"])
    cfgs = list(web_config(srv).nginx)
    changed = write_all(cfgs)
    paths = [c.dest for c in cfgs]
    if (TEMPLATE_DIR / LOG_FORMAT).exists():
        paths.append("/etc/nginx/conf.d/koumbit-log-format.conf")
        changed.append(write(ConfigFile("nginx", LOG_FORMAT,
                                        "/etc/nginx/conf.d/koumbit-log-format.conf", "644",
                                        {"server": srv})))
    changed.append(need(files.link, name="nginx: default server enabled",
                        path="/etc/nginx/sites-enabled/000-default.conf",
                        target="/etc/nginx/sites-available/000-default.conf"))
    # Debian's welcome site would answer for any host name.
    changed.append(need(files.link, name="nginx: Debian default site removed",
                        path="/etc/nginx/sites-enabled/default", present=False))
    need(files.directory, name="nginx: per-site log dir", path=SITE_LOG_ROOT,
         user="root", group="adm", mode="750")
    # Debian's rotation of nginx's logs does not reach the per-site folder.
    need(packages.installed, name="nginx: logrotate package", packages=["logrotate"])
    write(ConfigFile("logrotate", SITE_LOGROTATE_TEMPLATE, SITE_LOGROTATE, "644",
                     {"log_root": SITE_LOG_ROOT}))
    need(files.directory, name="nginx: ACME challenge root", path=ACME_WEBROOT,
         user="root", group="root", mode="755")
    need(services.refreshed, name="nginx: reload for its new config", service="nginx",
         files=paths, changes=ran(*changed), check="nginx -t -q")
    need(systemd.service, name="nginx: running", service="nginx", running=True, enabled=True)


@deploy("Web: PHP-FPM")
def php_fpm() -> None:
    _, srv = current()
    php = web_config(srv).php
    for fpm in host.loop(list(srv.php)):
        need(packages.installed, name=f"PHP {fpm.version} packages", packages=list(fpm.packages))
        cfgs = list(php[fpm.version])
        changed = write_all(cfgs)
        # One pool shared by every site would let sites read each other's files.
        changed.append(need(files.file, name=f"PHP {fpm.version}: Debian www pool removed",
                            path=fpm.pool_file("www"), present=False))
        need(services.refreshed, name=f"PHP {fpm.version}: reload for its new config",
             service=fpm.fpm_service, files=[c.dest for c in cfgs],
             changes=ran(*changed), check=fpm.fpm_check)
        need(systemd.service, name=f"PHP {fpm.version}: running", service=fpm.fpm_service,
             running=True, enabled=True)


@deploy("Web")
def web() -> None:
    _, srv = current()
    if srv.has(Role.WEB):
        nginx()
        php_fpm()


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(web)
