"""Certificates from certbot, and the CAs a server trusts besides Debian's.

The private key is made by certbot on the server and never leaves it; the certificate
comes from the inventory's ACME directory (Let's Encrypt, or the lab's Pebble) through
``koumbit-certificate issue`` (koumbit_infra/tls/certbot.py).
"""

from __future__ import annotations

from collections.abc import Generator

from pyinfra.api.operation import OperationMeta, operation
from pyinfra.context import host

from koumbit_infra.facts.tls import Certificate, TrustStoreStale
from koumbit_infra.tls import cert_dir
from koumbit_infra.tls.certbot import STATE_DIR, CertbotPaths, issue_command
from koumbit_infra.tls.trust import PREFIX, TRUST_DIR


def from_certbot(name: str) -> str:
    """What ``cert_dir(name)/fullchain.pem`` links to once certbot has issued ``name``."""
    return f"{CertbotPaths().live(name)}/fullchain.pem"


@operation()
def issued(cert_name: str, domains: list[str],
           failed_before: bool = False) -> Generator[str, None, None]:
    """A certificate from certbot for exactly ``domains`` (the first is the site's own)
    under ``cert_dir(cert_name)``; asked for only when missing, due, not certbot's, or
    naming other domains, or when the last try failed (``failed_before``: certbot, asked
    again, says whether the one the site has is right, and the failure is cleared)."""
    command = issue_command(cert_name, domains)  # every word checked before anything runs
    now = host.get_fact(Certificate, path=f"{cert_dir(cert_name)}/fullchain.pem")
    if (not failed_before and now is not None and now.fresh
            and now.domains == frozenset(domains) and now.source == from_certbot(cert_name)):
        return
    yield command


def failure_mark(name: str) -> str:
    """What koumbit-certificate leaves while the last issuance or renewal of ``name`` failed."""
    return f"{STATE_DIR}/{name}/failed"


@operation()
def trust_updated(changes: list[OperationMeta]) -> Generator[str, None, None]:
    """``update-ca-certificates`` when ``changes`` wrote or removed a CA file in this run,
    or one is newer than the store (a run cut off before the update)."""
    # Results exist only while executing; a --dry plan relies on the stale check.
    changed = host.state.is_executing and any(m.did_change() for m in changes)
    if changed or host.get_fact(TrustStoreStale, folder=TRUST_DIR, pattern=f"{PREFIX}*.crt"):
        yield "update-ca-certificates"
