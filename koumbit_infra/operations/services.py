"""Reload or restart a service, or make systemd read its units again, when their files
changed in this run or in an interrupted one."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra.api.operation import OperationMeta, operation
from pyinfra.context import host

from koumbit_infra.facts.services import STAMP_DIR, ServiceStale, UnitsNeedReload


@operation()
def refreshed(service: str, files: list[str], changes: list[OperationMeta],
              action: str = "reload", check: str | None = None,
              ) -> Generator[str, None, None]:
    """``systemctl <action> <service>`` when ``changes`` changed something in this run or
    ``files`` are newer than the running service (a run died before its reload).

    ``check`` (the daemon's config test) runs first; its failure stops the
    refresh, so a rejected config never goes live. A stamp in /run records
    the refresh, since a reload keeps the service's start time.
    """
    # Results exist only while executing; a --dry plan relies on the stale check.
    changed = host.state.is_executing and any(m.did_change() for m in changes)
    if not changed and not host.get_fact(ServiceStale, service=service, paths=tuple(files)):
        return
    if check:
        yield check
    yield f"systemctl {action} {service}"
    yield f"mkdir -p {STAMP_DIR} && touch {STAMP_DIR}/{service}"


@operation()
def units_loaded(units: list[str], changes: list[OperationMeta]) -> Generator[str, None, None]:
    """``systemctl daemon-reload`` when ``changes`` wrote a unit in this run, or systemd
    still runs an older copy of one of ``units`` than the file (a run died before it)."""
    changed = host.state.is_executing and any(m.did_change() for m in changes)
    if not changed and not host.get_fact(UnitsNeedReload, units=tuple(units)):
        return
    yield "systemctl daemon-reload"
