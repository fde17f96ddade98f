"""Every command of ``koumbit-infra`` finds its inventory the same way.

The command tree is walked from ``main`` (no hand-written list): each command either
reads an inventory, and then offers --env (default envs.DEFAULT_ENV) and --inventory,
honours both and KOUMBIT_INVENTORY, and refuses an invalid inventory with exit 2 naming
the file before anything is contacted; or it is one of the exceptions below, with why.
A new command that is neither fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click
import paramiko
import pytest
from click.testing import CliRunner

from koumbit_infra.cli import main
from koumbit_infra.deploy_cli import DEPLOY_FILE
from koumbit_infra.envs import CHECKOUT, DEFAULT_ENV

# Commands that read no inventory, and why.
NO_INVENTORY = {
    "reference": "prints the reference of the inventory's keys from the models",
    "exporter": "runs on a server from its own TOML configuration; no inventory there",
    "cost show": "reads a closed month from the ledger only (--env names the ledger's rows)",
    "codebases wordpress-mirror": "fills a folder from wordpress.org; the inventory only names"
                                  " where that folder is served (wordpress_source)",
}

# What a command needs on its command line before it gets to its inventory, by
# parameter name; anything else required gets "x".
SAMPLE_VALUES = {
    "month": "2026-11", "fiscal_year": "2026-2027", "domain": "erables.test",
    "new_domain": "preprod.erables.test", "target": "web2", "selector": "all",
    "name": "web1", "command": "true",
}
# Options a command needs though none is required on its own (report: one period of two).
EXTRA_ARGS = {"report": ["--month", "2026-11"]}

BROKEN_SERVERS = "settings:\n  ssh_user: root\nservers: [\n  {name: web1,\n"


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every leaf command under ``command``, named as typed after ``koumbit-infra``."""
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from walk(sub, (*path, name))
    else:
        yield " ".join(path), command


COMMANDS = dict(walk(main))
READERS = sorted(name for name in COMMANDS if name not in NO_INVENTORY)


def required_args(command: click.Command) -> list[str]:
    """The smallest command line that gets past click's own checks."""
    args: list[str] = []
    for param in command.params:
        if not param.required or param.name is None:
            continue
        value = SAMPLE_VALUES.get(param.name, "x")
        if isinstance(param, click.Option):
            args += [param.opts[0], value]
        else:
            args.append(value)
    return args


def options_of(command: click.Command) -> dict[str, click.Parameter]:
    return {opt: p for p in command.params if isinstance(p, click.Option) for opt in p.opts}


@pytest.fixture
def nothing_contacted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way a command reaches a server or runs a program records itself and fails."""
    calls: list[str] = []

    def refuse(what: str) -> object:
        def called(*args: object, **kwargs: object) -> None:
            calls.append(what)
            raise AssertionError(f"{what} called before the inventory was checked")
        return called

    monkeypatch.setattr(subprocess, "Popen", refuse("subprocess.Popen"))
    monkeypatch.setattr(subprocess, "run", refuse("subprocess.run"))
    for name in ("execv", "execvp", "execve", "execvpe"):
        monkeypatch.setattr(os, name, refuse(f"os.{name}"))
    monkeypatch.setattr(paramiko.SSHClient, "connect", refuse("ssh"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse("urlopen"))
    return calls


@pytest.fixture
def bases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(a folder of broken environments, the valid checkout's), from a folder whose own
    ./inventory is valid too: only the folder the command was told about is invalid."""
    broken = tmp_path / "broken-bases"
    for env in (DEFAULT_ENV, "other"):
        (broken / env).mkdir(parents=True)
        (broken / env / "servers.yaml").write_text(BROKEN_SERVERS)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "inventory").symlink_to(CHECKOUT / "inventory")
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("KOUMBIT_INVENTORY", raising=False)
    return broken, CHECKOUT / "inventory"


