"""Rounding to the cent so that the parts still add up to the whole (largest remainder)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> int:
    """``amount`` CAD rounded half-even to whole cents."""
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_cents(cents: int) -> Decimal:
    """Whole cents as CAD with exactly two decimal places."""
    return (Decimal(cents) / 100).quantize(CENT)


def apportion(total_cents: int, shares: Mapping[K, Decimal]) -> dict[K, int]:
    """``total_cents`` split into whole cents in proportion to ``shares``, adding up exactly.

    Hamilton's largest-remainder method: each part gets the floor of its exact
    quota, and the cents left over go one each to the largest remainders (ties
    broken by key, so the result is the same on every run). ``shares`` are
    usually the unrounded amounts themselves; they are rescaled to
    ``total_cents`` first, which absorbs the sub-cent drift of Decimal
    division and of rounding the total. Shares must not be negative.
    """
    if not shares:
        if total_cents:
            raise ValueError(f"{total_cents} cents to apportion among nobody")
        return {}
    weight = sum(shares.values(), Decimal(0))
    if weight <= 0:
        if total_cents:
            raise ValueError(f"{total_cents} cents to apportion among zero shares")
        return dict.fromkeys(shares, 0)
    scale = Decimal(total_cents) / weight
    floors: dict[K, int] = {}
    remainders: list[tuple[Decimal, K]] = []
    for key, share in shares.items():
        if share < 0:
            raise ValueError(f"negative share for {key!r}")
        quota = share * scale
        floor = int(quota)  # quotas are non-negative, so int() is the floor
        floors[key] = floor
        remainders.append((quota - floor, key))
    left = total_cents - sum(floors.values())
    # Decimal rounding can leave `left` one off at most; clamp to what the
    # method can give so the sum is exact whatever happened upstream.
    left = max(0, min(left, len(remainders)))
    if left:
        for _, key in _largest(remainders, left):
            floors[key] += 1
    missing = total_cents - sum(floors.values())
    if missing:
        # Only reachable through extreme Decimal precision loss; keep the sum exact anyway,
        # taking from (or giving to) the largest part so none goes negative.
        largest = max(floors, key=lambda k: (floors[k], str(k)))
        floors[largest] += missing
    return floors


def _largest(remainders: list[tuple[Decimal, K]], count: int) -> list[tuple[Decimal, K]]:
    """The ``count`` largest remainders, ties to the smaller key (keys compared as they are,
    or as text when they cannot be compared)."""
    try:
        return sorted(remainders, key=lambda r: (-r[0], r[1]))[:count]
    except TypeError:
        return sorted(remainders, key=lambda r: (-r[0], str(r[1])))[:count]
