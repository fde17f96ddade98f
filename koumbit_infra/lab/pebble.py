"""The lab's ACME server: Debian's Pebble on the host, and pebble-challtestsrv as the DNS
it asks where each site lives. The lab stands in for Let's Encrypt and for the sites'
public DNS; the deploys run certbot exactly as in production.

- Pebble's ACME API listens on the bridge (10.77.0.1:14000), the only port the servers
  need. Its management port (roots, and their private keys) and both ports of the DNS
  listen on the host's loopback only: no server reaches them.
- Its HTTPS API presents a certificate of a small CA the lab makes once (Debian's
  package ships no test certificate); validation of HTTP-01 goes to port 80 of the
  address the DNS gives (``PEBBLE_VA_NOSLEEP=1``: no random wait;
  ``PEBBLE_WFE_NONCEREJECT=0``: no good nonce refused); certificates last 90 days,
  as Let's Encrypt's.
- Pebble makes a new root at every start and forgets every account and order. The lab
  keeps it running across ``lab up`` (it starts only when not running, like the apt
  proxy) and, when it did restart, trusts the new root **beside** the earlier ones:
  ``trust.pem`` holds the API's CA and every root Pebble issued from since the lab was
  made, so certificates issued before still verify. ``lab destroy`` forgets the roots
  with the servers. certbot meets a forgotten account as Let's Encrypt would answer one
  (accountDoesNotExist) and registers anew (``koumbit-certificate``).
- Both run as ``nobody``, with their pid files and logs in ``<state root>/pebble/``.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.hosttools import program
from koumbit_infra.lab.network import HOST_ADDRESS
from koumbit_infra.lab.procs import cmdline, end, pid_alive, read_pid

USER = "nobody"
# Let's Encrypt's lifetime, so that renewal windows are the production ones.
VALIDITY_SECONDS = 90 * 86400
ENVIRONMENT = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
START_TIMEOUT_S = 15.0

Address = tuple[str, int]


@dataclass(frozen=True)
class Endpoints:
    """Where Pebble and its DNS listen, and the port HTTP-01 is checked on."""

    acme: Address
    management: Address
    dns: Address
    dns_management: Address
    http_port: int = 80

    @property
    def directory(self) -> str:
        """The ACME directory URL: the inventory's ``acme_directory``."""
        return f"https://{self.acme[0]}:{self.acme[1]}/dir"

    @property
    def api_addresses(self) -> tuple[str, ...]:
        """Addresses the API's certificate names (the ACME and the management listeners)."""
        return tuple(sorted({self.acme[0], self.management[0]}))


LAB_ENDPOINTS = Endpoints(acme=(str(HOST_ADDRESS), 14000), management=("127.0.0.1", 15000),
                          dns=("127.0.0.1", 8053), dns_management=("127.0.0.1", 8055))


@dataclass(frozen=True)
class DaemonFiles:
    """A lab daemon's folder: its pid files and logs (``<state root>/<daemon>``)."""

    root: Path

    def pid_file(self, daemon: str) -> Path:
        return self.root / f"{daemon}.pid"

    def log(self, daemon: str) -> Path:
        return self.root / f"{daemon}.log"


@dataclass(frozen=True)
class PebbleFiles(DaemonFiles):
    """Everything of the lab's Pebble under one folder (``<state root>/pebble``); its API's
    CA is the lab's own CA, which also signs the lab's code sources' certificate."""

    @property
    def api_ca_key(self) -> Path:
        return self.root / "api-ca.key"

    @property
    def api_ca(self) -> Path:
        return self.root / "api-ca.pem"

    @property
    def api_key(self) -> Path:
        return self.root / "api.key"

    @property
    def api_cert(self) -> Path:
        return self.root / "api.pem"

    @property
    def config(self) -> Path:
        return self.root / "pebble-config.json"

    @property
    def trust(self) -> Path:
        """The API's CA and every root Pebble issued from: the inventory's acme_ca_bundle."""
        return self.root / "trust.pem"