def test_the_walk_finds_every_command_and_the_exceptions_exist() -> None:
    assert {"check", "deploy", "site backup", "run", "lab up", "cost close",
            "budget propose", "report"} <= set(COMMANDS)
    assert set(NO_INVENTORY) <= set(COMMANDS), "an exception names a command that is gone"
    assert all(reason for reason in NO_INVENTORY.values())


@pytest.mark.parametrize("name", READERS)
def test_offers_env_and_inventory(name: str) -> None:
    options = options_of(COMMANDS[name])
    assert "--env" in options and "--inventory" in options, (
        f"'{name}' reads no inventory the common way: give it clikit's env_option and"
        " inventory_option, or add it to NO_INVENTORY with the reason")
    assert options["--env"].default == DEFAULT_ENV


@pytest.mark.parametrize("name", READERS)
def test_inventory_option_wins_and_an_invalid_one_exits_2_naming_the_file(
    name: str, bases: tuple[Path, Path], nothing_contacted: list[str],
) -> None:
    broken, valid = bases
    args = [*name.split(), *required_args(COMMANDS[name]), *EXTRA_ARGS.get(name, []),
            "--env", "other", "--inventory", str(broken)]
    # KOUMBIT_INVENTORY names a valid inventory: --inventory must win over it.
    result = CliRunner().invoke(main, args, env={"KOUMBIT_INVENTORY": str(valid)})
    assert nothing_contacted == []
    assert result.exit_code == 2, result.output
    assert re.search(re.escape(str(broken / "other" / "servers.yaml")) + r":\d+: ",
                     result.stderr), result.output
    assert "inventory 'other' is invalid" in result.stderr
    assert "no server was contacted" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", READERS)
def test_koumbit_inventory_and_the_default_env_are_honoured(
    name: str, bases: tuple[Path, Path], nothing_contacted: list[str],
) -> None:
    broken, _ = bases
    args = [*name.split(), *required_args(COMMANDS[name]), *EXTRA_ARGS.get(name, [])]
    # No --env, no --inventory: the variable wins over the valid ./inventory here.
    result = CliRunner().invoke(main, args, env={"KOUMBIT_INVENTORY": str(broken)})
    assert nothing_contacted == []
    assert result.exit_code == 2, result.output
    assert re.search(re.escape(str(broken / DEFAULT_ENV / "servers.yaml")) + r":\d+: ",
                     result.stderr), result.output
    assert f"inventory '{DEFAULT_ENV}' is invalid" in result.stderr


def _copy_env(base: Path, env: str, with_pyinfra_file: bool) -> None:
    shutil.copytree(CHECKOUT / "inventory" / DEFAULT_ENV, base / env)
    if with_pyinfra_file:
        shutil.copy(CHECKOUT / "inventory" / f"{DEFAULT_ENV}.py", base / f"{env}.py")


def test_deploy_runs_pyinfra_on_the_chosen_folder_s_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = tmp_path / "elsewhere"
    _copy_env(base, "staging", with_pyinfra_file=True)
    ran: list[list[str]] = []

    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        ran.append(argv)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    result = CliRunner().invoke(main, ["deploy", "--inventory", str(base), "--env", "staging"])
    assert result.exit_code == 0, result.output
    env_files = [arg for arg in ran[0] if arg.endswith(".py") and arg != str(DEPLOY_FILE)]
    assert env_files == [str((base / "staging.py").resolve())]


def test_deploy_without_the_env_s_pyinfra_file_exits_2(
    tmp_path: Path, nothing_contacted: list[str],
) -> None:
    base = tmp_path / "elsewhere"
    _copy_env(base, "staging", with_pyinfra_file=False)
    result = CliRunner().invoke(main, ["deploy", "--inventory", str(base), "--env", "staging"])
    assert result.exit_code == 2, result.output
    assert f"no pyinfra inventory file {base / 'staging.py'}" in result.stderr
    assert nothing_contacted == []
