"""A minimal FastCGI client: enough to ask a PHP-FPM pool for its status page.

Only the responder role with one request per connection, which is all the
status page needs; it avoids pulling in a FastCGI library or going through
nginx (see the package docstring for why the exporter talks to the pool).
"""

from __future__ import annotations

import socket
import struct

_VERSION = 1
_BEGIN_REQUEST = 1
_END_REQUEST = 3
_PARAMS = 4
_STDIN = 5
_STDOUT = 6
_STDERR = 7
_RESPONDER = 1
_REQUEST_ID = 1
_HEADER = struct.Struct(">BBHHBx")
_MAX_CONTENT = 65535


class FastCgiError(Exception):
    """The pool did not answer with a usable FastCGI response."""


def _record(kind: int, content: bytes = b"") -> bytes:
    padding = -len(content) % 8
    header = _HEADER.pack(_VERSION, kind, _REQUEST_ID, len(content), padding)
    return header + content + b"\0" * padding


def _length(n: int) -> bytes:
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def encode_params(params: dict[str, str]) -> bytes:
    """FastCGI name-value pairs, as the PARAMS stream carries them."""
    out = bytearray()
    for name, value in params.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += _length(len(raw_name)) + _length(len(raw_value)) + raw_name + raw_value
    return bytes(out)


def build_request(params: dict[str, str]) -> bytes:
    """The bytes of one complete GET request with no body."""
    begin = struct.pack(">HB5x", _RESPONDER, 0)  # flags 0: the pool closes the connection
    body = encode_params(params)
    chunks = [body[i : i + _MAX_CONTENT] for i in range(0, len(body), _MAX_CONTENT)]
    return b"".join(
        [_record(_BEGIN_REQUEST, begin), *(_record(_PARAMS, c) for c in chunks),
         _record(_PARAMS), _record(_STDIN)]
    )


def parse_response(data: bytes) -> tuple[dict[str, str], bytes]:
    """Headers and body of the CGI response carried in FastCGI STDOUT records."""
    stdout = bytearray()
    pos, ended = 0, False
    while pos + _HEADER.size <= len(data):
        _version, kind, _rid, length, padding = _HEADER.unpack_from(data, pos)
        pos += _HEADER.size
        content = data[pos : pos + length]
        pos += length + padding
        if kind == _STDOUT:
            stdout += content
        elif kind == _END_REQUEST:
            ended = True
            break
        elif kind != _STDERR:
            raise FastCgiError(f"unexpected FastCGI record type {kind}")
    if not ended:
        raise FastCgiError("connection closed before the end of the FastCGI response")
    head, sep, body = bytes(stdout).partition(b"\r\n\r\n")
    if not sep:
        raise FastCgiError("response has no CGI header block")
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body


def get(socket_path: str, script: str, query: str = "", timeout: float = 2.0) -> bytes:
    """GET ``script?query`` from the FastCGI server on a unix socket; the body."""
    params = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": script,
        "SCRIPT_FILENAME": script,
        "REQUEST_URI": f"{script}?{query}" if query else script,
        "QUERY_STRING": query,
        "SERVER_SOFTWARE": "koumbit-exporter",
        "REMOTE_ADDR": "127.0.0.1",
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(build_request(params))
        data = bytearray()
        while chunk := sock.recv(65536):
            data += chunk
    headers, body = parse_response(bytes(data))
    status = headers.get("status", "200")
    if not status.startswith("200"):
        raise FastCgiError(f"{script} answered status {status}")
    return body
