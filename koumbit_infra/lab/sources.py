"""The lab host's code sources: one HTTPS origin on the lab network that the lab inventory's
settings.codebases names, where production names packagist and the WordPress mirror.

- ``/composer/``: a composer (v2) repository of the lab's stand-in packages
  (koumbit_infra/lab/standins.py), and composer's security-advisories API: composer POSTs
  ``packages[]=NAME...`` (form-encoded) to ``/composer/api/security-advisories/`` and gets
  ``{"advisories": {NAME: [...]}}`` from part B's ``advisories_for`` (the real advisory
  data, read in place).
- ``/wordpress/``: releases.json, wordpress-VERSION.tar.gz and its .sha256, built from
  Debian's packages (koumbit_infra/lab/wordpress.py).

Its certificate is signed by the lab's CA (Pebble's API CA, koumbit_infra/lab/pebble.py),
which the servers already trust through acme_ca_bundle: no ``--insecure``, no second
trust root. It serves as ``nobody`` (started by root, it drops to ``nobody`` once listening: the
toolkit's Python may be where ``nobody`` cannot read), files and pid under
``<state root>/sources``, started by ``lab up`` when not running, like Pebble, and
stopped with it.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.network import HOST_ADDRESS
from koumbit_infra.lab.pebble import (
    Address,
    Daemon,
    DaemonFiles,
    PebbleFiles,
    certificate_names,
    issued_by_api_ca,
    sign_server_certificate,
    start_daemon,
    stop_daemon,
)
from koumbit_infra.lab.standins import ADVISORIES_PATH, build_repository

USER = "nobody"
PORT = 14443
LAB_SOURCES: Address = (str(HOST_ADDRESS), PORT)
NAME = "koumbit-sources"
# composer's package names (its JSON schema's pattern); anything else is never looked up.
_PACKAGE = re.compile(r"[a-z0-9]([_.-]?[a-z0-9]+)*/[a-z0-9](([_.]?|-{0,2})[a-z0-9]+)*")
MAX_BODY = 1 << 20
MAX_NAMES = 5000


@dataclass(frozen=True)
class SourcesFiles(DaemonFiles):
    """Everything of the lab's sources under one folder (``<state root>/sources``)."""

    @property
    def key(self) -> Path:
        return self.root / "tls.key"

    @property
    def cert(self) -> Path:
        return self.root / "tls.pem"

    @property
    def www(self) -> Path:
        """What is served: composer/ and wordpress/."""
        return self.root / "www"

    @property
    def composer(self) -> Path:
        return self.www / "composer"

    @property
    def wordpress(self) -> Path:
        return self.www / "wordpress"


def base_url(address: Address) -> str:
    """The origin's URL: the lab inventory's codebases settings start with it."""
    return f"https://{address[0]}:{address[1]}"


def package_names(body: bytes) -> list[str]:
    """The package names of composer's advisory request (``packages[]=`` or
    ``packages[N]=``, form-encoded), lower case, valid ones only, each once."""
    names: dict[str, None] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), max_num_fields=MAX_NAMES):
        name = value.strip().lower()
        if re.fullmatch(r"packages\[[0-9]*\]", key) and _PACKAGE.fullmatch(name):
            names[name] = None
    return list(names)


def _advisories(names: list[str]) -> dict[str, Any]:
    # Part B's module (issue 14's contract); imported here so the server alone needs it.
    from koumbit_infra.advisories.composer_api import advisories_for

    answer: dict[str, Any] = advisories_for({name: [] for name in names})
    return answer


class _Handler(SimpleHTTPRequestHandler):
    """Files of ``www`` (no folder listings), and composer's advisory API."""

    server_version = "koumbit-lab-sources"
    sys_version = ""

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(404)

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != f"/composer/{ADVISORIES_PATH}":
            self.send_error(404)
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.send_error(413 if length > MAX_BODY else 400)
            return
        body = json.dumps(_advisories(package_names(self.rfile.read(length))),
                          sort_keys=True).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietHandler(_Handler):
    """The same, logging no request (the tests' and benches' rig)."""

    def log_message(self, format: str, *args: Any) -> None:
        return None


