"""The lab's Pebble on the host side, without starting it: the API's certificate made once,
the roots kept across restarts, and the lab's DNS told where the sites are whenever a
lab inventory becomes pyinfra's. Starting and stopping it for real:
tests/unit/test_acme_local.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from test_tls_certbot import _ca

from koumbit_infra.envs import CHECKOUT
from koumbit_infra.lab import pebble, sitedns
from koumbit_infra.lab.pebble import Endpoints, PebbleFiles, ensure_api_certificate, refresh_trust
from koumbit_infra.pyinfra_inventory import groups
from koumbit_infra.tls.trust import bundle_certificates

LOCAL = Endpoints(("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 3), ("127.0.0.1", 4))


def sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    found = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(a) for a in found.get_values_for_type(x509.IPAddress)}


def test_the_api_certificate_is_made_once_and_again_only_for_new_addresses(
        tmp_path: Path) -> None:
    files = PebbleFiles(tmp_path)
    assert ensure_api_certificate(files, pebble.LAB_ENDPOINTS, os.getegid())
    ca = files.api_ca.read_bytes()
    assert sans(files.api_cert) == {"10.77.0.1", "127.0.0.1"}
    assert oct(files.api_ca_key.stat().st_mode & 0o777) == "0o600"
    assert not ensure_api_certificate(files, pebble.LAB_ENDPOINTS, os.getegid())
    assert ensure_api_certificate(files, LOCAL, os.getegid())
    assert sans(files.api_cert) == {"127.0.0.1"}
    assert files.api_ca.read_bytes() == ca  # the servers keep trusting the same CA


def test_roots_of_earlier_starts_stay_trusted(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    files = PebbleFiles(tmp_path)
    ensure_api_certificate(files, LOCAL, os.getegid())
    roots = [_ca("Pebble Root CA 1").decode(), _ca("Pebble Root CA 2").decode()]
    current = iter([roots[0], roots[0], roots[1]])
    monkeypatch.setattr(pebble, "current_root", lambda *_: next(current))
    assert refresh_trust(files, LOCAL)
    assert not refresh_trust(files, LOCAL)  # the same Pebble: nothing to add
    assert refresh_trust(files, LOCAL)  # restarted: its new root beside the first
    subjects = [c.subject for c in bundle_certificates(str(files.trust))]
    assert sorted(subjects) == sorted(["CN=koumbit-infra lab: Pebble API CA",
                                       "CN=Pebble Root CA 1", "CN=Pebble Root CA 2"])
    assert pebble.forget_roots(files) and not files.trust.exists()


def test_a_lab_inventory_tells_the_labs_dns_where_each_site_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[dict[str, str | None]] = []
    monkeypatch.setattr(sitedns, "publish", lambda records: told.append(dict(records)))
    groups(CHECKOUT / "inventory" / "example")
    assert told == []  # production's DNS is the clients'
    found = groups(CHECKOUT / "inventory" / "lab")
    assert len(told) == 1 and told[0]
    web1 = dict(found["all_servers"])["web1"]
    assert told[0][web1["sites"][0]["domain"]] == web1["ssh_hostname"]


def test_certificates_carry_key_identifiers_and_an_older_ca_is_made_again(
        tmp_path: Path) -> None:
    """Debian 13's Python (3.13, OpenSSL 3.5) verifies strictly: a CA without its subject
    key identifier, or a server certificate without its issuer's, is refused. A CA made
    before they carried them is made again, with every certificate of it."""
    files = PebbleFiles(tmp_path)
    ensure_api_certificate(files, LOCAL, os.getegid())
    ca = x509.load_pem_x509_certificate(files.api_ca.read_bytes())
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    leaf = x509.load_pem_x509_certificate(files.api_cert.read_bytes())
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert pebble.issued_by_api_ca(files, files.api_cert)
    # A CA of the earlier kind (no key identifier): made again, and the API's certificate.
    files.api_ca.write_bytes(_ca("koumbit-infra lab: Pebble API CA"))
    assert ensure_api_certificate(files, LOCAL, os.getegid())
    assert files.api_ca.read_bytes() != ca.public_bytes(serialization.Encoding.PEM)
    assert pebble.issued_by_api_ca(files, files.api_cert)


def test_a_daemon_started_from_another_checkout_is_still_the_lab_s() -> None:
    """The lab's sources run on the Python of the checkout that started them; another
    checkout (a CI clone) stops the same lab's daemon: same program name and arguments."""
    from koumbit_infra.lab.pebble import same_program

    args = ["-m", "koumbit_infra.lab.sources", "--listen", "10.77.0.1:14443"]
    assert same_program(["/work/a/.venv/bin/python", *args], ["/ci/run/.venv/bin/python", *args])
    assert same_program(["/usr/bin/pebble", "-config", "c"], ["/usr/bin/pebble", "-config", "c"])
    assert not same_program(["/usr/bin/python3", *args], ["/ci/.venv/bin/python", *args])
    assert not same_program(["/work/a/.venv/bin/python", *args[:-1], "127.0.0.1:1"],
                            ["/ci/run/.venv/bin/python", *args])
    assert not same_program(["/usr/bin/sleep", *args], ["/ci/.venv/bin/python", *args])
    assert not same_program([], [])
