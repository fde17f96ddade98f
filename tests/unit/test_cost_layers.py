"""The cost model's layers: each imports only the layers before it, and the report and the
budget request read it through its one entry point, ``koumbit_infra.cost``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import koumbit_infra
import koumbit_infra.cost

PACKAGE = Path(koumbit_infra.__file__).parent
COST = PACKAGE / "cost"

# Shared vocabulary first, then the layers in the order data flows through them.
ORDER = {"period": 0, "cents": 0, "results": 0, "usage": 1, "allocation": 2, "ledger": 3,
         "publishing": 4, "cli": 5, "__init__": 5}


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _layer(module: str) -> str | None:
    """The cost layer a dotted module name belongs to, or None outside the cost model."""
    parts = module.split(".")
    if parts[:2] != ["koumbit_infra", "cost"]:
        return None
    return parts[2] if len(parts) > 2 else "__init__"


def _cost_modules() -> list[Path]:
    return sorted(COST.rglob("*.py"))


def test_every_cost_module_belongs_to_a_known_layer() -> None:
    layers = {p.relative_to(COST).parts[0].removesuffix(".py") for p in _cost_modules()}
    assert layers == set(ORDER)


def _upward(path: Path, mine: str) -> list[str]:
    """The imports of ``path`` (a module of layer ``mine``) that reach a later layer."""
    wrong = []
    for module in _imports(path):
        theirs = _layer(module)
        if theirs is None or theirs not in ORDER:
            continue  # outside the cost model, or a name imported from the facade
        if ORDER[theirs] > ORDER[mine] or (ORDER[mine] == 0 and theirs not in (
                "period", "cents", "results")):
            wrong.append(f"{path.name} imports {module}")
    return wrong


def test_each_layer_imports_only_the_layers_before_it() -> None:
    wrong = []
    for path in _cost_modules():
        wrong += _upward(path, path.relative_to(COST).parts[0].removesuffix(".py"))
    assert wrong == []


def test_the_layering_check_catches_an_upward_import(tmp_path: Path) -> None:
    upward = tmp_path / "demand.py"
    upward.write_text("from koumbit_infra.cost.ledger.store import Ledger\n"
                      "from koumbit_infra.cost.usage.records import Usage\n")
    assert _upward(upward, "allocation") == [
        "demand.py imports koumbit_infra.cost.ledger.store",
        "demand.py imports koumbit_infra.cost.ledger.store.Ledger",
    ]
    assert _upward(upward, "results") != []  # the shared vocabulary imports no layer
    assert _upward(upward, "publishing") == []


def test_report_and_budget_read_costs_only_through_the_facade() -> None:
    wrong = []
    for folder in ("report", "budget"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                # cost.cli: the shared --ledger option, until the CLI has one kit for options.
                wrong.extend(f"{path.relative_to(PACKAGE)} imports {name}" for name in names
                             if name.startswith("koumbit_infra.cost.")
                             and name != "koumbit_infra.cost.cli")
    assert wrong == []


def test_every_name_of_the_facade_resolves() -> None:
    missing = [name for name in koumbit_infra.cost.__all__
               if getattr(koumbit_infra.cost, name, None) is None]
    assert missing == []


def test_the_facade_loads_prometheus_over_ssh_only_when_asked() -> None:
    probe = ("import sys\n"
             "from koumbit_infra.cost import monitoring_server\n"
             "from koumbit_infra.envs import load_env\n"
             "ssh = 'koumbit_infra.cost.usage.prometheus_ssh'\n"
             "before = ssh in sys.modules\n"
             "print(before, monitoring_server(load_env('lab'), None), ssh in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False", "mon1", "True"]
