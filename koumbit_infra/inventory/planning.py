"""Checks of budget.yaml's planning keys: the server catalogue and known line changes."""

from __future__ import annotations

from koumbit_infra.inventory.models import BudgetFile
from koumbit_infra.inventory.problems import Problem
from koumbit_infra.inventory.yamlsource import YamlDocument


def planning_problems(budget: BudgetFile, doc: YamlDocument) -> list[Problem]:
    """Catalogue names used twice, and changes naming a line budget.yaml does not have."""
    out: list[Problem] = []
    seen: dict[str, int] = {}
    for i, offer in enumerate(budget.catalogue):
        line = doc.line_of(("catalogue", i, "name"))
        if offer.name in seen:
            out.append(Problem(doc.path, line, f"catalogue name '{offer.name}' already used at"
                               f" line {seen[offer.name]}", "give each offer its own name"))
        seen.setdefault(offer.name, line)
    lines = {b.name: b for b in budget.budget.lines}
    for i, change in enumerate(budget.line_changes):
        target = lines.get(change.line)
        where = doc.line_of(("line_changes", i, "line"))
        if target is None:
            out.append(Problem(doc.path, where, f"line_changes: unknown budget line"
                               f" '{change.line}'", "use one of: " + ", ".join(sorted(lines))))
            continue
        staff = change.hours_per_month is not None or change.hourly_rate_cad is not None
        if staff != (target.hours_per_month is not None):
            out.append(Problem(
                doc.path, where, f"line_changes: '{change.line}' is "
                + ("a staff_hours line" if target.hours_per_month is not None
                   else "a fixed-cost line"),
                "give hours_per_month or hourly_rate_cad for staff hours, monthly_cad or"
                " yearly_cad for a fixed cost"))
    return out
