"""The lab CA signs a CSR made elsewhere, for exactly the names asked, verifiable by openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path

from koumbit_infra.tls.labca import LabCA


def _openssl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True,
                          check=True).stdout


def test_ca_is_made_once_with_a_private_key(tmp_path: Path) -> None:
    ca = LabCA(tmp_path / "ca").ensure()
    first = ca.cert_pem()
    assert ca.key.stat().st_mode & 0o777 == 0o600
    assert LabCA(tmp_path / "ca").ensure().cert_pem() == first


def test_signed_chain_verifies_and_names_the_domains(tmp_path: Path) -> None:
    ca = LabCA(tmp_path / "ca").ensure()
    key = tmp_path / "server.key"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(key))
    csr = _openssl("req", "-new", "-key", str(key), "-subj", "/CN=a.test")
    chain = ca.sign(csr, ("a.test", "www.a.test"))
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    assert "OK" in _openssl("verify", "-CAfile", str(ca.cert), str(leaf))
    names = _openssl("x509", "-in", str(leaf), "-noout", "-ext", "subjectAltName")
    assert "DNS:a.test" in names and "DNS:www.a.test" in names
    assert chain.count("BEGIN CERTIFICATE") == 2
