"""The lab's certificate authority: it stands in for Let's Encrypt, which the lab cannot reach.

It lives on the host under the lab's state root (``<root>/ca/``): the key
(mode 0600) never leaves the host. Servers make their own keys and send a
CSR; the CA signs it here, like an ACME server would. ``openssl`` does the
cryptography, so no extra Python dependency is needed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CA_DAYS = 3650
LEAF_DAYS = 90  # Let's Encrypt's lifetime, so renewal is exercised the same way
SUBJECT = "/O=koumbit-infra lab/CN=koumbit-infra lab root CA"


class LabCAError(Exception):
    """The lab CA could not be created or could not sign (openssl's message attached)."""


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=False,
                          timeout=60)
    if done.returncode != 0:
        raise LabCAError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


@dataclass(frozen=True)
class LabCA:
    """The CA in ``directory``: ``ca.key`` (0600) and ``ca.crt``."""

    directory: Path

    @property
    def key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def cert(self) -> Path:
        return self.directory / "ca.crt"

    def ensure(self) -> LabCA:
        """Create the CA once; later calls leave it as it is (servers already trust it)."""
        if self.key.exists() and self.cert.exists():
            return self
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        old = os.umask(0o077)
        try:
            _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", str(self.key))
        finally:
            os.umask(old)
        _openssl("req", "-x509", "-new", "-key", str(self.key), "-sha256",
                 "-days", str(CA_DAYS), "-subj", SUBJECT,
                 "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-out", str(self.cert))
        self.cert.chmod(0o644)
        return self

    def cert_pem(self) -> str:
        return self.cert.read_text()

    def sign(self, csr_pem: str, domains: tuple[str, ...], days: int = LEAF_DAYS) -> str:
        """A server certificate for ``domains`` (the CSR's key, our names), PEM chain included."""
        if not domains:
            raise LabCAError("a certificate needs at least one domain")
        san = ",".join(f"DNS:{d}" for d in domains)
        ext = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
               f"extendedKeyUsage=serverAuth\nsubjectAltName={san}\n")
        with tempfile.TemporaryDirectory() as tmp:
            ext_file = Path(tmp) / "ext.cnf"
            ext_file.write_text(ext)
            leaf = _openssl("x509", "-req", "-sha256", "-days", str(days),
                            "-CA", str(self.cert), "-CAkey", str(self.key),
                            "-CAcreateserial", "-CAserial", str(Path(tmp) / "serial"),
                            "-extfile", str(ext_file), stdin=csr_pem.encode())
        return leaf.decode() + self.cert_pem()


def lab_ca() -> LabCA:
    """The lab's CA, under the lab state root (created on first use)."""
    from koumbit_infra.lab.paths import lab_paths

    return LabCA(lab_paths().root / "ca").ensure()
