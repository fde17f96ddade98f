"""The host's real nginx serving a rendered vhost on 127.0.0.1, for unit tests that ask it
what it answers (staging copies' passwords, Drupal's front controllers)."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_serving(vhost: str, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    """The host's nginx serving ``vhost`` over plain HTTP on 127.0.0.1:``port`` (its
    plain-HTTP server, if any, on ``port + 1``)."""
    vhost = re.sub(r"listen \[::\]:[^;]+;\n", "", vhost)
    vhost = re.sub(r"listen 443 ssl( http2)?;", f"listen 127.0.0.1:{port};", vhost)
    vhost = vhost.replace("listen 80;", f"listen 127.0.0.1:{port + 1};")
    vhost = re.sub(r"\n\s*(http2 on|ssl_certificate(_key)? [^;]*);", "", vhost)
    vhost = vhost.replace("/var/log/nginx/sites", str(tmp))
    conf = tmp / "nginx.conf"
    # www-data: the user Debian's nginx runs its workers as, who must read what it serves.
    conf.write_text(f"daemon off; user www-data; pid {tmp}/nginx.pid;"
                    f" error_log {tmp}/error.log;"
                    f" events {{}} http {{ include /etc/nginx/mime.types;"
                    f" log_format koumbit_json '$status';"
                    f" access_log off; client_body_temp_path {tmp}/body;"
                    f" proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;"
                    f" uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;\n{vhost}\n}}\n")
    return subprocess.Popen(["nginx", "-c", str(conf), "-e", str(tmp / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def serving(vhost: str, tmp: Path) -> Iterator[int]:
    """nginx serving ``vhost`` while the block runs; the port it answers on."""
    port = free_port()
    server = nginx_serving(vhost, tmp, port)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError((tmp / "error.log").read_text())
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def get(port: int, host: str, path: str = "/",
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One GET of ``path`` from the local nginx, as ``host``: status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        answer = conn.getresponse()
        body = answer.read()
        return answer.status, dict(answer.getheaders()), body
    finally:
        conn.close()
