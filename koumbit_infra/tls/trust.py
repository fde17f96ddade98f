"""The CAs every server trusts besides Debian's: ``settings.acme_ca_bundle``, read on the
machine that deploys.

In production it is unset (Let's Encrypt's roots come with Debian's ca-certificates).
In the lab it is the file the lab keeps beside its Pebble: the CA of Pebble's HTTPS API
(so certbot can talk to it) and every root Pebble issued from (so servers, the host and
the tests verify what the sites serve). Each certificate becomes one file of the
servers' trust store, named by its fingerprint, so a new root is a new file and the
same bundle writes the same files on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from koumbit_infra.errors import KoumbitError

# update-ca-certificates reads *.crt here and adds them to /etc/ssl/certs.
TRUST_DIR = "/usr/local/share/ca-certificates"
PREFIX = "koumbit-acme-"
MAX_CERTIFICATES = 200


class TrustBundleError(KoumbitError):
    """settings.acme_ca_bundle cannot be read or holds something else than CA certificates."""

    exit_code = 2


@dataclass(frozen=True)
class TrustedCertificate:
    """One CA of the bundle, as the servers' trust store holds it."""

    subject: str
    fingerprint: str  # SHA-256, hex
    pem: str

    @property
    def file(self) -> str:
        return f"{TRUST_DIR}/{PREFIX}{self.fingerprint[:16]}.crt"


def bundle_certificates(path: str | None) -> tuple[TrustedCertificate, ...]:
    """The CA certificates of the bundle at ``path`` (none when unset), in a stable order.

    Anything but PEM CA certificates is refused with a TrustBundleError naming the file:
    the bundle is written into every server's trust store, and a leaf certificate there
    would be trusted for whatever names it holds.
    """
    if path is None:
        return ()
    where = f"acme_ca_bundle {path}"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise TrustBundleError(f"{where} does not exist: in the lab, `koumbit-infra lab up`"
                               " writes it when it starts Pebble; nothing was deployed") from None
    except OSError as exc:
        raise TrustBundleError(f"{where} cannot be read ({exc.strerror});"
                               " nothing was deployed") from None
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TrustBundleError(f"{where} is not a file of PEM certificates;"
                               " nothing was deployed") from None
    if len(found) > MAX_CERTIFICATES:
        raise TrustBundleError(f"{where} holds {len(found)} certificates, more than"
                               f" {MAX_CERTIFICATES}; nothing was deployed")
    out: dict[str, TrustedCertificate] = {}
    for cert in found:
        subject = cert.subject.rfc4514_string()
        if not _is_ca(cert):
            raise TrustBundleError(f"{where} holds {subject!r}, which is not a CA certificate;"
                                   " nothing was deployed")
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()
        out[fingerprint] = TrustedCertificate(
            subject, fingerprint, cert.public_bytes(serialization.Encoding.PEM).decode())
    return tuple(sorted(out.values(), key=lambda c: c.fingerprint))


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