# --- the API's certificate ------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, group: int) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    if os.geteuid() == 0:
        os.chown(path, 0, group)
    path.chmod(0o640)


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                 signer: ec.EllipticCurvePrivateKey, addresses: Sequence[str] = ()
                 ) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1))
               .not_valid_after(now + timedelta(days=3650)))
    # Key identifiers: Python 3.13's ssl (Debian 13's python3) verifies strictly and refuses
    # a server certificate without its issuer's key identifier.
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    if addresses:
        builder = (builder
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       signer.public_key()), False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.IPAddress(IPv4Address(a)) for a in addresses]), False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                  False))
    else:
        builder = (builder
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=False, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                       crl_sign=True, encipher_only=False, decipher_only=False), True))
    return builder.sign(signer, hashes.SHA256())


def _names_of(path: Path) -> set[str]:
    """The addresses a current certificate names: none when it cannot be read, or when it
    was made before it carried its issuer's key identifier (so it is made again)."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except (OSError, ValueError, x509.ExtensionNotFound):
        return set()
    return {str(a) for a in san.get_values_for_type(x509.IPAddress)}


API_CA_NAME = "koumbit-infra lab: Pebble API CA"


def _make_api_ca(files: PebbleFiles) -> None:
    key = _key()
    _write_key(files.api_ca_key, key, 0)
    files.api_ca_key.chmod(0o600)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, API_CA_NAME)])
    ca = _certificate(API_CA_NAME, key, name, key)
    files.api_ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))


def _make_api_certificate(files: PebbleFiles, endpoints: Endpoints, group: int) -> None:
    sign_server_certificate(files, "pebble", endpoints.api_addresses, key_path=files.api_key,
                            cert_path=files.api_cert, group=group)


def sign_server_certificate(files: PebbleFiles, subject: str, addresses: Sequence[str], *,
                            key_path: Path, cert_path: Path, group: int) -> None:
    """A new key and a certificate of the lab's CA for ``addresses`` (the servers trust
    that CA through the inventory's acme_ca_bundle)."""
    signer = serialization.load_pem_private_key(files.api_ca_key.read_bytes(), None)
    if not isinstance(signer, ec.EllipticCurvePrivateKey):
        raise LabError(f"{files.api_ca_key} is not the EC key the lab made; remove"
                       f" {files.root} and run `lab up` again")
    ca = x509.load_pem_x509_certificate(files.api_ca.read_bytes())
    key = _key()
    _write_key(key_path, key, group)
    cert = _certificate(subject, key, ca.subject, signer, addresses)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def certificate_names(path: Path) -> set[str]:
    """The IP addresses a certificate names (none when it cannot be read)."""
    return _names_of(path)


def _has_key_identifier(path: Path) -> bool:
    """Whether the CA carries its own key identifier: Python 3.13's strict verification
    (Debian 13's python3) refuses a chain whose CA has none."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    return True


def issued_by_api_ca(files: PebbleFiles, path: Path) -> bool:
    """Whether the certificate at ``path`` names the lab's current CA as its issuer (its
    authority key identifier is that CA's key): one of an earlier CA is made again."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        ca = x509.load_pem_x509_certificate(files.api_ca.read_bytes())
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    ours = x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest
    return aki.key_identifier == ours


def ensure_api_certificate(files: PebbleFiles, endpoints: Endpoints, group: int) -> bool:
    """The API's CA (made once, kept: servers trust it) and a certificate of it for the
    API's addresses (made again only when they change); True when something was made."""
    made = False
    if not (files.api_ca_key.is_file() and _has_key_identifier(files.api_ca)):
        _make_api_ca(files)
        files.api_cert.unlink(missing_ok=True)
        made = True
    if (_names_of(files.api_cert) != set(endpoints.api_addresses)
            or not issued_by_api_ca(files, files.api_cert)):
        _make_api_certificate(files, endpoints, group)
        made = True
    return made


