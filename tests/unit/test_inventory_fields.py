"""The inventory's value types, one by one: what each accepts and what it refuses, and why."""

from __future__ import annotations

import base64
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from koumbit_infra.inventory.fields import (
    AptProxy,
    Domain,
    Email,
    Login,
    MailRelay,
    PersonName,
    ServerAddress,
    Title,
    WebhookUrl,
)
from koumbit_infra.inventory.money import Cad
from koumbit_infra.inventory.names import SYSTEM_NAME_RE, is_system_account, system_name
from koumbit_infra.inventory.problems import Problem
from koumbit_infra.inventory.sshkeys import KEY_TYPES, parse_public_key


def valid(kind: object, value: object) -> object:
    return TypeAdapter(kind).validate_python(value)


def refused(kind: object, value: object) -> str:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(kind).validate_python(value)
    return str(caught.value)


# --- domains: one spelling, compared once normalised -------------------------------------


@pytest.mark.parametrize(("written", "canonical"), [
    ("erables.test", "erables.test"),
    ("Erables.TEST", "erables.test"),
    ("www.erables.test.", "www.erables.test"),
    ("xn--caf-dma.test", "xn--caf-dma.test"),
])
def test_domains_are_stored_in_their_canonical_spelling(written: str, canonical: str) -> None:
    assert valid(Domain, written) == canonical


@pytest.mark.parametrize("written", [
    "erables.test\n", "evil\n.example.test", "erables.test..", ".erables.test", "erables",
    "-erables.test", "erables-.test", "erables.123", "café.test", "xn--.test", "xn--abc.test",
    "a" * 64 + ".test", ("a" * 62 + ".") * 4 + "test", "erables.test/", "erables.test;",
])
def test_domains_refuse_what_no_dns_name_holds(written: str) -> None:
    refused(Domain, written)


def test_internationalised_domains_are_asked_for_in_idna_form() -> None:
    assert "xn--" in refused(Domain, "café.test")


# --- addresses: one host the toolkit can reach --------------------------------------------


@pytest.mark.parametrize("address", ["10.77.0.11", "192.0.2.200", "203.0.113.7", "8.8.8.8"])
def test_host_addresses_are_accepted(address: str) -> None:
    assert str(valid(ServerAddress, address)) == address


@pytest.mark.parametrize(("address", "why"), [
    ("0.0.0.0", "this network"), ("0.1.2.3", "this network"),
    ("255.255.255.255", "broadcast"), ("10.77.0.255", "broadcast"), ("10.77.0.0", "network"),
    ("224.0.0.1", "multicast"), ("239.1.2.3", "multicast"), ("127.0.0.1", "loopback"),
    ("169.254.1.1", "link-local"), ("240.0.0.1", "reserved"),
])
def test_addresses_that_are_not_one_host_are_refused(address: str, why: str) -> None:
    assert why in refused(ServerAddress, address)


# --- money: plain decimal notation only ---------------------------------------------------


@pytest.mark.parametrize(("written", "amount"), [
    ("25.00", Decimal("25.00")), ("1200", Decimal(1200)), ("0.5", Decimal("0.5")),
    (25.5, Decimal("25.5")), (40, Decimal(40)), (Decimal("9.99"), Decimal("9.99")),
])
def test_plain_amounts_are_accepted(written: object, amount: Decimal) -> None:
    assert valid(Cad, written) == amount


@pytest.mark.parametrize("written", [
    "1e3", "1E+3", "+5", ".5", "5.", "1_000", " 5", "5 ", "5\n", "NaN", "Infinity", "0x10",
    "١٢", "１２", "9" * 13, 1e16, float("inf"), True, "",
])
def test_amounts_not_in_plain_decimal_notation_are_refused(written: object) -> None:
    refused(Cad, written)


def test_a_signed_zero_is_refused_like_any_negative_amount() -> None:
    assert "is negative" in refused(Cad, "-0.00")


# --- free text, names and logins ----------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Théâtre de quartier Hochelaga", "Comité «Parents» ; 2024", "$(id) is just text here",
    "Ça\u00a0va", "كافيه", "می\u200cخواهم",  # Persian is spelled with a zero-width non-joiner
])
def test_free_text_accepts_what_people_write(text: str) -> None:
    assert valid(Title, text) == text


