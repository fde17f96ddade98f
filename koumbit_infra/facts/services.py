"""Whether a running service predates its configuration (a reload was missed)."""

from __future__ import annotations

from pyinfra.api.facts import FactBase

STAMP_DIR = "/run/koumbit/refreshed"


class ServiceStale(FactBase[bool]):
    """True when a file of ``paths`` is newer than the service's last start or refresh.

    A deploy interrupted between writing a file and reloading its service
    would otherwise leave the old configuration live until some later change. Links are
    followed: a certificate certbot renewed is a new file behind the same link.
    An inactive service is not stale: starting it reads the new files.
    """

    def command(self, service: str, paths: tuple[str, ...]) -> str:
        files = " ".join(f"'{p}'" for p in paths)
        return (
            f"since=$(systemctl show -p ActiveEnterTimestamp --value {service});"
            ' [ -n "$since" ] || { echo fresh; exit 0; };'
            ' start=$(date -d "$since" +%s);'
            f" stamp=$(stat -c %Y {STAMP_DIR}/{service} 2>/dev/null || echo 0);"
            ' [ "$stamp" -gt "$start" ] && start=$stamp;'
            f" newest=$(stat -L -c %Y {files} 2>/dev/null | sort -n | tail -n 1);"
            ' [ "${newest:-0}" -gt "$start" ] && echo stale || echo fresh'
        )

    def process(self, output: list[str]) -> bool:
        return bool(output) and output[-1].strip() == "stale"


class UnitsNeedReload(FactBase[bool]):
    """True when systemd still runs an older copy of one of ``units`` than the file on disk.

    A deploy cut off between writing a unit file and ``daemon-reload`` leaves
    systemd on the old unit; the next run writes nothing new, so only this
    fact tells it to reload. A unit systemd does not know is not stale.
    """

    def command(self, units: tuple[str, ...]) -> str:
        names = " ".join(f"'{u}'" for u in units)
        return f"systemctl show -p NeedDaemonReload --value {names} 2>/dev/null || true"

    def process(self, output: list[str]) -> bool:
        return any(line.strip() == "yes" for line in output)
