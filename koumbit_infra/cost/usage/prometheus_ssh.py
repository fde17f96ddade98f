"""Read a monitoring server's Prometheus through SSH, as the deploys reach the server.

Prometheus listens on the monitoring server's loopback only, and sshd allows
no TCP forwarding (hardening), so each API request runs on that server: a
short python3 call over SSH (fabric, with the same key and pinned host keys
as pyinfra) whose output is the answer. The URL carries only the query.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager

from koumbit_infra.cost.usage.prometheus import PrometheusUsage
from koumbit_infra.cost.usage.records import UsageSourceError
from koumbit_infra.inventory import Inventory, Role
from koumbit_infra.monitoring.prometheus import LISTEN

_FETCH = ("import sys, urllib.request; "
          "sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=60).read())")


class MonitoringServerError(UsageSourceError):
    """No monitoring server, or its Prometheus cannot be reached through SSH."""


def monitoring_server(inv: Inventory, name: str | None) -> str:
    """``name`` if it monitors ``inv``, else the first monitoring server; error if none."""
    monitors = [s.name for s in inv.servers_with(Role.MONITOR)]
    if name is None and monitors:
        return monitors[0]
    if name in monitors:
        return name
    raise MonitoringServerError(f"'{name}' is not a monitoring server of '{inv.env}'"
                      f" (monitoring servers: {', '.join(monitors) or 'none'})")


@contextmanager
def prometheus_over_ssh(inv: Inventory, server: str) -> Iterator[PrometheusUsage]:
    """A usage source asking ``server``'s own Prometheus, for the ``with`` block."""
    from koumbit_infra.remote import connect

    try:
        conn = connect(inv, server)
        conn.open()
    except (OSError, EOFError) as exc:
        raise MonitoringServerError(f"cannot reach {server} through SSH: {exc}") from exc

    def fetch(url: str) -> bytes:
        done = conn.run(f"python3 -c {shlex.quote(_FETCH)} {shlex.quote(url)}", hide=True,
                        warn=True, in_stream=False, timeout=120)
        if not done.ok:
            raise OSError(f"on {server}: {done.stderr.strip()[-300:] or done.exited}")
        answer: str = done.stdout
        return answer.encode()

    try:
        yield PrometheusUsage(f"http://{LISTEN}", zone=inv.budget.zone, fetch=fetch,
                              where=f" on {server} (SSH)")
    finally:
        conn.close()
