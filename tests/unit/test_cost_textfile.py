"""Publishing the cost metrics as node_exporter's textfile: content, checks and errors.

The write on a real monitoring server is proven in tests/lab/test_finance.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from koumbit_infra.cli import main
from koumbit_infra.cost import Ledger, Month, close_month
from koumbit_infra.cost.publishing.textfile import (
    TEXTFILE,
    TEXTFILE_DIR,
    PublishError,
    cost_exposition,
    install_command,
)
from koumbit_infra.envs import load_env


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        close_month(load_env("lab"), Month(2026, 10), ledger)
    return path


def _samples(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_the_file_holds_the_ledger_s_figures(ledger_path: Path) -> None:
    lab = load_env("lab")
    text = cost_exposition(lab, ledger_path)
    with Ledger.open(ledger_path) as ledger:
        october = ledger.allocation("lab", Month(2026, 10))
    assert october is not None
    samples = _samples(text)
    for client in october.clients:
        key = f'koumbit_client_cost_last_closed_month_cad{{client="{client.client}"}}'
        assert samples[key] == float(client.cost_cad)
    assert samples["koumbit_budget_allocated_fiscal_year_cad"] == 9000.0
    assert samples["koumbit_budget_closed_months"] == 1.0
    # Same ledger, same bytes: publishing again is a no-op on the server.
    assert cost_exposition(lab, ledger_path) == text


def test_the_file_passes_promtool_as_node_exporter_would_read_it(ledger_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/bootstrap installs it"
    text = cost_exposition(load_env("lab"), ledger_path)
    checked = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                             capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_missing_ledger_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="close a month first"):
        cost_exposition(load_env("lab"), tmp_path / "none.sqlite")


def test_the_staged_file_is_renamed_within_the_directory() -> None:
    command = install_command()
    staged = command.split("mv -f ")[1].split(" ")[0]
    assert staged.startswith(TEXTFILE_DIR + "/.") and not staged.endswith(".prom")
    assert command.endswith(f" {TEXTFILE}")
    assert TEXTFILE.startswith(TEXTFILE_DIR + "/") and TEXTFILE.endswith(".prom")


def test_publish_on_a_server_that_does_not_monitor_exits_2(ledger_path: Path) -> None:
    result = CliRunner().invoke(main, ["cost", "publish", "--env", "lab", "--on", "web1",
                                             "--ledger", str(ledger_path)])
    assert result.exit_code == 2
    assert "'web1' is not a monitoring server of 'lab' (monitoring servers: mon1)" in (
        result.output)


def test_publish_without_a_ledger_exits_2_before_connecting(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["cost", "publish", "--env", "lab",
                                             "--ledger", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 2
    assert "close a month first" in result.output
