"""One HTTP(S) request to a given server with a site's Host header (and SNI name).

Lets tests and ``koumbit-infra site migrate`` check a site on a server before
DNS points at it, the certificate checked against the environment's CA.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def fetch(address: str, domain: str, path: str = "/", *, tls: bool = True,
          ca_file: str | None = None, timeout: float = 15.0,
          headers: Mapping[str, str] | None = None) -> Answer:
    """GET ``path`` from ``address`` as ``domain``, with ``headers`` besides Host (a staging
    copy's Authorization); redirects are not followed."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    if extra.count("\n") != len(headers or {}) or extra.count("\r") != len(headers or {}):
        raise ValueError("a header name or value holds a line break")
    raw = socket.create_connection((address, 443 if tls else 80), timeout=timeout)
    sock: socket.socket = raw
    if tls:
        ctx = ssl.create_default_context(cafile=ca_file)
        sock = ctx.wrap_socket(raw, server_hostname=domain)
    try:
        request = (f"GET {path} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n"
                   f"User-Agent: koumbit-infra\r\nAccept-Encoding: identity\r\n{extra}\r\n")
        sock.sendall(request.encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        got = {k.lower(): v for k, v in response.getheaders()}
        return Answer(response.status, got, body)
    finally:
        sock.close()
