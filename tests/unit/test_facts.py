"""Every fact of koumbit_infra.facts, as pyinfra tests its own: command and recorded output in,
data out.

Each case is a data file, ``facts/<module>.<Fact>/<case>.json``: the
``kwargs`` of the fact, the ``command`` they give, the ``output`` lines a
server printed, and the ``fact`` they mean.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from pathlib import Path
from typing import get_type_hints

import pytest
from pyinfra.api.facts import FactBase
from pyinfra_fakes import fact_value, typed

import koumbit_infra.facts

CASES = Path(__file__).parent / "facts"


def _facts() -> dict[str, type[FactBase]]:  # type: ignore[type-arg]
    found = {}
    for info in pkgutil.iter_modules(koumbit_infra.facts.__path__):
        module = importlib.import_module(f"koumbit_infra.facts.{info.name}")
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, FactBase)
                    and value.__module__ == module.__name__):
                found[f"{info.name}.{name}"] = value
    return found


FACTS = _facts()
CASE_FILES = sorted(CASES.glob("*/*.json"))


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fact_from_recorded_output(path: Path) -> None:
    data = json.loads(path.read_text())
    fact_cls = FACTS[path.parent.name]
    fact = fact_cls()
    hints = get_type_hints(fact.command)
    kwargs = {k: typed(hints[k], v) for k, v in data.get("kwargs", {}).items()}
    assert fact.command(**kwargs) == data["command"]
    assert fact.process(data["output"]) == fact_value(fact_cls, data["fact"])


def test_every_fact_has_cases() -> None:
    assert sorted(set(FACTS) - {p.parent.name for p in CASE_FILES}) == []
    assert {p.parent.name for p in CASE_FILES} - set(FACTS) == set()
