"""Calendar months, the period every cost is computed and closed over."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from functools import cached_property

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month, written ``YYYY-MM``: civil days for pro-rating, and an instant
    range [start, end) in a time zone (UTC unless one is given) for measurements."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9998:
            raise ValueError(f"{self.year}-{self.month:02d} is not a month")

    @classmethod
    def parse(cls, text: str) -> Month:
        """The month written ``YYYY-MM``; ValueError with the text otherwise."""
        match = _MONTH.match(text.strip())
        if not match:
            raise ValueError(f"'{text}' is not a month written YYYY-MM")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    # Cached: an allocation asks for these once per site.
    @cached_property
    def start(self) -> date:
        return date(self.year, self.month, 1)

    @cached_property
    def end(self) -> date:
        """First day after the month."""
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @cached_property
    def hours(self) -> int:
        return (self.end - self.start).days * 24

    def start_time(self, zone: tzinfo = UTC) -> datetime:
        """The first midnight of the month in ``zone``."""
        return datetime.combine(self.start, time(), tzinfo=zone)

    def end_time(self, zone: tzinfo = UTC) -> datetime:
        """The first midnight of the next month in ``zone``."""
        return datetime.combine(self.end, time(), tzinfo=zone)

    def hours_from(self, day: date | None) -> int:
        """Hours of this month on or after ``day`` (all of them when ``day`` is None)."""
        if day is None or day <= self.start:
            return self.hours
        if day >= self.end:
            return 0
        return (self.end - day).days * 24

    def fraction_from(self, day: date | None) -> Decimal:
        """Share of this month on or after ``day``, from 0 to 1."""
        return Decimal(self.hours_from(day)) / Decimal(self.hours)


def months_between(start: date, end: date) -> list[Month]:
    """Months from the one holding ``start`` up to, not including, the one holding ``end``."""
    found: list[Month] = []
    current, last = Month.of(start), Month.of(end)
    while current < last:
        found.append(current)
        current = current.next()
    return found