def server(www: Path, address: Address, cert: Path, key: Path,
           *, quiet: bool = False, listen: bool = True) -> ThreadingHTTPServer:
    """The HTTPS server of ``www`` on ``address`` (not started: ``serve_forever()``); the
    daemon logs each request to its log file, a ``quiet`` one none. Without ``listen`` it
    is bound but takes no connection until ``server_activate()``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    handler = _QuietHandler if quiet else _Handler
    httpd = ThreadingHTTPServer(address, partial(handler, directory=str(www)),
                                bind_and_activate=False)
    httpd.daemon_threads = True
    httpd.server_bind()
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    if listen:
        httpd.server_activate()
    return httpd


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m koumbit_infra.lab.sources --www DIR --listen HOST:PORT --cert --key
    [--user NAME]``: with ``--user``, started by root, it becomes NAME once listening."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--www", type=Path, required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--user")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    # Bound as root, listening only once it is the user: whoever connects (the lab's
    # readiness check first) meets the server as it will run.
    httpd = server(args.www, (host, int(port)), args.cert, args.key, listen=not args.user)
    if args.user:
        become(args.user)
        httpd.server_activate()
    httpd.serve_forever()


def become(user: str) -> None:
    """This process as ``user`` from now on. The toolkit's Python may live where ``user``
    cannot read (root's pyenv): it is started by root, loads all it needs (the advisory
    code, the certificate and its key), and only then serves, as ``user``."""
    _advisories(["drupal/core"])  # its modules loaded, whatever they import on first use
    account = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)


def daemon(files: SourcesFiles, address: Address, user: str | None = None) -> Daemon:
    """The server as the lab starts it (the Python running the toolkit), as ``user``."""
    return Daemon(NAME, (sys.executable, "-m", "koumbit_infra.lab.sources",
                         "--www", str(files.www), "--listen", f"{address[0]}:{address[1]}",
                         "--cert", str(files.cert), "--key", str(files.key),
                         *(("--user", user) if user else ())), (address,))


def ensure_sources(files: SourcesFiles, ca: PebbleFiles, address: Address = LAB_SOURCES,
                   user: str | None = USER) -> list[str]:
    """The sources served on ``address``: its certificate of the lab's CA, the composer
    repository built, the server running; what it had to do (nothing when all is there).
    The WordPress releases are built apart (they need the apt proxy): wordpress.py."""
    files.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    files.www.mkdir(mode=0o755, exist_ok=True)
    try:
        group = pwd.getpwnam(user).pw_gid if user else os.getegid()
    except KeyError as exc:
        raise LabError(f"no user {user} on this host: the lab's sources run as {user}") from exc
    changes = []
    restart = False
    if certificate_names(files.cert) != {address[0]} or not issued_by_api_ca(ca, files.cert):
        sign_server_certificate(ca, "koumbit-infra lab sources", [address[0]],
                                key_path=files.key, cert_path=files.cert, group=group)
        changes.append(f"{files.cert}: certificate of the lab's CA for {address[0]}")
        restart = True
    if build_repository(files.composer, f"{base_url(address)}/composer"):
        changes.append(f"{files.composer}: composer repository of the lab's stand-ins built")
    # Started as whoever runs the lab (root), it becomes ``user`` itself (become()).
    server_daemon = daemon(files, address, user if os.geteuid() == 0 else None)
    running = server_daemon.pid(files) is not None
    if running and not restart:
        return changes
    if running:
        stop_daemon(server_daemon, files)
    pid = start_daemon(server_daemon, files, None)
    changes.append(f"{NAME} {'restarted' if running else 'started'} on {base_url(address)}"
                   f" (pid {pid})")
    return changes


def stop_sources(files: SourcesFiles, address: Address = LAB_SOURCES,
                 user: str | None = USER) -> list[str]:
    """The server stopped; what was stopped."""
    found = daemon(files, address, user if os.geteuid() == 0 else None)
    return [f"stopped {NAME}"] if stop_daemon(found, files) else []


if __name__ == "__main__":
    main()
