"""certbot as the deploys run it: its command lines, checked word by word, and its folders.

One path for lab and production: ``certbot certonly --webroot`` (HTTP-01, the challenge
file written under the default server's ACME location; no certbot plugin edits nginx)
against ``settings.acme_directory``. On each web server ``koumbit-certificate`` (rendered
from ``templates/usr/local/sbin/koumbit-certificate.j2``) runs it:

- ``issue NAME DOMAIN...`` (the sites deploy, when a site's certificate is missing, due,
  or names other domains than the inventory's): ``certonly --cert-name NAME -d DOMAIN...
  --keep-until-expiring``, then the site's ``cert_dir`` links to certbot's live files;
- ``renew`` (Debian's ``certbot.timer``, twice a day, through a drop-in for
  ``certbot.service``): ``certbot renew``; certbot runs the deploy hook after each
  certificate it renewed, which records it and reloads nginx after ``nginx -t``;
- ``forget NAME`` (``koumbit-site-remove``): the lineage is deleted with its site;
- ``pack`` and ``adopt`` (``koumbit-infra site migrate``): a site moving to another server
  takes its certificate along, since HTTP-01 cannot prove the new server before the
  site's DNS points at it; the new server renews it afterwards with its own account.

A certificate that cannot be issued or renewed is written down per site and shows in
node_exporter's textfile (``koumbit_certificate_renewal_failed``, with
``koumbit_certificate_expiry_timestamp_seconds``); ``issue`` fails the deploy with the
site's domain and certbot's last lines. An ACME server that no longer knows the server's
account (the lab's Pebble forgets everything when it restarts; Let's Encrypt may
deactivate one) gets a new account and the same request once more.

Every word that reaches a command line is checked here first (names, domains, the
directory, the address), then quoted with ``shlex``: the inventory validates them
already, and this keeps a call with other values from ever reaching a shell.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from koumbit_infra.facts.services import STAMP_DIR
from koumbit_infra.facts.tls import RENEW_BEFORE_SECONDS
from koumbit_infra.inventory.fields import (
    canonical_domain,
    canonical_email,
    check_acme_directory,
)
from koumbit_infra.tls import TLS_ROOT

__all__ = ["RENEW_BEFORE_SECONDS", "Acme", "CertbotPaths", "adopt_command", "checked_domains",
           "checked_name", "forget_command", "issue_command", "pack_command", "parcel"]

SCRIPT = "/usr/local/sbin/koumbit-certificate"
LETSENCRYPT_ROOT = "/etc/letsencrypt"
# Debian's nginx default server and every site's plain-HTTP server answer
# /.well-known/acme-challenge/ from here (templates/etc/nginx/sites-available/).
ACME_WEBROOT = "/var/www/letsencrypt"
HOOK = f"{LETSENCRYPT_ROOT}/renewal-hooks/deploy/koumbit-reload-nginx"
RENEWAL_DROPIN = "/etc/systemd/system/certbot.service.d/koumbit.conf"
STATE_DIR = "/var/lib/koumbit-certificates"
# Debian's node_exporter reads *.prom files here (its --collector.textfile.directory).
TEXTFILE = "/var/lib/prometheus/node-exporter/koumbit_certificates.prom"
# nginx's last reload or restart, which services.refreshed also reads (facts/services.py).
NGINX_STAMP = f"{STAMP_DIR}/nginx"
# Let's Encrypt's limit of names on one certificate.
MAX_NAMES = 100
# A certificate's name is its site's system name (koumbit_infra.inventory.names).
_CERT_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True)
class CertbotPaths:
    """Where certbot and koumbit-certificate work; tests point them at a scratch folder."""

    config_dir: str = LETSENCRYPT_ROOT
    work_dir: str = "/var/lib/letsencrypt"
    logs_dir: str = "/var/log/letsencrypt"
    webroot: str = ACME_WEBROOT
    tls_root: str = TLS_ROOT
    state_dir: str = STATE_DIR
    textfile: str = TEXTFILE
    nginx_stamp: str = NGINX_STAMP

    @classmethod
    def under(cls, root: str) -> CertbotPaths:
        """Every folder under ``root``: a scratch copy of a server's, for tests and bench."""
        return cls(config_dir=f"{root}/letsencrypt", work_dir=f"{root}/work",
                   logs_dir=f"{root}/logs", webroot=f"{root}/webroot", tls_root=f"{root}/tls",
                   state_dir=f"{root}/state", textfile=f"{root}/textfile/koumbit_certificates.prom",
                   nginx_stamp=f"{root}/run/nginx")

    def folder_args(self) -> list[str]:
        """certbot's options for the folders that are not its defaults (none on a server)."""
        default = CertbotPaths()
        return [f"--{flag}={value}" for flag, value, usual in (
            ("config-dir", self.config_dir, default.config_dir),
            ("work-dir", self.work_dir, default.work_dir),
            ("logs-dir", self.logs_dir, default.logs_dir)) if value != usual]

    def live(self, name: str) -> str:
        """certbot's folder of the current files of certificate ``name``."""
        return f"{self.config_dir}/live/{checked_name(name)}"


