"""Text for a CSV cell that a spreadsheet will show as text, never run as a formula."""

from __future__ import annotations

# A spreadsheet evaluates a cell starting with one of these (CSV/formula injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text: str) -> str:
    """``text`` as it is, or behind an apostrophe when a spreadsheet would read a formula."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text