@pytest.mark.parametrize("text", [
    "a\nb", "a\rb", "a\tb", "a\x00", "a\x1b[2J", "a\x7f", "a\x85", "a\u2028b", "a\u202eb",
    "a\u2066b", "a\u200bb", "\ufeffa", "a\ue000", "", " ", " a", "a ", "=SUM(A1)", "+1", "@x",
    "-x", "x" * 201,
])
def test_free_text_refuses_invisible_characters_and_formulas(text: str) -> None:
    refused(Title, text)


@pytest.mark.parametrize("login", ["root", "www-data", "mysql", "sshd", "sudo", "nobody",
                                   "systemd-network", "restic-web1", "koumbit-admins"])
def test_admins_cannot_take_a_system_accounts_name(login: str) -> None:
    assert "system account" in refused(Login, login)


def test_a_gecos_field_cannot_be_split() -> None:
    for separator in ":,=":
        refused(PersonName, f"Camille{separator}Tremblay")
    assert valid(PersonName, "Camille Tremblay-Côté") == "Camille Tremblay-Côté"


@given(st.lists(st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
                min_size=2, max_size=5).map(".".join))
def test_site_system_names_are_never_system_accounts(domain: str) -> None:
    name = system_name(domain)
    assert SYSTEM_NAME_RE.fullmatch(name)
    assert not is_system_account(name)


@pytest.mark.parametrize("domain", ["root.test", "www-data.test", "mysql.example",
                                    "systemd-network.test", "koumbit.test"])
def test_domains_named_like_accounts_get_their_own_system_name(domain: str) -> None:
    assert not is_system_account(system_name(domain))


# --- e-mail and the apt proxy -------------------------------------------------------------


def test_email_domains_are_normalised_and_shell_characters_refused() -> None:
    assert valid(Email, "Info+infra@Koumbit.TEST") == "Info+infra@koumbit.test"
    for bad in ("a b@x.test", "a@x.test\n", "'a'@x.test", "a;b@x.test", "a%b@x.test",
                "a..b@x.test", ".a@x.test", "a@x", "a@@x.test", "a@x.test>"):
        refused(Email, bad)


@pytest.mark.parametrize("url", ["http://10.77.0.1:3142", "http://apt-cache.koumbit.test:3142/",
                                 "https://proxy.koumbit.test", "http://localhost:3142"])
def test_apt_proxy_accepts_an_http_url_of_a_host(url: str) -> None:
    assert valid(AptProxy, url) == url


# --- alerting: a webhook and the mail relay -----------------------------------------------


@pytest.mark.parametrize("url", [
    "https://chat.koumbit.example/hooks/alertes", "http://127.0.0.1:8099/koumbit-infra",
    "http://localhost:8099/", "https://hooks.koumbit.example:8443/a/b_c~d%20e?token=x-1&y=2",
])
def test_webhook_url_accepts_an_http_url_with_a_path(url: str) -> None:
    assert valid(WebhookUrl, url) == url


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "file:///etc/passwd", "ftp://x.test/", "https://x.test/a b",
    "https://x.test/\nX-Evil: 1", "https://x.test/a\n", "https://bot:secret@x.test/",
    'https://x.test/"}]', "https://x.test/{{ template }}", "https://x.test/#frag",
    "https://x.test:0/", "https://x.test:70000/", "HTTPS://x.test/", "https://x.test/'a'",
    "https://10.0.0.300/", "https://x.test/$(id)", "//x.test/", "http://0.0.0.0/%",
    "https://x.test/%zz", "https://x.test/a?b=%",
])
def test_webhook_url_refuses_anything_but_a_plain_http_url(url: str) -> None:
    assert "is not an http(s) URL" in refused(WebhookUrl, url)


@pytest.mark.parametrize("relay", ["smtp.koumbit.example", "smtp.koumbit.example:587",
                                   "192.0.2.25:25"])
def test_mail_relay_accepts_a_host_and_port(relay: str) -> None:
    assert valid(MailRelay, relay) == relay


