"""A fake pyinfra host and state fed from a test's data, and JSON to typed values and back.

Operations run as pyinfra's own tests run them: facts in, commands out. The
fake host answers only the facts a case gives and raises on any other, so a
case cannot pass by reading a fact nobody wrote down.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from pyinfra.api.command import FileUploadCommand, FunctionCommand, StringCommand
from pyinfra.api.operation import OperationMeta

from koumbit_infra.inventory import Inventory, load_inventory
from koumbit_infra.sites.files import SiteFile
from koumbit_infra.sites.layout import SiteLayout

ROOT = Path(__file__).resolve().parents[1]


@cache
def lab_inventory() -> Inventory:
    return load_inventory(ROOT / "inventory" / "lab")


def fact_key(fact_cls: type) -> str:
    """``<module>.<Fact>``, as data files name a fact: ``deb.DebPackages``, ``sites.SitesState``."""
    return f"{fact_cls.__module__.rsplit('.', 1)[-1]}.{fact_cls.__name__}"


def kwargs_key(kwargs: Mapping[str, Any]) -> str:
    """A fact's arguments as the data files write them: ``path=/x, service=nginx``."""
    def text(value: Any) -> str:
        return " ".join(value) if isinstance(value, list | tuple) else str(value)
    return ", ".join(f"{k}={text(v)}" for k, v in sorted(kwargs.items()))


class FakeChange:
    """What a later operation sees of an earlier one: whether it changed something."""

    def __init__(self, changed: bool) -> None:
        self.changed = changed

    def did_change(self) -> bool:
        return self.changed


def typed(tp: Any, value: Any) -> Any:
    """``value`` read from JSON as the type ``tp`` an operation or fact works with.

    A site is its domain in the lab inventory; a rendered site file may carry
    its ``content``; an earlier operation (``OperationMeta``) is whether it
    changed; a callable is the value it answers.
    """
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in get_args(tp):
            return None
        errors = []
        for arg in get_args(tp):
            try:
                return typed(arg, value)
            except (TypeError, ValueError, KeyError) as e:
                errors.append(e)
        raise TypeError(f"{value!r} is none of {tp}: {errors}")
    if origin is Callable or tp is Callable:
        return lambda: value
    if value is None:
        raise TypeError(f"None for {tp}")
    if tp is SiteLayout:
        inv = lab_inventory()
        return SiteLayout.of(inv, inv.site(value))
    if tp is OperationMeta:
        return FakeChange(bool(value))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        key_t, value_t = get_args(tp) or (Any, Any)
        # JSON keys are strings: an int key (a batch answer's index) is written "0".
        return {typed(key_t, int(k) if key_t is int and isinstance(k, str) else k):
                typed(value_t, v) for k, v in dict(value).items()}
    if origin in (list, tuple, frozenset, set) or tp in (list, tuple, frozenset, set):
        item_t = (get_args(tp) or (Any,))[0]
        container = origin or tp
        return container(typed(item_t, v) for v in value)
    if tp is SiteFile:
        fields = dict(value)
        content = fields.pop("content", None)
        site_file = SiteFile(**fields)
        if content is not None:
            # The rendered text itself: a case states the bytes, not a template's output.
            site_file.__dict__["content"] = content
        return site_file
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = get_type_hints(tp)
        if not isinstance(value, dict):
            raise TypeError(f"{tp.__name__} needs an object, not {value!r}")
        return tp(**{k: typed(hints[k], v) for k, v in value.items()})
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type):
        if tp is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise TypeError(f"{value!r} is not a {tp.__name__}")
    return value


class FakeConfig:
    DIFF = False


class FakeState:
    """What operations read of pyinfra's state while they make commands."""

    def __init__(self, executing: bool = False) -> None:
        self.is_executing = executing
        self.cwd = str(ROOT)
        self.config = FakeConfig()


class FakeHost:
    """A host whose facts come from a case; a fact the case does not give raises."""

    name = "web1"

    def __init__(self, facts: Mapping[str, Any], state: FakeState) -> None:
        self.facts = dict(facts)
        self.state = state
        self.noop_description: str | None = None
        self.current_op_global_arguments: dict[str, Any] = {}

    def get_fact(self, fact_cls: type, *args: Any, **kwargs: Any) -> Any:
        key = fact_key(fact_cls)
        if args:
            raise TypeError(f"{key}: pass fact arguments by name")
        if key not in self.facts:
            raise KeyError(f"the case gives no fact {key}")
        data = self.facts[key]
        if kwargs:
            arg_key = kwargs_key(kwargs)
            if arg_key not in data:
                raise KeyError(f"the case gives no fact {key} for {arg_key!r}")
            data = data[arg_key]
        return fact_value(fact_cls, data)

    def noop(self, description: str) -> None:
        self.noop_description = description

    def get_temp_filename(self, *args: Any, **kwargs: Any) -> str:
        return "/tmp/pyinfra-temp"  # a name in a command, never written


def fact_value(fact_cls: type, data: Any) -> Any:
    """JSON data as the value the fact's ``process`` returns (ours are typed; pyinfra's JSON)."""
    if not fact_cls.__module__.startswith("koumbit_infra."):
        return data
    return typed(get_type_hints(fact_cls.process)["return"], data)


def command_json(commands: Iterable[Any]) -> list[Any]:
    """Commands as the data files write them: shell text, ``["upload", data, dest]``,
    ``[function, args, kwargs]``."""
    out: list[Any] = []
    for command in commands:
        if isinstance(command, str):
            out.append(command.strip())
        elif isinstance(command, StringCommand):
            out.append(command.get_raw_value())
        elif isinstance(command, FileUploadCommand):
            src = command.src
            data = src.getvalue() if hasattr(src, "getvalue") else str(src)
            out.append(["upload", data, command.dest])
        elif isinstance(command, FunctionCommand):
            out.append(json.loads(json.dumps(
                [command.function.__name__, list(command.args), command.kwargs])))
        else:
            raise TypeError(f"{command!r} is not a command")
    return out
