"""The monitoring role's alerts reach people: Debian's exim4 delivering mail, and Debian's
Alertmanager routing Prometheus's alerts to the inventory's receivers.

exim listens on the loopback and relays (or, for the lab's local domains, keeps) the
mail (koumbit_infra.monitoring.mail); Alertmanager listens on the loopback too and
sends through it (koumbit_infra.monitoring.alerting). Each configuration is checked by
its own tool (``update-exim4.conf --check``, ``amtool check-config``) before its
service is asked to read it, so a file either refuses never goes live.

Runnable alone: ``pyinfra inventory/lab.py deploys/alerting.py``.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.operations import files, server, systemd

from koumbit_infra.converge import converge, need, ran
from koumbit_infra.deploykit import current, write_all
from koumbit_infra.inventory import Role
from koumbit_infra.monitoring import alerting, mail
from koumbit_infra.operations import packages, services
from koumbit_infra.templating import template_path


@deploy("Monitoring: mail")
def mail_delivery() -> None:
    inv, srv = current()
    if not srv.has(Role.MONITOR):
        return
    rel = srv.release
    need(packages.installed, name="Mail: exim4", packages=[rel.exim_package])
    if inv.alerting.local_domains:
        need(server.group, name=f"Mail: group {mail.MAILBOX_USER}", group=mail.MAILBOX_USER,
             system=True)
        need(  # noqa: S604 (shell= is the login shell, not a subprocess shell)
            server.user,
            name=f"Mail: user {mail.MAILBOX_USER} (the local domains' mailbox)",
            user=mail.MAILBOX_USER,
            group=mail.MAILBOX_USER,
            comment="koumbit alerts (local mailbox)",
            home=mail.MAILBOX_HOME,
            shell="/usr/sbin/nologin",
            system=True,
            ensure_home=False,
        )
        need(files.directory, name=f"Mail: {mail.MAILBOX_HOME}", path=mail.MAILBOX_HOME,
             user=mail.MAILBOX_USER, group=mail.MAILBOX_USER, mode="700")
    settings, _aliases = write_all(mail.mail_files(inv))  # exim reads aliases at each message
    need(services.refreshed, name="Mail: exim4 takes its new settings", service=rel.exim_service,
         files=[mail.EXIM_CONF], changes=ran(settings), action="restart",
         check=mail.CHECK_AND_GENERATE)
    # Debian 12's exim4 is an init script: systemd shows no enabled state for the unit it
    # generates (asking would "enable" it on every run); its package enables it at boot.
    need(systemd.service, name="Mail: exim4 running", service=rel.exim_service, running=True,
         enabled=True if rel.exim_unit_file else None)


@deploy("Monitoring: Alertmanager")
def alertmanager() -> None:
    inv, srv = current()
    if not srv.has(Role.MONITOR):
        return
    service = srv.release.alertmanager_service
    need(packages.installed, name="Alertmanager package",
         packages=[srv.release.alertmanager_package])
    need(files.directory, name=f"Alertmanager: {alerting.TEMPLATES_DIR}",
         path=alerting.TEMPLATES_DIR, user="root", group="root", mode="755")
    # Copied, not rendered: the e-mail template is Alertmanager's own Go template.
    template = need(files.put, name=f"alertmanager: {alerting.EMAIL_TEMPLATE}",
                    src=template_path(alerting.EMAIL_TEMPLATE.lstrip("/")),
                    dest=alerting.EMAIL_TEMPLATE, user="root", group="root", mode="644")
    defaults, config, _amtool = write_all(alerting.alertmanager_files(inv))
    # Command-line flags (listen address, no cluster) are read at start only.
    need(services.refreshed, name="Alertmanager: restart for new flags",
         service=service, files=[alerting.DEFAULTS_DEST], changes=ran(defaults),
         action="restart", check=alerting.CHECK)
    need(services.refreshed, name="Alertmanager: reload routes, receivers and template",
         service=service, files=[alerting.CONFIG_DEST, alerting.EMAIL_TEMPLATE],
         changes=ran(config, template), check=alerting.CHECK)
    need(systemd.service, name="Alertmanager: running", service=service, running=True,
         enabled=True)


@deploy("Monitoring: alerts")
def alerts() -> None:
    mail_delivery()
    alertmanager()


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(alerts)
