"""Load an environment's inventory: every file read, every problem collected, nothing touched."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from koumbit_infra.inventory.crosscheck import ParsedFiles, cross_check
from koumbit_infra.inventory.environment import Inventory
from koumbit_infra.inventory.models import BudgetFile, Client, PlansFile, ServersFile
from koumbit_infra.inventory.planning import planning_problems
from koumbit_infra.inventory.problems import InventoryError, Problem, Severity
from koumbit_infra.inventory.pydantic_problems import problems_from
from koumbit_infra.inventory.text import escaped
from koumbit_infra.inventory.yamlsource import YamlDocument, YamlSyntaxError, load_yaml

M = TypeVar("M", bound=BaseModel)

_TOP_FILES = ("servers.yaml", "plans.yaml", "budget.yaml")


def load_inventory(root: Path, *, display_base: Path | None = None) -> Inventory:
    """Load and validate the inventory under ``root`` (``inventory/<env>``).

    Raises :class:`InventoryError` carrying every problem found; warnings are
    kept on the returned inventory. Paths in messages are shown relative to
    ``display_base`` (default: the current directory when ``root`` is under it).
    """
    root = Path(root)
    base = display_base if display_base is not None else Path.cwd()

    def shown(path: Path) -> Path:
        if not path.is_absolute():
            return path
        try:
            return path.relative_to(base)
        except ValueError:
            return path

    problems: list[Problem] = []
    subject = f"inventory '{escaped(root.name)}'"

    if not root.is_dir():
        raise InventoryError([
            Problem(shown(root), 1, "inventory folder not found",
                    "give an existing inventory/<env> folder (see --env)")
        ], subject)

    docs: dict[str, YamlDocument] = {}
    for name in _TOP_FILES:
        path = root / name
        if not path.is_file():
            problems.append(Problem(shown(path), 1, f"{name} is missing", f"create {name}"))
            continue
        doc = _read(path, shown(path), problems)
        if doc is not None:
            docs[name] = doc

    servers_file = _parse(docs.get("servers.yaml"), ServersFile, problems)
    plans_file = _parse(docs.get("plans.yaml"), PlansFile, problems)
    budget_file = _parse(docs.get("budget.yaml"), BudgetFile, problems)

    clients: list[tuple[Client, YamlDocument]] = []
    clients_dir = root / "clients"
    if not clients_dir.is_dir():
        problems.append(Problem(shown(clients_dir), 1, "clients/ folder is missing",
                                "create it, with one <slug>.yaml per client"))
    else:
        for path in sorted(clients_dir.iterdir()):
            if path.suffix == ".yml":
                problems.append(Problem(shown(path), 1, "client file ends in .yml",
                                        "rename it to .yaml"))
                continue
            if path.suffix != ".yaml" or path.name.startswith("."):
                continue
            doc = _read(path, shown(path), problems)
            client = _parse(doc, Client, problems)
            if client is not None and doc is not None:
                clients.append((client, doc))

    if servers_file and plans_file and budget_file:
        problems += cross_check(ParsedFiles(
            servers_file, docs["servers.yaml"], plans_file, docs["plans.yaml"], clients
        ))
        problems += planning_problems(budget_file, docs["budget.yaml"])
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors or not (servers_file and plans_file and budget_file):
        raise InventoryError(problems, subject)
    return Inventory(
        env=root.name,
        root=root,
        settings=servers_file.settings,
        admins=servers_file.admins,
        servers=servers_file.servers,
        plans=plans_file.plans,
        clients=tuple(c for c, _ in sorted(clients, key=lambda cd: cd[0].slug)),
        budget=budget_file.budget,
        warnings=tuple(sorted(problems)),
        catalogue=budget_file.catalogue,
        line_changes=budget_file.line_changes,
        alerting_section=servers_file.alerting,
    )


def _read(path: Path, shown: Path, problems: list[Problem]) -> YamlDocument | None:
    try:
        doc = load_yaml(path, shown)
    except YamlSyntaxError as exc:
        problems.append(exc.problem)
        return None
    if not isinstance(doc.data, dict):
        problems.append(Problem(shown, 1, "file is empty or not a mapping of keys",
                                "write the keys this file takes (see the inventory reference)"))
        return None
    return doc


def _parse(doc: YamlDocument | None, model: type[M], problems: list[Problem]) -> M | None:
    if doc is None:
        return None
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        problems += problems_from(exc, doc, model)
        return None
