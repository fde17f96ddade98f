"""SSH to the servers with fabric, exactly as pyinfra reaches them.

Used by the site commands (backup, restore, clone, migrate) and by the cost
commands that read or publish on the monitoring server. Connection settings
come from the same host data pyinfra uses
(``koumbit_infra.pyinfra_inventory.host_data``): user, address and, in the
lab, the lab's key and pinned host keys. An unknown host key is refused,
never added (fabric's default would add it).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import paramiko
from fabric import Connection

from koumbit_infra.inventory import Inventory
from koumbit_infra.pyinfra_inventory import host_data


@dataclass(frozen=True)
class Result:
    ok: bool
    exit_code: int
    stdout: str
    stderr: str


def connect(inv: Inventory, server: str) -> Connection:
    """A fabric connection to ``server`` with strict host key checking."""
    data = host_data(inv, server)
    kwargs: dict[str, object] = {"timeout": 15}
    if "ssh_key" in data:
        kwargs |= {"key_filename": data["ssh_key"], "look_for_keys": False,
                   "allow_agent": False}
    conn = Connection(host=data["ssh_hostname"], user=data["ssh_user"], connect_kwargs=kwargs)
    if "ssh_known_hosts_file" in data:
        conn.client.load_host_keys(data["ssh_known_hosts_file"])
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return conn


def run(conn: Connection, command: str, timeout: float | None = 1800,
        stdin: str | None = None) -> Result:
    """Run ``command`` (as the connection's user); never raises for a non-zero exit.

    ``stdin`` is sent to the command's standard input, then closed: the one way a
    secret reaches a server (never on a command line, never in a file here).
    """
    feed = io.StringIO(stdin) if stdin is not None else False
    done = conn.run(command, hide=True, warn=True, in_stream=feed, timeout=timeout)
    return Result(done.ok, done.exited, done.stdout, done.stderr)
