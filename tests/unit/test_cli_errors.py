"""KoumbitError is handled once, at the top of ``koumbit-infra``: its explanation on
stderr, its exit status, no traceback; every kind keeps the status and words it had."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from koumbit_infra import cli
from koumbit_infra.cost.ledger.trust import LedgerTampered, RevisionNeeded
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.publishing.textfile import PublishError
from koumbit_infra.cost.usage.records import UsageSourceError
from koumbit_infra.errors import KoumbitError
from koumbit_infra.inventory import InventoryError, Problem
from koumbit_infra.lab import LabError
from koumbit_infra.sites.errors import SiteCommandError

MAY = Month(2026, 5)
CASES = [
    (KoumbitError("something to fix", 4), 4, ["something to fix"]),
    (KoumbitError("a step failed"), 1, ["a step failed"]),
    (InventoryError([Problem(Path("inv/servers.yaml"), 3, "bad", "fix it")],
                    "inventory 'lab'"), 2,
     ["inv/servers.yaml:3: bad; fix it",
      "inventory 'lab' is invalid: 1 error(s); no server was contacted"]),
    (LabError("the lab needs root"), 3, ["lab: error: the lab needs root"]),
    (SiteCommandError("backup failed on web1"), 1, ["backup failed on web1"]),
    (SiteCommandError("no site 'x.test' in inventory 'lab'", 2), 2,
     ["no site 'x.test' in inventory 'lab'"]),
    (LedgerTampered("lab", MAY, 2, "cost_client"), 2,
     ["error: 2026-05 (lab) version 2 no longer matches what was closed (cost_client)"]),
    (RevisionNeeded("lab", MAY, 1, "prices"), 2,
     ["error: 2026-05 (lab) was closed as version 1 after the month ended",
      'To record these figures as version 2, run the same command again with --revise',
      "cost show 2026-05 --env lab shows version 1."]),
    (UsageSourceError("http://prom: HTTP 500"), 2,
     ["error: http://prom: HTTP 500; nothing was written"]),
    (PublishError("mon1: could not install"), 2, ["error: mon1: could not install"]),
]


@pytest.mark.parametrize(("error", "status", "lines"), CASES,
                         ids=[f"{type(c[0]).__name__}-{c[1]}" for c in CASES])
def test_the_top_prints_the_explanation_on_stderr_and_exits_with_its_status(
    error: KoumbitError, status: int, lines: list[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*args: object) -> object:
        raise error

    # Raised from deep inside a real command, as the code below the CLI does.
    monkeypatch.setattr(cli, "summarise", fail)
    result = CliRunner().invoke(cli.main, ["check"])
    assert result.exit_code == status
    assert isinstance(result.exception, SystemExit)
    for line in lines:
        assert line in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_every_error_of_the_toolkit_derives_from_the_one_base() -> None:
    for error, _, _ in CASES:
        assert isinstance(error, KoumbitError)
    assert issubclass(InventoryError, KoumbitError) and InventoryError.exit_code == 2
    assert LabError.exit_code == 3


def test_an_unexpected_error_is_not_dressed_as_a_user_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*args: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "summarise", fail)
    result = CliRunner().invoke(cli.main, ["check"])
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)
    assert "a bug" not in result.stderr


def test_an_error_in_a_nested_group_is_handled_at_the_top(tmp_path: Path) -> None:
    ledger = tmp_path / "none.sqlite"
    result = CliRunner().invoke(cli.main, ["cost", "show", "2026-05", "--ledger", str(ledger)])
    assert result.exit_code == 2
    assert "2026-05 (lab) is not closed in" in result.stderr
    assert "run: koumbit-infra cost close 2026-05 --env lab" in result.stderr
    assert not ledger.exists()


def test_no_subcommand_module_imports_the_top_command() -> None:
    """cli.py loads the sub-commands; they take what they share from clikit, never back."""
    package = Path(cli.__file__).parent
    offenders = [str(path.relative_to(package)) for path in package.rglob("*.py")
                 if path.name != "cli.py" or path.parent != package
                 if "from koumbit_infra.cli import" in path.read_text()
                 or "from koumbit_infra import cli" in path.read_text()]
    assert offenders == []
