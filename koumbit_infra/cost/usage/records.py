"""What sites used over a month, and where that knowledge comes from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from koumbit_infra.cost.period import Month
from koumbit_infra.errors import KoumbitError


@dataclass(frozen=True)
class Usage:
    """What one site used on one server over one month, for the time that has data.

    A site that moved between servers in the month has one ``Usage`` per
    server; each one's ``coverage`` is the share of the month it has data for
    on that server. Time with no data at all is charged at the reservation.
    ``None`` means "not measured": that resource is charged at the reservation.
    """

    site: str
    server: str
    coverage: Decimal
    cpu_core_seconds: Decimal | None = None
    memory_byte_seconds: Decimal | None = None
    disk_bytes_average: Decimal | None = None

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.coverage <= Decimal(1):
            raise ValueError(f"coverage of {self.site} on {self.server} is not in [0, 1]")
        for value in (self.cpu_core_seconds, self.memory_byte_seconds, self.disk_bytes_average):
            if value is not None and value < 0:
                raise ValueError(f"negative usage for {self.site} on {self.server}")

    def covered_hours(self, month: Month) -> Decimal:
        return self.coverage * month.hours


class UsageSource(Protocol):
    """Anything that can tell what each site used over a month."""

    @property
    def label(self) -> str:
        """Where the usage came from, as recorded in the ledger (``reserved-only``, a URL)."""
        ...

    def usage(self, month: Month) -> Sequence[Usage]:
        """Usage per site and server over ``month``; sites without data are simply absent."""
        ...


class UsageSourceError(KoumbitError):
    """Usage could not be read; the message says from where and why (exit 2)."""

    exit_code = 2

    def explain(self) -> str:
        # Usage is read before anything is recorded or published.
        return f"error: {self.message}; nothing was written"


@dataclass(frozen=True)
class ReservedOnly:
    """No measurements: every site is charged its reservation for the whole month."""

    label: str = "reserved-only"

    def usage(self, month: Month) -> Sequence[Usage]:
        return ()


@dataclass(frozen=True)
class RecordedUsage:
    """Usage given in advance (tests, benchmarks, a replay of an earlier reading)."""

    records: tuple[Usage, ...]
    label: str = "recorded"

    def usage(self, month: Month) -> Sequence[Usage]:
        return self.records
