"""The certbot path for real on this machine, without the lab: the lab's own Pebble and DNS
started on free loopback ports (koumbit_infra/lab/pebble.py, as `lab up` starts them), an
nginx of the rig's own answering HTTP-01, and the real ``koumbit-certificate`` and deploy
hook run with Debian's certbot (koumbit_infra/lab/localacme.py).

One rig for the module, each test a step of a site's life: issued, asked again for
nothing, an alias added, a domain nobody points here refused, Pebble restarted (new root,
accounts forgotten) then a forced renewal served through the hook, restarted again then
an alias issued under a new account, a site moving to
another server with its certificate, the site forgotten.
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from koumbit_infra.lab import sitedns
from koumbit_infra.lab.localacme import LocalAcme, local_acme
from koumbit_infra.lab.pebble import LAB_ENDPOINTS, daemons
from koumbit_infra.tls.trust import bundle_certificates

pytestmark = pytest.mark.acme

SITE, DOMAINS = "site_a", ["a.rig.test", "www.a.rig.test"]
ALIAS = "ancien.a.rig.test"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAcme]:
    for tool in ("pebble", "pebble-challtestsrv", "certbot", "nginx"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            pytest.skip(f"{tool} is not installed (scripts/host-packages.txt)")
    with local_acme(tmp_path_factory.mktemp("acme")) as running:
        running.point([*DOMAINS, ALIAS])
        yield running


def served(rig: LocalAcme, name: str) -> x509.Certificate:
    """The certificate the site's vhost would serve (its cert_dir link, followed)."""
    return x509.load_pem_x509_certificate(
        (Path(rig.paths.tls_root) / name / "fullchain.pem").read_bytes())


def names(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName))


