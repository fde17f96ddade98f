"""Every operation of koumbit_infra.operations, as pyinfra tests its own: facts in, commands out.

Each case is a data file, ``operations/<module>.<operation>/<case>.json``:
``kwargs`` (and ``args``) of the call, the ``facts`` the host answers, the
``commands`` expected, and the ``noop_description`` if the operation says why
it does nothing; ``exception`` (``name``, ``message``) when it must refuse.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from pyinfra.context import ctx_host, ctx_state
from pyinfra_fakes import FakeHost, FakeState, command_json, fact_value, typed

import koumbit_infra.operations
from koumbit_infra.facts.sites import SitesState
from koumbit_infra.operations import sites

CASES = Path(__file__).parent / "operations"
# Waiting for the other hosts is all it does: it never has a command to send.
NEVER_WORKS = {"sync.barrier"}


def _operations() -> dict[str, Any]:
    """``<module>.<operation>`` of every operation defined in koumbit_infra.operations."""
    found = {}
    for info in pkgutil.iter_modules(koumbit_infra.operations.__path__):
        module = importlib.import_module(f"koumbit_infra.operations.{info.name}")
        for name, value in vars(module).items():
            if hasattr(value, "_inner") and value.__module__ == module.__name__:
                found[f"{info.name}.{name}"] = value
    return found


OPERATIONS = _operations()
CASE_FILES = sorted(CASES.glob("*/*.json"))


def _call(op: Any, data: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    hints = get_type_hints(op._inner)
    params = list(inspect.signature(op._inner).parameters)
    args = [typed(hints[params[i]], v) for i, v in enumerate(data.get("args", []))]
    kwargs = {k: typed(hints[k], v) for k, v in data.get("kwargs", {}).items()}
    return args, kwargs


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_operation_commands_from_facts(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads(path.read_text())
    op = OPERATIONS[path.parent.name]
    state = FakeState(executing=data.get("executing", False))
    host = FakeHost(data.get("facts", {}), state)
    if SitesState.__name__ in {k.split(".")[-1] for k in host.facts}:
        # The sites' operations read the batched fact gathered once per run (sites_state).
        monkeypatch.setitem(sites._STATE, host.name,
                            fact_value(SitesState, host.facts.pop("sites.SitesState")))
    args, kwargs = _call(op, data)
    with ctx_host.use(host), ctx_state.use(state):
        if "exception" in data:
            with pytest.raises(Exception) as refused:
                list(op._inner(*args, **kwargs))
            assert type(refused.value).__name__ == data["exception"]["name"]
            assert str(refused.value) == data["exception"]["message"]
            return
        commands = command_json(op._inner(*args, **kwargs))
    assert commands == data["commands"]
    assert host.noop_description == data.get("noop_description")


def test_every_operation_has_a_no_change_and_a_has_work_case() -> None:
    missing = []
    for name in OPERATIONS:
        cases = [json.loads(p.read_text()) for p in CASES.glob(f"{name}/*.json")]
        kinds = {bool(c["commands"]) for c in cases if "exception" not in c}
        wanted = {False} if name in NEVER_WORKS else {False, True}
        missing += [f"{name}: {'has-work' if k else 'no-change'}" for k in wanted - kinds]
    assert missing == []


def test_every_case_names_an_operation() -> None:
    assert {p.parent.name for p in CASE_FILES} - set(OPERATIONS) == set()
