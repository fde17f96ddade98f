"""What the lab is given (servers) and what it answers (their status)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

from koumbit_infra.releases import Debian

Progress = Callable[[str], None]


def no_progress(message: str) -> None:
    """Default progress callback: say nothing."""


@dataclass(frozen=True)
class LabServer:
    """One lab server: a container named ``name`` reached at ``address``, booted from the
    base of its Debian release (the lab's first release, 12, unless told)."""

    name: str
    address: IPv4Address
    debian: Debian = Debian.BOOKWORM


class NamedAddress(Protocol):
    """Anything with a name, an IPv4 address and a release, such as the inventory's Server."""

    @property
    def name(self) -> str: ...

    @property
    def address(self) -> IPv4Address: ...

    @property
    def debian(self) -> Debian: ...


def lab_servers(servers: Iterable[NamedAddress]) -> tuple[LabServer, ...]:
    """The lab's view of inventory servers (their name, address and Debian release)."""
    return tuple(LabServer(s.name, IPv4Address(s.address), Debian(s.debian)) for s in servers)


@dataclass(frozen=True)
class ServerStatus:
    """How one lab server is doing, as seen from the host."""

    name: str
    address: IPv4Address
    running: bool
    pid: int | None
    ssh: bool
    system_state: str | None
    failed_units: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """Booted, reachable over SSH and systemd reports nothing failed."""
        return self.running and self.ssh and self.system_state == "running"

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "address": str(self.address),
            "running": self.running,
            "pid": self.pid,
            "ssh": self.ssh,
            "system_state": self.system_state,
            "failed_units": list(self.failed_units),
            "ready": self.ready,
        }


@dataclass(frozen=True)
class LabStatus:
    """The state of every requested server plus what the call changed to get there."""

    servers: tuple[ServerStatus, ...]
    changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    elapsed_s: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def ready(self) -> bool:
        return all(s.ready for s in self.servers)

    def server(self, name: str) -> ServerStatus:
        for status in self.servers:
            if status.name == name:
                return status
        raise KeyError(name)

    def as_dict(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "changed": self.changed,
            "changes": list(self.changes),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "elapsed_s": round(self.elapsed_s, 3),
            "servers": [s.as_dict() for s in self.servers],
        }
