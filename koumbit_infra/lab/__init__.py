"""The lab: real Debian 12 and 13 servers booted with systemd-nspawn on this machine.

Call :func:`up` with the inventory's servers (anything with ``.name`` and
``.address``, converted by :func:`lab_servers`); reach them with the key and
known_hosts in :func:`lab_paths`, or with :func:`ssh_argv`.
"""

from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.lifecycle import destroy, down, recreate, status, up
from koumbit_infra.lab.model import LabServer, LabStatus, Progress, ServerStatus, lab_servers
from koumbit_infra.lab.network import (
    APT_PROXY_URL,
    BRIDGE,
    HOST_ADDRESS,
    HOST_INTERFACE,
    NETWORK,
    validate_servers,
)
from koumbit_infra.lab.paths import LabPaths, lab_paths
from koumbit_infra.lab.ssh import ssh_argv

__all__ = [
    "APT_PROXY_URL",
    "BRIDGE",
    "HOST_ADDRESS",
    "HOST_INTERFACE",
    "NETWORK",
    "LabError",
    "LabPaths",
    "LabServer",
    "LabStatus",
    "Progress",
    "ServerStatus",
    "destroy",
    "down",
    "lab_paths",
    "lab_servers",
    "recreate",
    "ssh_argv",
    "status",
    "up",
    "validate_servers",
]
