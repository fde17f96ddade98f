"""certbot's words, the servers' trust and the lab's wiring, from the inventory: every
domain checked before it reaches a command line, https only, the CAs read as CAs.

The tools themselves run in tests/unit/test_certificate_script.py (with a stand-in
certbot) and tests/unit/test_acme_local.py (with the real one, against Pebble).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Role, SiteState
from koumbit_infra.lab.paths import DEFAULT_ROOT, LabPaths
from koumbit_infra.lab.pebble import LAB_ENDPOINTS, PebbleFiles, render_config
from koumbit_infra.lab.sitedns import site_records
from koumbit_infra.serverconf.certificates import certificate_files
from koumbit_infra.templating import render
from koumbit_infra.tls.certbot import (
    SCRIPT,
    Acme,
    CertbotPaths,
    adopt_command,
    checked_domains,
    forget_command,
    issue_command,
    pack_command,
)
from koumbit_infra.tls.trust import TrustBundleError, bundle_certificates

HOSTILE_DOMAINS = [
    "a.test; rm -rf /", "$(id).a.test", "`id`.a.test", "a.test\nid", "-d", "--server=x.test",
    "--config-dir=/tmp", "A.TEST", "a.test.", "a..test", "a.test ", " a.test", "a", "",
    "a'b.test", 'a"b.test', "a/b.test", "*.a.test", "xn--.test", "é.test", "a.test\x00",
    "a" * 64 + ".test",
]


@pytest.mark.parametrize("hostile", HOSTILE_DOMAINS)
def test_a_hostile_domain_never_reaches_a_command_line(hostile: str) -> None:
    with pytest.raises(ValueError, match="is not a domain name"):
        issue_command("erables", ["erables.test", hostile])


@pytest.mark.parametrize("name", ["", "Erables", "1site", "site-a", "a;b", "$(id)", "a b",
                                  "--all", "x" * 33])
def test_a_certificate_name_is_a_system_name_or_nothing(name: str) -> None:
    with pytest.raises(ValueError, match="not a certificate name"):
        issue_command(name, ["erables.test"])
    with pytest.raises(ValueError, match="not a certificate name"):
        forget_command(name)
    with pytest.raises(ValueError, match="not a certificate name"):
        pack_command(name)
    with pytest.raises(ValueError, match="not a certificate name"):
        adopt_command(name, "erables.test")


@pytest.mark.parametrize("hostile", HOSTILE_DOMAINS[:8])
def test_a_moving_site_is_taken_in_under_its_own_domain_only(hostile: str) -> None:
    with pytest.raises(ValueError, match="is not a domain name"):
        adopt_command("erables", hostile)
    assert shlex.split(adopt_command("erables", "erables.test")) == [
        SCRIPT, "adopt", "erables", "erables.test",
        "/var/lib/koumbit-certificates/erables.moving.tar.gz"]


def test_issue_names_each_domain_once_in_its_own_word() -> None:
    line = issue_command("erables", ["erables.test", "www.erables.test"])
    assert shlex.split(line) == [SCRIPT, "issue", "erables", "erables.test", "www.erables.test"]
    with pytest.raises(ValueError, match="named twice"):
        checked_domains(["a.test", "a.test"])
    with pytest.raises(ValueError, match="at least one"):
        checked_domains([])
    with pytest.raises(ValueError, match="at most 100"):
        checked_domains([f"d{i}.test" for i in range(101)])


@pytest.mark.parametrize("directory", [
    "http://acme.test/dir", "https://acme.test/dir?x=1", "https://user@acme.test/dir",
    "https://acme.test/dir#x", "https://acme.test:0/dir", "https://acme.test:70000/dir",
    "https://acme.test/dir' -x", "ftp://acme.test", "https://ACME.test/dir", "https:///dir",
])
def test_the_acme_directory_is_an_https_url_and_nothing_else(directory: str) -> None:
    with pytest.raises(ValueError, match="is not an https URL of an ACME directory"):
        Acme(directory, "infra@koumbit.example")


def test_certonly_words_and_where_certbot_keeps_the_account() -> None:
    lets = Acme("https://acme-v02.api.letsencrypt.org/directory", "infra@koumbit.example")
    assert lets.certonly_args(CertbotPaths()) == [
        "certonly", "--non-interactive", "--agree-tos", "--email=infra@koumbit.example",
        "--webroot", "-w", "/var/www/letsencrypt",
        "--server=https://acme-v02.api.letsencrypt.org/directory", "--keep-until-expiring"]
    assert lets.accounts_dir(CertbotPaths()) == (
        "/etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory")
    pebble = Acme(LAB_ENDPOINTS.directory, "infra@koumbit-lab.test")
    assert pebble.accounts_dir(CertbotPaths()) == "/etc/letsencrypt/accounts/10.77.0.1:14000/dir"
    # A server uses certbot's own folders: no option names them.
    assert CertbotPaths().folder_args() == []
    assert CertbotPaths(config_dir="/x").folder_args() == ["--config-dir=/x"]


@pytest.mark.parametrize(("env", "directory"), [
    ("lab", "https://10.77.0.1:14000/dir"),
    ("example", "https://acme-v02.api.letsencrypt.org/directory"),
])
def test_only_web_servers_get_certbot_and_the_inventory_names_the_directory(
        env: str, directory: str) -> None:
    inv = load_env(env)
    for server in inv.servers:
        files = {f.dest: f for f in certificate_files(inv, server)}
        if not server.has(Role.WEB):
            assert files == {}
            continue
        script = render(files[SCRIPT].template, **files[SCRIPT].context)
        assert f"directory={directory}" in script.splitlines()
        assert f"--server={directory}" in script
        assert f"server={server.name}" in script.splitlines()
        dropin = files["/etc/systemd/system/certbot.service.d/koumbit.conf"]
        text = render(dropin.template, **dropin.context)
        assert text.splitlines()[-2:] == ["ExecStart=", f"ExecStart={SCRIPT} renew"]


def test_production_and_lab_differ_only_by_the_directory_and_the_trust() -> None:
    lab, example = load_env("lab").settings, load_env("example").settings
    assert example.acme_ca_bundle is None  # Let's Encrypt's roots come with Debian
    assert lab.acme_directory == LAB_ENDPOINTS.directory
    assert lab.acme_ca_bundle == str(PebbleFiles(LabPaths(DEFAULT_ROOT).pebble_dir).trust)


def _ca(name: str, ca: bool = True) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_the_bundle_becomes_one_trust_file_per_ca_the_same_on_every_run(tmp_path: Path) -> None:
    bundle = tmp_path / "trust.pem"
    bundle.write_bytes(_ca("api") + _ca("root 1") + _ca("root 2"))
    first, again = bundle_certificates(str(bundle)), bundle_certificates(str(bundle))
    assert first == again and len(first) == 3
    assert len({c.file for c in first}) == 3
    assert all(c.file.startswith("/usr/local/share/ca-certificates/koumbit-acme-")
               and c.file.endswith(".crt") for c in first)
    assert bundle_certificates(None) == ()


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist: in the lab, `koumbit-infra lab up` writes it"),
    (b"not a certificate", "is not a file of PEM certificates"),
    (b"", "is not a file of PEM certificates"),
])
def test_a_bundle_that_is_not_cas_is_refused_naming_the_file(
        tmp_path: Path, content: bytes | None, message: str) -> None:
    bundle = tmp_path / "trust.pem"
    if content is not None:
        bundle.write_bytes(content)
    with pytest.raises(TrustBundleError, match=message) as refused:
        bundle_certificates(str(bundle))
    assert str(bundle) in refused.value.message and refused.value.exit_code == 2


def test_a_leaf_certificate_in_the_bundle_is_refused(tmp_path: Path) -> None:
    # Trusted by every server, it would vouch for whatever names it holds.
    bundle = tmp_path / "trust.pem"
    bundle.write_bytes(_ca("api") + _ca("www.bank.example", ca=False))
    refused = re.escape("'CN=www.bank.example', which is not a CA")
    with pytest.raises(TrustBundleError, match=refused):
        bundle_certificates(str(bundle))


def test_the_lab_dns_follows_the_inventory_and_forgets_absent_sites() -> None:
    inv = load_env("lab")
    records = site_records(inv)
    for placed in inv.placed_sites():
        address = str(inv.server(placed.site.server).address)
        for domain in placed.site.all_domains:
            want = None if placed.site.state is SiteState.ABSENT else address
            assert records[domain] == want, domain
    assert len(records) == sum(len(p.site.all_domains) for p in inv.placed_sites())


def test_pebbles_configuration_is_the_labs_and_the_same_on_every_run() -> None:
    files = PebbleFiles(Path("/var/lib/koumbit-lab/pebble"))
    text = render_config(files, LAB_ENDPOINTS)
    assert text == render_config(files, LAB_ENDPOINTS)
    config = json.loads(text)["pebble"]
    assert config["listenAddress"] == "10.77.0.1:14000"
    assert config["managementListenAddress"] == "127.0.0.1:15000"  # root keys: host only
    assert config["httpPort"] == 80
    assert config["certificateValidityPeriod"] == 90 * 86400
