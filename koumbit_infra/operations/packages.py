"""Debian packages, installed without recommends, refreshing apt lists only when needed."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra.api.operation import operation
from pyinfra.context import host
from pyinfra.facts.deb import DebPackages

# Downloads that stall fail after 60 s and are retried, instead of hanging a deploy. dpkg's
# lock held by another apt (unattended-upgrades) is waited for, 10 minutes at most.
APT_GET = "DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Options::=--force-confdef" \
       " -o Dpkg::Options::=--force-confold -o Acquire::http::Timeout=60 -o Acquire::Retries=3" \
       " -o DPkg::Lock::Timeout=600"

# The daily apt jobs (apt-daily's update, apt-daily-upgrade's unattended-upgrades) hold
# apt's locks while they run; a newly booted server runs the one it missed. They are
# waited for, 15 minutes at most, then apt goes on and says which lock it could not get.
APT_IDLE = ("timeout 900 sh -c 'while systemctl is-active -q apt-daily.service"
            " apt-daily-upgrade.service; do sleep 5; done' || true")

# An apt-get update once hung on a connection its proxy had closed (CLOSE-WAIT,
# no timeout fired): bound each attempt and try again, three times at most.
APT_UPDATE = (
    f"{APT_IDLE}; for attempt in 1 2 3; do"
    f" timeout --kill-after=10 300 sh -c '{APT_GET} update -qq' && break;"
    ' [ "$attempt" = 3 ] && exit 1; sleep 5; done'
)


@operation()
def installed(packages: list[str]) -> Generator[str, None, None]:
    """Install the ``packages`` that are missing, with --no-install-recommends.

    apt lists are refreshed only when something must be installed, so a
    converged server runs no apt command at all (pyinfra's ``update=True``
    would refresh, and report a change, on every run).
    """
    present = host.get_fact(DebPackages)
    missing = [p for p in packages if p not in present]
    if not missing:
        host.noop(f"installed: {', '.join(packages)}")
        return
    yield APT_UPDATE
    yield f"{APT_GET} install --no-install-recommends {' '.join(missing)}"


@operation()
def removed(packages: list[str]) -> Generator[str, None, None]:
    """Purge the ``packages`` that are installed."""
    present = host.get_fact(DebPackages)
    found = [p for p in packages if p in present]
    if found:
        yield f"{APT_GET} purge {' '.join(found)}"
