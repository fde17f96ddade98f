"""Money and dates for fr_CA and en_CA, formatted by Babel (never by hand)."""

from __future__ import annotations

from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency

from koumbit_infra.cost import Month
from koumbit_infra.report.catalogue import LOCALES, Lang


def money(amount: Decimal, lang: Lang) -> str:
    """``amount`` CAD as the committee reads it: "1 234,50 $" in French, "$1,234.50" in English."""
    return format_currency(amount, "CAD", locale=LOCALES[lang])


def month_name(month: Month, lang: Lang) -> str:
    """"novembre 2026" or "November 2026"."""
    return format_date(month.start, "LLLL y", locale=LOCALES[lang])
