"""Every broken inventory of the corpus is refused with the exact file, line and message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from brokencases import build, load_cases
from click.testing import CliRunner

from koumbit_infra.cli import main
from koumbit_infra.inventory import InventoryError, load_inventory
from koumbit_infra.inventory.text import invisible_character

CASES = load_cases()


def test_corpus_has_at_least_30_cases() -> None:
    assert len(CASES) >= 30
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_inventory_reports_exact_problems(case: dict[str, Any], tmp_path: Path) -> None:
    root = build(case, tmp_path / "inv")
    with pytest.raises(InventoryError) as caught:
        load_inventory(root, display_base=root)
    got = [f"{p.path}:{p.line}: {p.message}" for p in caught.value.problems]
    assert got == case["expect"]
    assert all(p.hint for p in caught.value.problems)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_cli_check_exits_2_and_prints_file_line(case: dict[str, Any], tmp_path: Path) -> None:
    """Through the command people run: no traceback (an impossible date once gave one),
    and nothing printed raw that could repaint the terminal."""
    build(case, tmp_path / "inv")
    result = CliRunner().invoke(main, ["check", "--inventory", str(tmp_path), "--env", "inv"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit), result.exception
    for expected in case["expect"]:
        assert f"{expected};" in result.output.replace(str(tmp_path / "inv") + "/", "")
    assert "no server was contacted" in result.output
    assert invisible_character(result.output.replace("\n", "")) is None


def test_cli_json_lists_problems(tmp_path: Path) -> None:
    build(CASES[0], tmp_path / "inv")
    result = CliRunner().invoke(
        main, ["check", "--inventory", str(tmp_path), "--env", "inv", "--json"]
    )
    assert result.exit_code == 2
    assert '"valid": false' in result.output
    assert '"line": 6' in result.output