@dataclass(frozen=True)
class Acme:
    """The ACME server and the account's address: the inventory's two settings."""

    directory: str
    email: str

    def __post_init__(self) -> None:
        check_acme_directory(self.directory)
        if canonical_email(self.email) != self.email:
            raise ValueError(f"{self.email!r} is not an address as the inventory writes it")

    def certonly_args(self, paths: CertbotPaths) -> list[str]:
        """``certbot certonly`` for one certificate, before its ``--cert-name`` and ``-d``.

        ``--keep-until-expiring``: the same names on a certificate not yet due ask the
        ACME server nothing; other names (an alias added or removed) get a new one.
        """
        return ["certonly", "--non-interactive", "--agree-tos", f"--email={self.email}",
                "--webroot", "-w", paths.webroot, f"--server={self.directory}",
                "--keep-until-expiring"]

    def register_args(self) -> list[str]:
        """``certbot register``: a new account on this ACME server."""
        return ["register", "--non-interactive", "--agree-tos", f"--email={self.email}",
                f"--server={self.directory}"]

    def accounts_dir(self, paths: CertbotPaths) -> str:
        """Where certbot keeps this server's account(s) for this directory (its own layout:
        host[:port] then the path)."""
        url = urlsplit(self.directory)
        return f"{paths.config_dir}/accounts/{url.netloc}{url.path}".rstrip("/")


def checked_name(name: str) -> str:
    """``name`` if it is a certificate name (a site's system name), else ValueError."""
    if not _CERT_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a certificate name (a site's system name)")
    return name


def checked_domains(domains: Iterable[str]) -> tuple[str, ...]:
    """The domains of one certificate, each one a domain as the inventory writes it.

    Anything else (an option, a space, a quote, a shell word, upper case) is refused
    with ValueError naming it, before any command is built.
    """
    found = tuple(domains)
    if not found:
        raise ValueError("a certificate names at least one domain")
    if len(found) > MAX_NAMES:
        raise ValueError(f"{len(found)} domains: a certificate names at most {MAX_NAMES}")
    if len(set(found)) != len(found):
        raise ValueError(f"a domain is named twice in {', '.join(found)}")
    for domain in found:
        try:
            ok = canonical_domain(domain) == domain
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{domain!r} is not a domain name as the inventory writes it")
    return found


def issue_command(name: str, domains: Iterable[str], script: str = SCRIPT) -> str:
    """The shell line that gets certificate ``name`` for exactly ``domains`` (the first
    is the site's own: its metrics' label), each word checked and quoted."""
    return shlex.join([script, "issue", checked_name(name), *checked_domains(domains)])


def forget_command(name: str, script: str = SCRIPT) -> str:
    return shlex.join([script, "forget", checked_name(name)])


def parcel(name: str) -> str:
    """Where a site's lineage, packed to move to another server, waits (root's only)."""
    return f"{STATE_DIR}/{checked_name(name)}.moving.tar.gz"


def pack_command(name: str, script: str = SCRIPT) -> str:
    """certbot's lineage ``name`` packed into :func:`parcel` (a site moving away)."""
    return shlex.join([script, "pack", checked_name(name), parcel(name)])


def adopt_command(name: str, domain: str, script: str = SCRIPT) -> str:
    """The lineage in :func:`parcel` taken in as certificate ``name`` of site ``domain``."""
    return shlex.join([script, "adopt", checked_name(name), *checked_domains([domain]),
                       parcel(name)])
