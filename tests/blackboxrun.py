"""The real blackbox exporter (Debian's prometheus-blackbox-exporter) for unit tests.

``check_blackbox`` and ``check_file_sd`` are the checkers of the probes' files
(its own ``--config.check``, promtool on a file_sd list). ``live_blackbox`` runs
the exporter on a free loopback port against ``FakeWeb``: two small servers (TLS
and plain HTTP) on loopback that answer each Host as a web server's vhosts would,
with a certificate from a throw-away CA that the exporter alone trusts
(``SSL_CERT_FILE``), and that record the Host header and TLS server name asked.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"


def blackbox_binary() -> str:
    found = shutil.which("prometheus-blackbox-exporter") or (
        BLACKBOX if Path(BLACKBOX).exists() else None)
    assert found, ("prometheus-blackbox-exporter is missing: scripts/bootstrap installs"
                   " Debian's package")
    return found


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def check_blackbox(text: str, tmp: Path) -> None:
    """The exporter's own check of a configuration (``--config.check``)."""
    path = tmp / "blackbox.yml"
    path.write_text(text)
    done = _run([blackbox_binary(), "--config.check", f"--config.file={path}"])
    assert done.returncode == 0, done.stdout + done.stderr


def check_file_sd(text: str, tmp: Path) -> None:
    """promtool reading a file_sd list as a probe job would: every target group, relabeled to
    the exporter (a URL is not a scrape address before that), must make a valid target."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/bootstrap installs Debian's prometheus"
    targets = tmp / "targets.json"
    targets.write_text(text)
    config = tmp / "prometheus.yml"
    config.write_text(f'scrape_configs:\n  - job_name: probes\n    metrics_path: /probe\n'
                      f'    file_sd_configs:\n      - files: ["{targets}"]\n'
                      '    relabel_configs:\n'
                      '      - {source_labels: [__address__], target_label: __param_target}\n'
                      '      - {target_label: __address__, replacement: "127.0.0.1:9115"}\n')
    done = _run([promtool, "check", "config", str(config)])
    assert done.returncode == 0 and "WARNING" not in done.stdout + done.stderr, (
        done.stdout + done.stderr)


# --- a throw-away CA, and servers that answer like vhosts ----------------------------------


def _openssl(*args: str) -> None:
    done = _run(["openssl", *args])
    assert done.returncode == 0, done.stderr


@dataclass(frozen=True)
class Certificates:
    """``ca.crt`` (what the exporter trusts), a leaf for ``names`` signed by it, and a
    self-signed certificate no one trusts."""

    ca: Path
    cert: Path
    key: Path
    rogue_cert: Path
    rogue_key: Path


def make_certificates(tmp: Path, names: tuple[str, ...]) -> Certificates:
    ca_key, ca = tmp / "ca.key", tmp / "ca.crt"
    key, csr, cert = tmp / "leaf.key", tmp / "leaf.csr", tmp / "leaf.crt"
    rogue_key, rogue = tmp / "rogue.key", tmp / "rogue.crt"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-days", "30",
             "-subj", "/CN=probes test CA", "-addext", "basicConstraints=critical,CA:TRUE")
    _openssl("req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=leaf")
    ext = tmp / "leaf.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
                   "subjectAltName=" + ",".join(f"DNS:{n}" for n in names) + "\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "20", "-extfile", str(ext), "-out", str(cert))
    _openssl("req", "-x509", *ec, "-keyout", str(rogue_key), "-out", str(rogue), "-days", "30",
             "-subj", "/CN=rogue", "-addext", "subjectAltName=DNS:" + ",DNS:".join(names))
    return Certificates(ca, cert, key, rogue, rogue_key)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    location: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class FakeWeb:
    """Answers per Host (``answers``); TLS names in ``rogue`` get the untrusted certificate."""

    answers: dict[str, Answer]
    rogue: set[str] = field(default_factory=set)
    seen: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    tls_port: int = 0
    http_port: int = 0


def _handler(web: FakeWeb, scheme: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            host = self.headers.get("Host")
            sni = getattr(self.connection, "koumbit_sni", None)
            web.seen.append((scheme, host, sni))
            answer = web.answers.get(host or "", Answer(404, b"no such site"))
            self.send_response(answer.status)
            if answer.location:
                self.send_header("Location", answer.location)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _TlsServer(ThreadingHTTPServer):
    def __init__(self, web: FakeWeb, certs: Certificates) -> None:
        super().__init__(("127.0.0.1", 0), _handler(web, "https"))
        self.trusted = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.trusted.load_cert_chain(certs.cert, certs.key)
        rogue = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        rogue.load_cert_chain(certs.rogue_cert, certs.rogue_key)

        def pick(sock: ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
            sock.koumbit_sni = name  # type: ignore[attr-defined]  # read by the handler
            if name in web.rogue:
                sock.context = rogue

        self.trusted.sni_callback = pick  # type: ignore[assignment]

    def get_request(self) -> tuple[socket.socket, object]:
        raw, address = super().get_request()
        conn = self.trusted.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        return conn, address

    def finish_request(self, request: object, client_address: object) -> None:
        conn = request
        assert isinstance(conn, ssl.SSLSocket)
        try:
            conn.do_handshake()
        except (ssl.SSLError, OSError):
            return  # a client refusing our certificate: nothing to answer
        super().finish_request(conn, client_address)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveBlackbox:
    """A running exporter: ``probe`` asks it one probe and returns its metrics by name."""

    address: str

    def probe(self, target: str, module: str, hostname: str) -> dict[str, float]:
        query = urllib.parse.urlencode({"target": target, "module": module,
                                        "hostname": hostname})
        with urllib.request.urlopen(f"http://{self.address}/probe?{query}",
                                    timeout=30) as answer:
            text = answer.read().decode()
        return parse_samples(text)


def parse_samples(text: str) -> dict[str, float]:
    """``name{labels} value`` lines as {``name{labels}``: value}, and each bare name once."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        out[series] = float(value)
        out.setdefault(series.split("{", 1)[0], float(value))
    return out


@contextmanager
def live_blackbox(config: str, web: FakeWeb, tmp: Path, names: tuple[str, ...],
                  ) -> Iterator[LiveBlackbox]:
    """The exporter with ``config``, trusting only the test CA, and ``web`` serving."""
    certs = make_certificates(tmp, names)
    (tmp / "blackbox.yml").write_text(config)
    tls = _TlsServer(web, certs)
    plain = ThreadingHTTPServer(("127.0.0.1", 0), _handler(web, "http"))
    web.tls_port, web.http_port = tls.server_address[1], plain.server_address[1]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (tls, plain)]
    for thread in threads:
        thread.start()
    address = f"127.0.0.1:{_free_port()}"
    # The test CA alone: Go reads SSL_CERT_FILE, and every file of SSL_CERT_DIR (empty here).
    no_more = tmp / "no-more-cas"
    no_more.mkdir()
    env = {**os.environ, "SSL_CERT_FILE": str(certs.ca), "SSL_CERT_DIR": str(no_more)}
    proc = subprocess.Popen(
        [blackbox_binary(), f"--config.file={tmp / 'blackbox.yml'}",
         f"--web.listen-address={address}"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    try:
        _wait_for(address, proc)
        yield LiveBlackbox(address)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
        for server in (tls, plain):
            server.shutdown()
            server.server_close()


def _wait_for(address: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"the blackbox exporter stopped: {err}")
        try:
            with urllib.request.urlopen(f"http://{address}/-/healthy", timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the blackbox exporter did not start within 20 s")
