"""A TOML table read into a frozen dataclass, with every problem named by its key in the file.

Each field says its check in its annotation, ``Annotated[int, whole(1)]``: a
function from the TOML value to the field's value that raises ValueError
saying what is wrong in the file's own terms (no Python type names). A field
whose type is a dataclass is a table (``[capacity]``); one annotated with
``Tables`` is an array of tables (``[[sites]]``). Unknown keys are errors.

Standard library only, and no pydantic: the exporter runs on the servers' own
python3, so nothing it imports may be compiled for one Python version
(koumbit_infra/monitoring/bundle.py says why).
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Callable
from enum import Enum
from ipaddress import ip_address
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=Enum)
Check = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class Tables:
    """An array of tables (``[[sites]]``), each read into ``entry``.

    ``keys``: how a message about an unknown key names the known ones;
    ``named_by``: the key whose value follows an entry's position in messages,
    so ``sites[3].php_workers (example.org)`` says which site is meant.
    """

    entry: type
    keys: str
    named_by: str


class Problems:
    """Every problem found so far, one ``key: what is wrong`` line each, in file order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.lines.append(f"{key}: {message}")


def shown(value: object) -> str:
    """A TOML value as the file wrote it, for messages."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def whole(minimum: int, maximum: int | None = None) -> Check:
    """A check: an integer (not a boolean) from ``minimum`` to ``maximum``."""
    bounds = f"of at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def check(value: object) -> int:
        if (isinstance(value, bool) or not isinstance(value, int) or value < minimum
                or (maximum is not None and value > maximum)):
            raise ValueError(f"must be a whole number {bounds}, not {shown(value)}")
        return value

    return check


def above_zero(value: object) -> float:
    """A check: a number (integer or decimal) greater than 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"must be a number greater than 0, not {shown(value)}")
    return float(value)


def flag(value: object) -> bool:
    """A check: true or false."""
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {shown(value)}")
    return value


def string(min_length: int = 1, pattern: str | None = None, what: str = "") -> Check:
    """A check: a string of at least ``min_length`` characters matching ``pattern`` (``what``)."""
    matches = re.compile(pattern).fullmatch if pattern else None

    def check(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string in quotes, not {shown(value)}")
        if len(value) < min_length:
            raise ValueError(f"must be at least {min_length} character(s), not {shown(value)}")
        if matches is not None and not matches(value):
            raise ValueError(f"{shown(value)} is not {what}")
        return value

    return check


def absolute_path(value: object) -> Path:
    """A check: an absolute path."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"must be an absolute path in quotes, not {shown(value)}")
    return Path(value)


def address(value: object) -> str:
    """A check: an IPv4 or IPv6 address."""
    if not isinstance(value, str):
        raise ValueError(f"must be an IP address in quotes, not {shown(value)}")
    ip_address(value)  # its ValueError names the bad address
    return value


def choice(enum: type[E]) -> Check:
    """A check: one of ``enum``'s values, as its member."""
    by_value = {str(member.value): member for member in enum}

    def check(value: object) -> E:
        if not isinstance(value, str) or value not in by_value:
            raise ValueError(f"must be one of {', '.join(by_value)}, not {shown(value)}")
        return by_value[value]

    return check


def then(first: Check, second: Callable[[Any], Any]) -> Check:
    """A check: ``first``, then ``second`` applied to what it returned."""
    return lambda value: second(first(value))


Schema = tuple[tuple[str, object, bool], ...]
_SCHEMAS: dict[type, Schema] = {}


def _schema(cls: type) -> Schema:
    """(key, check or table or Tables, required) for each key of ``cls``."""
    hints = typing.get_type_hints(cls, include_extras=True)
    schema = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        hint = hints[field.name]
        rule = hint.__metadata__[0] if hasattr(hint, "__metadata__") else hint
        if not (isinstance(rule, Tables) or dataclasses.is_dataclass(rule) or callable(rule)):
            raise TypeError(f"{cls.__name__}.{field.name}: no check in its annotation")
        required = (field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING)
        schema.append((field.name, rule, required))
    return tuple(schema)


def read(cls: type[T], table: object, key: str, problems: Problems, *,
         keys: str = "", suffix: str = "") -> T | None:
    """``table`` as a ``cls``, or None with what is wrong added to ``problems``.

    ``key`` is the table's dotted key ("" at the top); ``keys`` names the known
    keys in the message about an unknown one; ``suffix`` follows every key.
    """
    if not isinstance(table, dict):
        problems.add(f"{key}{suffix}", f"must be a table, not {shown(table)}")
        return None
    schema = _SCHEMAS.get(cls) or _SCHEMAS.setdefault(cls, _schema(cls))
    known = [name for name, _rule, _required in schema]
    found = len(problems.lines)
    for name in table:
        if name not in known:
            label = keys or f"keys of [{key}]"
            problems.add(_join(key, name, suffix), f"unknown key ({label}: {', '.join(known)})")
    values: dict[str, object] = {}
    for name, rule, required in schema:
        if name not in table:
            if required:
                problems.add(_join(key, name, suffix), "missing (this key is required)")
            continue
        value = table[name]
        if isinstance(rule, Tables):
            values[name] = _read_tables(rule, value, _join(key, name, ""), problems)
        elif isinstance(rule, type) and dataclasses.is_dataclass(rule):
            values[name] = read(rule, value, _join(key, name, ""), problems)
        else:
            try:
                values[name] = rule(value)  # type: ignore[operator]
            except ValueError as exc:
                problems.add(_join(key, name, suffix), str(exc))
    if len(problems.lines) > found:
        return None
    return cls(**values)


def _read_tables(rule: Tables, value: object, key: str, problems: Problems) -> tuple[object, ...]:
    if not isinstance(value, list):
        problems.add(key, f"must be an array of tables ([[{key}]]), not {shown(value)}")
        return ()
    entries: list[object] = []
    for index, item in enumerate(value):
        name = item.get(rule.named_by, "?") if isinstance(item, dict) else "?"
        entries.append(read(rule.entry, item, f"{key}[{index}]", problems,
                            keys=rule.keys, suffix=f" ({name})"))
    return tuple(entries)


def _join(key: str, name: str, suffix: str) -> str:
    return f"{key}.{name}{suffix}" if key else f"{name}{suffix}"
