"""Money in the inventory: ``Decimal`` CAD, never a float, never negative."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator


def _parse_amount(value: object, places: int) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("is true/false, not an amount")
    if isinstance(value, float):
        # YAML gives 25.50 as a float; its shortest repr is exactly what was typed.
        value = repr(value)
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str | Decimal):
        raise ValueError(f"is not an amount: {value!r}")
    try:
        amount = Decimal(str(value).strip().replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"is not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"is not a finite amount: {value!r}")
    if amount < 0:
        raise ValueError(f"is negative ({amount})")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise ValueError(f"has more than {places} decimal places ({amount})")
    return amount


def _cad(value: object) -> Decimal:
    return _parse_amount(value, 2)


def _rate(value: object) -> Decimal:
    return _parse_amount(value, 6)


Cad = Annotated[Decimal, BeforeValidator(_cad)]
"""An amount in CAD, at most 2 decimal places, zero or more."""

Quantity = Annotated[Decimal, BeforeValidator(_rate)]
"""A non-negative quantity (hours, cores, ...), up to 6 decimal places."""
