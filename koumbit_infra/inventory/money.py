"""Money in the inventory: ``Decimal`` CAD, never a float, never negative.

Amounts are written in plain decimal notation ("25.00", "1200", "0.5"): no
exponent ("1e3" is a thousand to Python and a typo to a person), no sign, no
grouping, no spaces, at most twelve digits before the point.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator

from koumbit_infra.inventory.text import shown

_PLAIN = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,12})?")
_LONGEST = 32


def _parse_amount(value: object, places: int) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("is true/false, not an amount")
    if isinstance(value, float):
        # YAML gives 25.50 as a float; its shortest repr is exactly what was typed.
        value = repr(value)
    if isinstance(value, int | Decimal):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"is not an amount: '{shown(value)}'")
    if len(value) > _LONGEST or not _PLAIN.fullmatch(value):
        raise ValueError(f"is not an amount in plain decimal notation such as \"25.00\":"
                         f" '{shown(value)}'")
    amount = Decimal(value)
    if value.startswith("-"):  # "-0.00" too: a sign is never part of an inventory amount
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
