"""Test modules are imported by basename (tests import helpers from each other), so
two test files with the same name in different folders break collection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_no_two_test_modules_share_a_name() -> None:
    names = Counter(p.name for p in (Path(__file__).parents[1]).rglob("test_*.py"))
    assert [n for n, count in names.items() if count > 1] == []