def render_config(files: PebbleFiles, endpoints: Endpoints) -> str:
    """Pebble's configuration (JSON), the same bytes for the same endpoints."""
    return json.dumps({"pebble": {
        "listenAddress": f"{endpoints.acme[0]}:{endpoints.acme[1]}",
        "managementListenAddress": f"{endpoints.management[0]}:{endpoints.management[1]}",
        "certificate": str(files.api_cert),
        "privateKey": str(files.api_key),
        "httpPort": endpoints.http_port,
        "tlsPort": 443,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
        "certificateValidityPeriod": VALIDITY_SECONDS,
    }}, indent=2, sort_keys=True) + "\n"


# --- the two daemons -------------------------------------------------------------------


@dataclass(frozen=True)
class Daemon:
    """One of the two programs: its name, its command line, and how to know it is ours."""

    name: str
    argv: tuple[str, ...]
    listens: tuple[Address, ...]
    env: tuple[tuple[str, str], ...] = ()

    def pid(self, files: DaemonFiles) -> int | None:
        """Pid of this lab's instance, if it runs (checked against its command line)."""
        pid = read_pid(files.pid_file(self.name))
        if pid is None or not pid_alive(pid):
            return None
        # /proc drops empty arguments ("-http01", "" reads "-http01").
        return pid if same_program(cmdline(pid), [a for a in self.argv if a]) else None


def same_program(running: list[str], wanted: list[str]) -> bool:
    """Whether a process's command line is the lab daemon's: the same arguments, and a
    program of the same name. The lab's sources run on the Python of the checkout that
    started them: another checkout's Python (another path) runs the same lab's daemon, with
    the same state folder, and must be able to stop it."""
    return (len(running) == len(wanted) > 0 and running[1:] == wanted[1:]
            and PurePosixPath(running[0]).name == PurePosixPath(wanted[0]).name)


def _program(name: str) -> str:
    """Its path; its bare name when it is not installed (then no instance can be ours)."""
    try:
        return program(name)
    except LabError:
        return name


def daemons(files: PebbleFiles, endpoints: Endpoints) -> tuple[Daemon, Daemon]:
    """The DNS first (Pebble asks it), then Pebble."""
    dns = Daemon("pebble-challtestsrv", (
        _program("pebble-challtestsrv"),
        # No default answer: a name nobody registered does not resolve (it would
        # otherwise point at the host's own loopback).
        "-defaultIPv4", "", "-defaultIPv6", "",
        "-dns01", f"{endpoints.dns[0]}:{endpoints.dns[1]}",
        "-http01", "", "-https01", "", "-tlsalpn01", "",
        "-management", f"{endpoints.dns_management[0]}:{endpoints.dns_management[1]}"),
        (endpoints.dns_management,))
    pebble = Daemon("pebble", (
        _program("pebble"), "-config", str(files.config),
        "-dnsserver", f"{endpoints.dns[0]}:{endpoints.dns[1]}"),
        (endpoints.acme, endpoints.management), tuple(sorted(ENVIRONMENT.items())))
    return dns, pebble


