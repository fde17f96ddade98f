"""Money and dates for fr_CA and en_CA, formatted by Babel (never by hand)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel.dates import format_date
from babel.numbers import format_currency

from koumbit_infra.cost import Month
from koumbit_infra.report.catalogue import LOCALES, Lang


def money(amount: Decimal, lang: Lang) -> str:
    """``amount`` CAD as the committee reads it: "1 234,50 $" in French, "$1,234.50" in English."""
    return _money(str(amount), lang)


@lru_cache(maxsize=16384)
def _money(amount: str, lang: Lang) -> str:
    """Keyed by the text, not the Decimal: -0.00 equals 0.00 but Babel writes "-0,00 $".
    A 2,000-client report repeats half its amounts (plan prices, zero subsidies)."""
    return format_currency(Decimal(amount), "CAD", locale=LOCALES[lang])


def month_name(month: Month, lang: Lang) -> str:
    """"novembre 2026" or "November 2026"."""
    return format_date(month.start, "LLLL y", locale=LOCALES[lang])
