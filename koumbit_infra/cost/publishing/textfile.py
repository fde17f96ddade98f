"""Publish the ledger's cost and budget metrics to a monitoring server.

The figures change only when a month is closed, so they are a batch job's
output, and Prometheus's answer for those is node_exporter's textfile
collector: ``koumbit-infra cost publish`` renders the metrics of
``koumbit_infra.cost.publishing.metrics`` from the ledger and the inventory, here, and
writes them as one file on the monitoring server, in the directory Debian's
node_exporter reads by default. The monitoring server's Prometheus scrapes
them with the rest of that server's node metrics (job ``node``).

Why not a cost exporter running on the monitoring server: it would need the
ledger and the whole inventory copied there, a new service and a new port,
for numbers that change twelve times a year. ``koumbit-infra cost metrics``
still serves the same metrics over HTTP, for a Prometheus that can reach the
machine holding the ledger.

The file is written beside its final name and renamed over it, so
node_exporter never reads half a file; publishing the same figures again
changes nothing on the server.
"""

from __future__ import annotations

import io
import shlex
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from koumbit_infra.cost.ledger.store import LedgerError, ledger_exists
from koumbit_infra.cost.publishing.metrics import CostCollector
from koumbit_infra.errors import KoumbitError
from koumbit_infra.inventory import Inventory

# Debian's prometheus-node-exporter reads *.prom files here (its default
# --collector.textfile.directory); the package creates it, root-owned.
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
TEXTFILE = f"{TEXTFILE_DIR}/koumbit_cost.prom"
_STAGED = f"{TEXTFILE_DIR}/.koumbit_cost.prom.next"  # not *.prom: node_exporter skips it


class PublishError(KoumbitError):
    """The metrics could not be rendered or written; the server's file is unchanged (exit 2)."""

    exit_code = 2

    def explain(self) -> str:
        return f"error: {self.message}"


@dataclass(frozen=True)
class Published:
    server: str
    path: str
    changed: bool
    size: int


def cost_exposition(inv: Inventory, ledger_path: Path | str) -> str:
    """The cost and budget metrics of ``inv``'s env, in Prometheus's text format."""
    if not ledger_exists(ledger_path):
        raise PublishError(f"{ledger_path}: no ledger; close a month first"
                           f" (koumbit-infra cost close YYYY-MM --env {inv.env})")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CostCollector(inv, ledger_path))
    try:
        text = generate_latest(registry).decode()
    except LedgerError as exc:
        raise PublishError(str(exc)) from None
    header = f"# Published by koumbit-infra cost publish (env {inv.env}); do not edit.\n"
    return header + text


def install_command() -> str:
    """Shell that moves the staged file over the published one (same directory: atomic)."""
    staged, final = shlex.quote(_STAGED), shlex.quote(TEXTFILE)
    return f"chmod 644 {staged} && mv -f {staged} {final}"


def publish(inv: Inventory, server: str, text: str) -> Published:
    """Write ``text`` as the cost metrics file on ``server``, unless it is already there."""
    from koumbit_infra.remote import connect, run

    try:
        conn = connect(inv, server)
        conn.open()
    except (OSError, EOFError) as exc:
        raise PublishError(f"cannot reach {server} through SSH: {exc}") from exc
    try:
        folder = run(conn, f"test -d {shlex.quote(TEXTFILE_DIR)}")
        if not folder.ok:
            raise PublishError(
                f"{server}: {TEXTFILE_DIR} is missing (node_exporter's textfile directory);"
                f" deploy the server first: koumbit-infra deploy --env {inv.env}")
        now = run(conn, f"cat {shlex.quote(TEXTFILE)}")
        if now.ok and now.stdout == text:
            return Published(server, TEXTFILE, False, len(text.encode()))
        conn.put(io.BytesIO(text.encode()), remote=_STAGED)
        moved = run(conn, install_command())
        if not moved.ok:
            raise PublishError(f"{server}: could not install {TEXTFILE}:"
                               f" {moved.stderr.strip()[-300:]}")
        return Published(server, TEXTFILE, True, len(text.encode()))
    finally:
        conn.close()
