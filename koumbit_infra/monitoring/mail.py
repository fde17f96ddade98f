"""The monitoring servers' mail: Debian's exim4 (daemon-light) on the loopback, so that
Alertmanager hands its e-mails to 127.0.0.1:25 and a real MTA delivers them.

One code path; the inventory's ``alerting:`` decides where mail goes:

- ``smarthost`` given (production): exim relays all mail for other domains through it
  (Debian's ``dc_eximconfig_configtype='smarthost'``, port written ``host::port``). The
  relay must accept the monitoring server's mail by its address: no password is kept.
- no ``smarthost``: exim delivers to each domain's own mail server (``'internet'``).
- ``local_domains`` (the lab's ``koumbit-lab.test``): exim keeps their mail
  (``dc_other_hostnames``), and every address of them is an alias of the system user
  ``alertes`` (home ``/var/lib/alertes``), whose mailbox ``/var/mail/alertes`` (mbox)
  the lab tests read.

exim listens on 127.0.0.1 only (``dc_local_interfaces``): no other machine can send
through it, so the firewall stays shut. root's own mail (cron, unattended-upgrades) goes
to ``settings.admin_email``. Every value written here is an inventory domain, e-mail
address or ``host[:port]``, validated to letters, digits and ``.-_+`` (no quote, space or
line break can reach these shell-sourced files).
"""

from __future__ import annotations

from dataclasses import dataclass

from koumbit_infra.inventory import Inventory
from koumbit_infra.serverconf.files import ConfigFile

LISTEN = "127.0.0.1"
SMTP_PORT = 25
EXIM_CONF = "/etc/exim4/update-exim4.conf.conf"
ALIASES = "/etc/aliases"
MAILBOX_USER = "alertes"
MAILBOX = f"/var/mail/{MAILBOX_USER}"
# exim delivers as the user from its home directory: it defers the mail if there is none.
MAILBOX_HOME = f"/var/lib/{MAILBOX_USER}"
# Generates exim's configuration from EXIM_CONF after checking it (exim -bV on a temporary
# copy): a configuration exim refuses never replaces the running one.
CHECK_AND_GENERATE = "update-exim4.conf --check && update-exim4.conf"
# What Debian's exim4-config writes into a new /etc/aliases, kept as it is.
DEBIAN_ALIASES = (
    ("mailer-daemon", "postmaster"), ("postmaster", "root"), ("nobody", "root"),
    ("hostmaster", "root"), ("usenet", "root"), ("news", "root"), ("webmaster", "root"),
    ("www", "root"), ("ftp", "root"), ("abuse", "root"), ("noc", "root"),
    ("security", "root"),
)


@dataclass(frozen=True)
class MailSettings:
    """The values of Debian's update-exim4.conf.conf that the inventory decides."""

    configtype: str
    other_hostnames: str
    smarthost: str
    local_interfaces: str = LISTEN


def mail_settings(inv: Inventory) -> MailSettings:
    alerting = inv.alerting
    relay = ""
    if alerting.smarthost:
        host, _, port = alerting.smarthost.partition(":")
        relay = f"{host}::{port}" if port else host  # Debian's spelling of host:port
    return MailSettings(
        configtype="smarthost" if relay else "internet",
        other_hostnames=":".join(alerting.local_domains),
        smarthost=relay,
    )


def local_addresses(inv: Inventory) -> tuple[str, ...]:
    """Every address of the inventory's mail that the monitoring server keeps, sorted."""
    alerting = inv.alerting
    addresses = {inv.settings.admin_email, alerting.sender or inv.settings.admin_email}
    addresses |= {e for r in alerting.receivers for e in r.emails}
    local = set(alerting.local_domains)
    return tuple(sorted(a for a in addresses if a.rpartition("@")[2] in local))


def aliases(inv: Inventory) -> tuple[tuple[str, str], ...]:
    """/etc/aliases as (name, target) pairs: Debian's, root to the admins, then every local
    part of a local domain's address to the mailbox (one name each, in a stable order)."""
    out = dict(DEBIAN_ALIASES)
    out["root"] = inv.settings.admin_email
    for address in local_addresses(inv):
        local_part = address.rpartition("@")[0].lower()  # exim looks local parts up caselessly
        if local_part != MAILBOX_USER:
            out[local_part] = MAILBOX_USER
    return tuple(out.items())


def mail_files(inv: Inventory) -> tuple[ConfigFile, ...]:
    """Files of the monitoring servers' exim: its Debian settings, then the aliases."""
    return (
        ConfigFile("mail", "etc/exim4/update-exim4.conf.conf.j2", EXIM_CONF, "644",
                   {"mail": mail_settings(inv)}),
        ConfigFile("mail", "etc/aliases.j2", ALIASES, "644",
                   {"aliases": aliases(inv), "mailbox": MAILBOX_USER}),
    )
