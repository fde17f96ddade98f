"""The /metrics page, rendered when measurements change rather than when scraped.

Collectors yield fresh families from their current snapshot; what changes
between two scrapes is only which snapshot is current. So each collector's
text (and its gzip member) is rendered right after its refresh, in the
refresh thread, and a scrape only joins bytes already in memory: rendering
10,000 sites' series costs about a second of CPU, which a scrape must not pay.
Only the gzip form is kept (Prometheus always asks for it), rendered family
by family into the compressor, so the plain text of every site (about 15 MB
at 10,000 sites) is never held whole; a client without gzip gets it
decompressed on the fly. Large families are rendered in parts of
RENDER_PART samples (measurement.PagedCollector), so neither are their
prometheus_client Sample objects: 50,000 of them, with their label dicts,
were 30 MiB at 10,000 sites. The self-metrics change only when a refresh
ends, so they are rendered then too and a scrape renders nothing: each zlib
call of a per-scrape rendering let the GIL go and then waited for it behind
the refresh threads, a millisecond or more each time.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from koumbit_infra.exporter.measurement import PagedCollector

# Samples per part of a family while rendering: bounds what a render holds
# (a part of 1,000 samples is about 0.6 MB of Sample objects) whatever the
# number of sites, at no measurable cost in time.
RENDER_PART = 1000


class _One(Collector):
    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> Iterable[Metric]:
        return [self.family]


def render(collector: PagedCollector) -> bytes:
    """The text exposition of one collector as one gzip member.

    Large families come in parts (PagedCollector); every part after the first
    of a family is written without its HELP and TYPE lines, so the text is
    what generate_latest writes for the whole family.
    """
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    out = []
    previous = None
    for family in collector.collect(limit=RENDER_PART):
        text = generate_latest(_One(family))
        if family.name == previous:
            text = text.split(b"\n", 2)[2]  # drop "# HELP ..." and "# TYPE ..."
        previous = family.name
        out.append(compressor.compress(text))
    out.append(compressor.flush())
    return b"".join(out)


class Exposition:
    """The rendering of each collector, kept until it is rendered again."""

    def __init__(self, collectors: Sequence[PagedCollector]) -> None:
        self._order = list(collectors)
        self._parts: dict[int, bytes] = {}
        # Refreshes finishing together render in turn, so the self-metrics
        # rendered last saw every job's last status. Scrapes never take it.
        self._lock = threading.Lock()
        for collector in self._order:
            self.update(collector)

    def update(self, collector: PagedCollector) -> None:
        """Render ``collector`` again (after it refreshed)."""
        with self._lock:
            self._parts = {**self._parts, id(collector): render(collector)}

    def body(self, gzipped: bool) -> bytes:
        parts = self._parts  # one read: updates swap the whole dict
        # Concatenated gzip members are one valid gzip stream (RFC 1952 2.2).
        body = b"".join([parts[id(c)] for c in self._order])
        return body if gzipped else gzip.decompress(body)


def _handler(exposition: Exposition) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses the connection
        disable_nagle_algorithm = True
        server_version = "koumbit-exporter"

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
                # Every name is a classic one, so the text is format 0.0.4, which
                # every Prometheus (Debian 12 ships 2.42) reads.
                self._send(200, exposition.body(gzipped), CONTENT_TYPE_PLAIN_0_0_4, gzipped)
            elif self.path == "/":
                page = b'<html><body><a href="/metrics">/metrics</a></body></html>\n'
                self._send(200, page, "text/html; charset=utf-8", False)
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8", False)

        def _send(self, code: int, body: bytes, kind: str, gzipped: bool) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per scrape would flood the journal

    return Handler


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True


def serve(exposition: Exposition, address: str, port: int) -> MetricsServer:
    """A started HTTP server answering /metrics in its own thread."""
    server = MetricsServer((address, port), _handler(exposition))
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
