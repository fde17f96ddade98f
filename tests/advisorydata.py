"""The real advisory data and Drupal locks (read in place from shared/data beside the
checkout), and real composer run against a loopback repository that serves composer's
security-advisories API from ``koumbit_infra.advisories.composer_api``."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from koumbit_infra.advisories.composer_api import advisories_for
from koumbit_infra.advisories.database import DEFAULT_ROOT

DATA = DEFAULT_ROOT.parent
LOCKS = DATA / "drupal-composer-locks"


@pytest.fixture
def advisory_root() -> Path:
    """The PHP Security Advisories Database; the test is skipped where it is absent."""
    if not DEFAULT_ROOT.is_dir():
        pytest.skip(f"no advisory data at {DEFAULT_ROOT} (shared/data beside the checkout)")
    return DEFAULT_ROOT


def lock_of(release: str) -> Path:
    path = LOCKS / release / "composer.lock"
    if not path.is_file():
        pytest.skip(f"no Drupal lock at {path}")
    return path


def locked_versions(lock: Path) -> dict[str, list[str]]:
    data = json.loads(lock.read_text())
    return {p["name"]: [p["version"]] for p in [*data["packages"], *data.get("packages-dev", [])]}


class _Handler(BaseHTTPRequestHandler):
    root: Path
    asked: list[list[str]]
    scheme: str
    files: dict[str, bytes]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.path == "/packages.json":
            host = f"{self.scheme}://{self.headers['Host']}"
            # Composer reads "security-advisories" only from a v2 repository (metadata-url).
            self._send({"packages": [], "metadata-url": "/p2/%package%.json",
                        "security-advisories": {
                "metadata": False, "api-url": f"{host}/api/security-advisories/"}})
        elif self.path in self.files:
            raw = self.files[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        names = [v for k, values in form.items() if k.startswith("packages") for v in values]
        self.asked.append(names)
        self._send(advisories_for({n: [] for n in names}, self.root))


@contextmanager
def advisory_server(root: Path, tls: TlsFiles | None = None,
                    files: dict[str, bytes] | None = None,
                    ) -> Iterator[tuple[str, list[list[str]]]]:
    """A loopback composer repository answering the advisory API (over HTTPS with
    ``tls``), and serving ``files`` by path; its URL and the names each request asked for."""
    asked: list[list[str]] = []
    handler = type("Handler", (_Handler,), {"root": root, "asked": asked, "files": files or {},
                                           "scheme": "https" if tls else "http"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{handler.scheme}://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # also the CA a client trusts: it is self-signed
    key: Path


def self_signed(folder: Path) -> TlsFiles:
    """A certificate for 127.0.0.1 made by openssl, trusted by nothing but who is told."""
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(files.key), "-out", str(files.cert)],
                   check=True, capture_output=True)
    files.cert.chmod(0o644)
    return files


def composer() -> str:
    found = shutil.which("composer")
    if found is None:
        pytest.skip("composer is not installed (Debian's package: apt-get install composer)")
    return found


@contextmanager
def composer_home() -> Iterator[tuple[Path, dict[str, Any]]]:
    """A folder composer may write (its COMPOSER_HOME, cache and project), and how to run a
    process as a user who is not root: ``nobody`` when the tests run as root."""
    folder = Path(tempfile.mkdtemp(prefix="koumbit-composer-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        who = pwd.getpwnam("nobody")
        os.chown(folder, who.pw_uid, who.pw_gid)
        run_as = {"user": who.pw_uid, "group": who.pw_gid, "extra_groups": []}
    try:
        yield folder, run_as
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def composer_audit(lock: Path, repository: str) -> tuple[int, dict[str, Any], str]:
    """``composer audit --locked --format=json`` of ``lock`` against ``repository`` only
    (packagist off), as a user who is not root with its own COMPOSER_HOME: exit status,
    the JSON it printed, its stderr."""
    binary = composer()
    with composer_home() as (home, run_as):
        project = home / "project"
        project.mkdir()
        (project / "composer.json").write_text(json.dumps({
            "name": "koumbit/audit-test",
            "repositories": [{"type": "composer", "url": repository}, {"packagist.org": False}],
            "config": {"secure-http": False, "allow-plugins": False}}))
        shutil.copyfile(lock, project / "composer.lock")
        if run_as:
            for path in (project, project / "composer.json", project / "composer.lock"):
                os.chown(path, run_as["user"], run_as["group"])
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "COMPOSER_HOME": str(home / "ch"),
               "COMPOSER_CACHE_DIR": str(home / "cache"), "COMPOSER_NO_INTERACTION": "1"}
        done = subprocess.run(
            [binary, "audit", "--locked", "--no-plugins", "--format=json",
             f"--working-dir={project}"],
            env=env, capture_output=True, text=True, timeout=120, check=False, **run_as)
    return done.returncode, json.loads(done.stdout or "{}"), done.stderr
