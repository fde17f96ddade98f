"""PLACEHOLDER of part A (branch h14a), for the lead to replace with part B's module.

Issue 14's contract: part B's ``advisories_for`` gives composer's security-advisories
answer from ../shared/data/php-security-advisories. The lab's sources server
(koumbit_infra/lab/sources.py) answers composer's advisory request with it; until part B's
module is merged, this one knows no advisory and answers every name with an empty list
(which composer reads as "found, nothing known").
"""

from __future__ import annotations

from typing import Any


def advisories_for(packages: dict[str, list[str]]) -> dict[str, Any]:
    """Composer's security-advisories answer for ``packages`` (name -> versions): none."""
    return {"advisories": {name.strip().lower(): [] for name in packages}}