def listening(address: Address, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def start_daemon(daemon: Daemon, files: DaemonFiles, user: str | None) -> int:
    """``daemon`` started in its own session (it outlives `lab up`), as ``user`` when run by
    root; its pid once it listens, or a LabError with the end of its log."""
    if not (os.path.isabs(daemon.argv[0]) and os.access(daemon.argv[0], os.X_OK)):
        program(daemon.argv[0].rsplit("/", 1)[-1])  # a LabError naming the package
    who: dict[str, Any] = {}
    if user is not None and os.geteuid() == 0:
        account = pwd.getpwnam(user)
        who = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    busy = [a for a in daemon.listens if listening(a)]
    if busy:
        raise LabError(f"another process listens on {', '.join(f'{h}:{p}' for h, p in busy)},"
                       f" where the lab's {daemon.name} must: stop it, then run `lab up` again")
    with files.log(daemon.name).open("ab") as log:
        # Its own session, so it outlives `lab up`; its pid written by the lab.
        child = subprocess.Popen(
            list(daemon.argv), cwd="/", env={"PATH": "/usr/bin:/bin", **dict(daemon.env)},
            start_new_session=True, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, **who)
    files.pid_file(daemon.name).write_text(f"{child.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            break
        if all(listening(a) for a in daemon.listens):
            return child.pid
        time.sleep(0.05)
    stop_daemon(daemon, files)
    tail = files.log(daemon.name).read_text(errors="replace")[-1500:]
    raise LabError(f"{daemon.name} did not start listening on"
                   f" {', '.join(f'{h}:{p}' for h, p in daemon.listens)}\n{tail}")


def stop_daemon(daemon: Daemon, files: DaemonFiles) -> bool:
    """``daemon`` ended if this lab's instance runs; whether it did."""
    pid = daemon.pid(files)
    files.pid_file(daemon.name).unlink(missing_ok=True)
    if pid is None:
        return False
    end(pid)
    return True


# --- trust -----------------------------------------------------------------------------


def current_root(files: PebbleFiles, endpoints: Endpoints) -> str:
    """The root Pebble issues from now (PEM), from its management port."""
    context = ssl.create_default_context(cafile=str(files.api_ca))
    url = f"https://{endpoints.management[0]}:{endpoints.management[1]}/roots/0"
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as answer:
            pem = bytes(answer.read()).decode()
    except OSError as exc:
        raise LabError(f"Pebble's management port did not give its root ({url}): {exc}") \
            from None
    x509.load_pem_x509_certificate(pem.encode())  # refuse anything else
    return pem


def _certificates(text: str) -> list[str]:
    """The PEM blocks of ``text``, each as it is written (end line included)."""
    end = "-----END CERTIFICATE-----"
    return [block.strip() + f"\n{end}\n" for block in text.split(end) if block.strip()]


def refresh_trust(files: PebbleFiles, endpoints: Endpoints) -> bool:
    """``trust.pem``: the API's CA, then every root Pebble issued from (the current one
    added when new). Written beside and renamed; True when it changed."""
    old = files.trust.read_text() if files.trust.is_file() else ""
    blocks = _certificates(files.api_ca.read_text())
    for block in [*_certificates(old), *_certificates(current_root(files, endpoints))]:
        if block not in blocks:
            blocks.append(block)
    new = "".join(blocks)
    if new == old:
        return False
    partial = files.trust.with_name(files.trust.name + ".new")
    partial.write_text(new)
    partial.chmod(0o644)
    partial.replace(files.trust)
    return True


# --- what the lab calls -----------------------------------------------------------------


def ensure_acme(files: PebbleFiles, endpoints: Endpoints = LAB_ENDPOINTS,
                user: str | None = USER) -> list[str]:
    """Pebble and its DNS running, their root trusted; what it had to do (nothing when
    both already run with this configuration). ``user``: who they run as when started
    by root (``None``: whoever runs this, as tests and bench/acme.py do)."""
    files.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        group = pwd.getpwnam(user).pw_gid if user else os.getegid()
    except KeyError as exc:
        raise LabError(f"no user {user} on this host: Pebble runs as {user}") from exc
    changes = []
    reconfigured = ensure_api_certificate(files, endpoints, group)
    config = render_config(files, endpoints)
    if not files.config.is_file() or files.config.read_text() != config:
        files.config.write_text(config)
        reconfigured = True
    for daemon in daemons(files, endpoints):
        running = daemon.pid(files) is not None
        if running and not (reconfigured and daemon.name == "pebble"):
            continue
        if running:
            stop_daemon(daemon, files)
        pid = start_daemon(daemon, files, user)
        where = ", ".join(f"{h}:{p}" for h, p in daemon.listens)
        changes.append(f"{daemon.name} {'restarted' if running else 'started'} on {where}"
                       f" (pid {pid})")
    if refresh_trust(files, endpoints):
        changes.append(f"{files.trust}: Pebble's current root trusted")
    return changes


def stop_acme(files: PebbleFiles, endpoints: Endpoints = LAB_ENDPOINTS) -> list[str]:
    """Both daemons stopped (Pebble first); what was stopped."""
    return [f"stopped {d.name}" for d in reversed(daemons(files, endpoints))
            if stop_daemon(d, files)]


def forget_roots(files: PebbleFiles) -> bool:
    """No root trusted any more (the servers that trusted them are gone)."""
    if files.trust.is_file():
        files.trust.unlink()
        return True
    return False
