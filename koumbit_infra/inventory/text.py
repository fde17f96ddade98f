"""Free text of the inventory (names, titles, labels): what a person may write, and how a
value is shown back in a message without harming the terminal that prints it.

Refused anywhere in the inventory: control characters (NUL, ESC, a line break:
one line of YAML must stay one line of nginx, sudoers or authorized_keys),
format characters (the bidi overrides that make text read differently from how
it is stored, zero-width spaces, byte-order marks), line and paragraph
separators, surrogates, private-use and unassigned code points. Zero-width
joiner and non-joiner are kept: Persian, Indic scripts and emoji are spelled
with them.
"""

from __future__ import annotations

import re
import unicodedata

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_KEPT_FORMAT = frozenset({"\u200c", "\u200d"})
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SHOWN_MAX = 60
# Spreadsheets run a cell that starts with one of these as a formula (CSV reports).
FORMULA_START = "=+-@"


def invisible_character(value: str) -> str | None:
    """The first character of ``value`` that no inventory string may hold, or None."""
    if value.isascii():
        found = _ASCII_CONTROL.search(value)
        return found[0] if found else None
    for char in value:
        if unicodedata.category(char) in _REFUSED_CATEGORIES and char not in _KEPT_FORMAT:
            return char
    return None


def describe_character(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: a character named for a person to find it."""
    name = unicodedata.name(char, "")
    if char == "\n":
        name = "a line break"
    elif not name:
        name = "a control character"
    return f"U+{ord(char):04X} ({name})"


def escaped(text: str) -> str:
    r"""``text`` with every non-printable character written as an escape (``\n``, ``\x1b``,
    ``\u202e``): safe to print, and the person sees what is really there."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def shown(value: object) -> str:
    """A value as a message quotes it: escaped, and cut short when long."""
    text = escaped(str(value))
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "…"


def check_text(value: str) -> str:
    """``value`` if a person may write it as free text (one line); ValueError says why not."""
    if char := invisible_character(value):
        raise ValueError(f"'{shown(value)}' contains {describe_character(char)}, which is"
                         " refused in the inventory; write it on one line, without it")
    if not value.strip():
        raise ValueError("is blank")
    if value != value.strip():
        raise ValueError(f"'{shown(value)}' starts or ends with a space")
    if value[0] in FORMULA_START:
        raise ValueError(f"'{shown(value)}' starts with '{value[0]}', which a spreadsheet"
                         " opening a CSV report would run as a formula")
    return value


def _escape(char: str) -> str:
    code = ord(char)
    if char in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
