"""CSV cells a spreadsheet shows as text, never runs: OWASP's defence against CSV injection.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (``=HYPERLINK(...)``, ``=cmd|...``), and some also after a leading tab or carriage
return. Text that people wrote (a client's name, a plan's label) goes through
``text_cell``, which puts a single quote before such a cell, as OWASP advises: the
spreadsheet then shows it as text, quote hidden. Amounts we write are never passed
through it, so a negative margin "-12.34" stays a number. Every CSV writer of the
reports calls this one function on its text columns, and writes with ``csv_writer``.
"""

from __future__ import annotations

import csv
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """``value`` as a CSV cell of text: a leading ``'`` when it would start a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_writer(out: TextIO) -> Any:
    """A ``csv.writer`` whose rows end in CRLF, as RFC 4180 has them.

    Python's writer quotes a field holding a character of the line terminator: with a
    bare "\n" a carriage return inside a name went out unquoted, and spreadsheets and
    readers broke the row there (a name could forge a row of its own).
    """
    return csv.writer(out, lineterminator="\r\n")