@pytest.mark.parametrize(("relay", "why"), [
    ("smtp.koumbit.example::587", "is not a mail relay"),
    ("smtp.koumbit.example:587:25", "is not a mail relay"),
    ("smtp.koumbit.example'; id; '", "is not a mail relay"),
    ("smtp.koumbit.example\n", "is not a mail relay"),
    ("smtp.koumbit.example : 25", "is not a mail relay"),
    ("smtp:99999", "is not a mail relay"),
    ("localhost:25", "is this server itself"),
    ("127.0.0.1", "is this server itself"),
])
def test_mail_relay_refuses_shell_words_and_this_server(relay: str, why: str) -> None:
    assert why in refused(MailRelay, relay)


@pytest.mark.parametrize("url", [
    'http://10.77.0.1:3142"; DPkg::Pre-Invoke {"id";};', "http://10.77.0.1:3142\n",
    "http://10.77.0.1:99999", "http://10.77.0.300", "ftp://10.77.0.1", "http://a b",
    "http://user:pass@10.77.0.1", "http://10.77.0.1/path?x", "HTTP://10.77.0.1",
])
def test_apt_proxy_refuses_anything_more_than_a_url(url: str) -> None:
    refused(AptProxy, url)


# --- SSH keys: one line, of a known type, whose data names that type ----------------------


@pytest.mark.parametrize(("kind", "bits"), [("ed25519", None), ("rsa", "3072"),
                                            ("ecdsa", "256"), ("ecdsa", "384"), ("ecdsa", "521")])
def test_keys_made_by_ssh_keygen_are_accepted(kind: str, bits: str | None,
                                              tmp_path: Path) -> None:
    argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "camille@koumbit",
            "-f", str(tmp_path / "key")] + (["-b", bits] if bits else [])
    subprocess.run(argv, check=True, capture_output=True)
    line = (tmp_path / "key.pub").read_text().strip()
    key = parse_public_key(line)
    assert key.kind in KEY_TYPES and key.comment == "camille@koumbit"


def _blob(*parts: bytes) -> str:
    return base64.b64encode(b"".join(len(p).to_bytes(4, "big") + p for p in parts)).decode()


def test_security_key_types_are_accepted() -> None:
    ed = "sk-ssh-ed25519@openssh.com"
    assert parse_public_key(f"{ed} {_blob(ed.encode(), bytes(32), b'ssh:')}").kind == ed
    ec = "sk-ecdsa-sha2-nistp256@openssh.com"
    line = f"{ec} {_blob(ec.encode(), b'nistp256', bytes(65), b'ssh:')} yubikey"
    assert parse_public_key(line).comment == "yubikey"


@pytest.mark.parametrize("line", [
    f"ecdsa-sha2-nistp256 {_blob(b'ecdsa-sha2-nistp256', b'nistp384', bytes(97))}",
    f"ssh-ed25519 {_blob(b'ssh-ed25519', bytes(31))}",
    f"ssh-ed25519 {_blob(b'ssh-ed25519', bytes(32), b'extra')}",
    f"ssh-dss {_blob(b'ssh-dss', bytes(20))}",
    f"ssh-ed25519 {_blob(b'ssh-ed25519', bytes(32))} two\nlines",
    f"ssh-ed25519\t{_blob(b'ssh-ed25519', bytes(32))}",
    f"ssh-ed25519 {_blob(b'ssh-ed25519', bytes(32))[:-2]}",
])
def test_keys_that_sshd_would_not_take_as_written_are_refused(line: str) -> None:
    with pytest.raises(ValueError):
        parse_public_key(line)


def test_a_comment_does_not_make_another_key() -> None:
    blob = _blob(b"ssh-ed25519", bytes(32))
    first = parse_public_key(f"ssh-ed25519 {blob} camille@laptop")
    assert first.identity == parse_public_key(f"ssh-ed25519  {blob} camille@desk").identity


# --- messages print what was written, escaped ---------------------------------------------


def test_problems_escape_what_they_quote() -> None:
    problem = Problem(Path("clients/x\x1b.yaml"), 2, "name: 'a\x1b[2J\u202eb'", "fix\nit")
    assert str(problem) == "clients/x\\x1b.yaml:2: name: 'a\\x1b[2J\\u202eb'; fix\\nit"
    assert problem.as_dict()["path"] == "clients/x\\x1b.yaml"
