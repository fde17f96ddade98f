"""Build a broken inventory from the base fixture and one case of broken_inventories.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).parent / "fixtures"
BASE = FIXTURES / "inventory" / "base"


def load_cases() -> list[dict[str, Any]]:
    cases = yaml.safe_load((FIXTURES / "broken_inventories.yaml").read_text(encoding="utf-8"))
    assert isinstance(cases, list)
    return cases


def build(case: dict[str, Any], dest: Path) -> Path:
    """Copy the base inventory to ``dest`` and apply the case's edits; return ``dest``."""
    shutil.copytree(BASE, dest)
    for key in ("edit", "edit2"):
        if edit := case.get(key):
            path = dest / edit["file"]
            if "replace_all" in edit:
                path.write_text(edit["replace_all"], encoding="utf-8")
                continue
            text = path.read_text(encoding="utf-8")
            assert text.count(edit["find"]) == 1, f"{case['name']}: find text not unique/found"
            path.write_text(text.replace(edit["find"], edit["replace"]), encoding="utf-8")
    if rename := case.get("rename"):
        (dest / rename["from"]).rename(dest / rename["to"])
    if delete := case.get("delete"):
        (dest / delete).unlink()
    return dest