def verify(rig: LocalAcme, name: str) -> str:
    """``openssl verify`` of the served chain against the lab's trust.pem only."""
    chain = Path(rig.paths.tls_root) / name / "fullchain.pem"
    done = subprocess.run(["openssl", "verify", "-CAfile", str(rig.pebble.trust), "-untrusted",
                           str(chain), str(chain)], capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


def metrics(rig: LocalAcme) -> dict[tuple[str, str], float]:
    text = Path(rig.paths.textfile).read_text()
    return {(s.name, s.labels.get("site", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_pebble_and_its_dns_run_and_their_roots_are_trusted(rig: LocalAcme) -> None:
    for daemon in daemons(rig.pebble, rig.endpoints):
        assert daemon.pid(rig.pebble) is not None, daemon.name
    # The API's CA and Pebble's current root, nothing else.
    subjects = sorted(c.subject for c in bundle_certificates(str(rig.pebble.trust)))
    assert len(subjects) == 2 and subjects[0].startswith("CN=Pebble Root CA"), subjects
    # The lab's endpoints: the ACME API on the bridge, the rest on loopback only.
    assert LAB_ENDPOINTS.directory == "https://10.77.0.1:14000/dir"
    assert {LAB_ENDPOINTS.management[0], LAB_ENDPOINTS.dns[0],
            LAB_ENDPOINTS.dns_management[0]} == {"127.0.0.1"}


def a_records(rig: LocalAcme, name: str) -> list[str]:
    """The A records the rig's DNS (Pebble's) answers for ``name``: one UDP question."""
    question = struct.pack(">HHHHHH", 0x4B49, 0x0100, 1, 0, 0, 0) + b"".join(
        bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0" + (
        struct.pack(">HH", 1, 1))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(question, rig.endpoints.dns)
        answer = sock.recv(65535)
    count, offset, found = struct.unpack(">H", answer[6:8])[0], len(question), []
    for _ in range(count):  # each record: its name (labels, or a pointer), then its fields
        while answer[offset] and answer[offset] < 0xC0:
            offset += 1 + answer[offset]
        offset += 2 if answer[offset] else 1
        kind, _, _, length = struct.unpack(">HHIH", answer[offset:offset + 10])
        if kind == 1:
            found.append(socket.inet_ntoa(answer[offset + 10:offset + 10 + length]))
        offset += 10 + length
    return found


def test_pointing_a_domain_again_replaces_its_address(rig: LocalAcme) -> None:
    # Every lab deploy points every domain again: the answer must not grow with them
    # (it once did, until Pebble could no longer read it: "dns: buffer size too small").
    for _ in range(3):
        rig.point(["again.rig.test"])
    assert a_records(rig, "again.rig.test") == ["127.0.0.1"]
    sitedns.publish({"again.rig.test": None}, rig.endpoints)
    assert a_records(rig, "again.rig.test") == []


def test_a_site_gets_a_certificate_from_pebble_through_http01(rig: LocalAcme) -> None:
    done = rig.certificate("issue", SITE, *DOMAINS)
    assert done.returncode == 0, done.stderr
    cert = served(rig, SITE)
    assert names(cert) == set(DOMAINS)
    assert cert.issuer.rfc4514_string().startswith("CN=Pebble Intermediate CA")
    assert verify(rig, SITE).strip().endswith(": OK")
    link = Path(rig.paths.tls_root) / SITE / "fullchain.pem"
    assert link.readlink() == Path(rig.paths.config_dir) / "live" / SITE / "fullchain.pem"
    found = metrics(rig)
    assert found["koumbit_certificate_renewal_failed", DOMAINS[0]] == 0
    expiry = found["koumbit_certificate_expiry_timestamp_seconds", DOMAINS[0]]
    assert expiry == cert.not_valid_after_utc.timestamp()


def test_the_same_domains_again_ask_pebble_nothing(rig: LocalAcme) -> None:
    before = served(rig, SITE).serial_number
    done = rig.certificate("issue", SITE, *DOMAINS)
    assert done.returncode == 0, done.stderr
    assert "not yet due for renewal" in done.stdout
    assert served(rig, SITE).serial_number == before


def test_an_alias_added_gets_a_certificate_naming_it(rig: LocalAcme) -> None:
    before = served(rig, SITE).serial_number
    done = rig.certificate("issue", SITE, *DOMAINS, ALIAS)
    assert done.returncode == 0, done.stderr
    cert = served(rig, SITE)
    assert names(cert) == {*DOMAINS, ALIAS} and cert.serial_number != before
    # Still one lineage: the certificate's name is the site's.
    assert sorted(p.name for p in (Path(rig.paths.config_dir) / "live").iterdir()
                  if p.is_dir()) == [SITE]
    # The alias taken away again: a certificate without it.
    done = rig.certificate("issue", SITE, *DOMAINS)
    assert done.returncode == 0, done.stderr
    assert names(served(rig, SITE)) == set(DOMAINS)


def test_a_domain_pointing_elsewhere_fails_with_the_site_named(rig: LocalAcme) -> None:
    # Its name sorts before site_a's: the metrics written after the failure walk every
    # site, and must not leave the message naming the last one they read.
    done = rig.certificate("issue", "site_0", "b.rig.test")
    assert done.returncode == 1
    assert re.search(r"b\.rig\.test: no certificate from https://127\.0\.0\.1:\d+/dir",
                     done.stderr), done.stderr
    assert DOMAINS[0] not in done.stderr
    assert "b.rig.test" in done.stderr.split("certbot's last lines:", 1)[1]
    assert metrics(rig)["koumbit_certificate_renewal_failed", "b.rig.test"] == 1
    assert metrics(rig)["koumbit_certificate_renewal_failed", DOMAINS[0]] == 0
    # nginx can still load every site: the failed one has a placeholder naming no domain.
    placeholder = served(rig, "site_0")
    with pytest.raises(x509.ExtensionNotFound):
        names(placeholder)


def test_after_pebble_restarts_a_forced_renewal_is_served_through_the_hook(
        rig: LocalAcme) -> None:
    old_root = bundle_certificates(str(rig.pebble.trust))
    rig.restart_pebble()
    rig.point([*DOMAINS, ALIAS])  # its DNS restarted too, empty: as a deploy does in the lab
    # The new root is trusted beside the old ones: what was issued before still verifies.
    assert len(bundle_certificates(str(rig.pebble.trust))) == len(old_root) + 1
    assert verify(rig, SITE).strip().endswith(": OK")
    before = served(rig, SITE).serial_number
    calls = rig.root / "bin" / "calls"
    calls.unlink(missing_ok=True)
    # Pebble forgot the account: koumbit-certificate registers a new one and renews.
    done = rig.certificate("renew", "--force-renewal", "--cert-name", SITE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "registering a new one" in done.stderr
    assert served(rig, SITE).serial_number != before
    assert verify(rig, SITE).strip().endswith(": OK")
    # certbot ran the deploy hook: nginx checked, then reloaded, and the stamp written.
    assert calls.read_text().splitlines() == ["systemctl reload nginx"]
    assert Path(rig.paths.nginx_stamp).stat().st_mtime >= (
        Path(rig.paths.config_dir) / "live" / SITE / "cert.pem").stat().st_mtime
    found = metrics(rig)
    assert found["koumbit_certificate_expiry_timestamp_seconds", DOMAINS[0]] == (
        served(rig, SITE).not_valid_after_utc.timestamp())
    assert found["koumbit_certificate_renewal_last_run_timestamp_seconds", ""] > 0


def test_after_pebble_restarts_an_alias_added_is_issued_under_a_new_account(
        rig: LocalAcme) -> None:
    # certonly (not renew) with the account forgotten: Debian 12's certbot reports it as
    # "AttributeError: can't set attribute", its log as accountDoesNotExist.
    rig.restart_pebble()
    rig.point([*DOMAINS, ALIAS])
    done = rig.certificate("issue", SITE, *DOMAINS, ALIAS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "registering a new one" in done.stderr
    assert names(served(rig, SITE)) == {*DOMAINS, ALIAS}
    assert verify(rig, SITE).strip().endswith(": OK")
    assert metrics(rig)["koumbit_certificate_renewal_failed", DOMAINS[0]] == 0


def test_a_site_moving_server_takes_its_certificate_and_renews_it_there(
        rig: LocalAcme) -> None:
    # Packed on the source; the target (here: the same folders, once the lineage and the
    # account are gone, as on a server that never had them) takes it in.
    rig.point(["c.rig.test"])  # Pebble's DNS restarted with it in the test above
    assert rig.certificate("issue", "site_c", "c.rig.test").returncode == 0
    before = served(rig, "site_c").serial_number
    parcel = rig.root / "site_c.tar.gz"
    assert rig.certificate("pack", "site_c", str(parcel)).returncode == 0
    assert rig.certificate("forget", "site_c").returncode == 0
    accounts = Path(rig.paths.config_dir) / "accounts"
    accounts.rename(rig.root / "accounts-of-the-source")
    done = rig.certificate("adopt", "site_c", "c.rig.test", str(parcel))
    assert done.returncode == 0, done.stderr
    assert served(rig, "site_c").serial_number == before
    assert metrics(rig)["koumbit_certificate_renewal_failed", "c.rig.test"] == 0
    # Its renewal names the source's account, which this server does not have.
    done = rig.certificate("renew", "--force-renewal", "--cert-name", "site_c")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "registering a new one" in done.stderr
    assert served(rig, "site_c").serial_number != before


def test_a_parcel_holding_anything_else_is_refused(rig: LocalAcme) -> None:
    odd = rig.root / "odd"
    (odd / "live" / "site_d").mkdir(parents=True)
    (odd / "live" / "site_d" / "cert.pem").write_text("x")
    (odd / "accounts").mkdir()
    parcel = rig.root / "odd.tar.gz"
    subprocess.run(["tar", "-C", str(odd), "-czf", str(parcel), "live/site_d", "accounts"],
                   check=True)
    done = rig.certificate("adopt", "site_d", "d.rig.test", str(parcel))
    assert done.returncode == 1
    assert "holds other files than certificate site_d's" in done.stderr
    assert not (Path(rig.paths.config_dir) / "live" / "site_d").exists()


def test_a_forgotten_site_loses_its_certificate_and_its_metrics(rig: LocalAcme) -> None:
    done = rig.certificate("forget", SITE)
    assert done.returncode == 0, done.stderr
    assert not (Path(rig.paths.config_dir) / "renewal" / f"{SITE}.conf").exists()
    assert all(site != DOMAINS[0] for _, site in metrics(rig))
