"""The batched facts answer what pyinfra's own fact commands answer, run here on this host.

``koumbit_infra.converge`` reads many facts in one round trip, some of them through
cheaper commands of its own (one stat for every path, one awk for every account);
each is compared with pyinfra's command for the same fact, both run by sh here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api.command import StringCommand
from pyinfra.api.facts import FactBase
from pyinfra.facts.files import Directory, File, Link, Sha1File, Sha256File
from pyinfra.facts.server import Users

from koumbit_infra import converge
from koumbit_infra.facts.batch import MISSING, Answer, Batch, guarded


def _sh(command: str) -> tuple[int, list[str]]:
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
    return done.returncode, done.stdout.splitlines()


def _pyinfra_answer(cls: type[FactBase[Any]], **kwargs: Any) -> Any:
    fact = cls()
    command = fact.command(**kwargs) if callable(fact.command) else fact.command
    text = command.get_raw_value() if isinstance(command, StringCommand) else str(command)
    status, lines = _sh(text)
    assert status == 0
    return fact.process(lines) if lines else fact.default()


def _batched(run: converge._HostRun, asked: list[tuple[type[FactBase[Any]], dict[str, Any]]],
             monkeypatch: pytest.MonkeyPatch) -> dict[converge.FactKey, Any]:
    """Ask ``asked`` through converge's batch, with the batch run here by sh."""
    for cls, kwargs in asked:
        converge._resolved(run, cls, (), kwargs)

    class LocalHost:
        name = "local"

        @staticmethod
        def get_fact(fact: type[Batch], commands: tuple[str, ...]) -> dict[int, Answer]:
            status, lines = _sh(Batch().command(commands))
            assert status == 0
            return Batch().process(lines)

    monkeypatch.setattr(converge, "host", LocalHost)
    converge._read_batch(run)
    return run.answers


def _no_atime(value: Any) -> Any:
    """A file fact without its access time, which reading a file for its hash moves."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "atime"}
    return value


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "file").write_text("content\n")
    (tmp_path / "dir").mkdir(mode=0o750)
    (tmp_path / "link").symlink_to(tmp_path / "file")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "name with 'quote' and space").write_text("x")
    return tmp_path


def test_one_stat_answers_every_file_directory_and_link_fact_as_pyinfra(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [str(tree / n) for n in ("file", "dir", "link", "dangling", "fifo", "missing",
                                     "name with 'quote' and space")]
    # pyinfra's own hash command blocks on a FIFO (it opens it); the batch hashes
    # regular files only, so FIFOs are compared for stat alone.
    asked = [(cls, {"path": p}) for cls in (File, Directory, Link) for p in paths]
    asked += [(cls, {"path": p}) for cls in (Sha1File, Sha256File) for p in paths
              if not p.endswith("fifo")]
    answers = _batched(converge._HostRun(), asked, monkeypatch)
    keys = {converge._key(cls, (), kwargs)[0] for cls, kwargs in asked}
    assert keys <= set(answers)
    for key in keys:
        cls, path = key[0], eval(key[1])[0][1]
        assert _no_atime(answers[key]) == _no_atime(_pyinfra_answer(cls, path=path)), \
            (cls.__name__, path)
    fifo = converge._key(Sha1File, (), {"path": str(tree / "fifo")})[0]
    assert _batched(converge._HostRun(), [(Sha1File, {"path": str(tree / "fifo")})],
                    monkeypatch)[fifo] is None
    # The batch really saw the files (not defaults everywhere).
    file_key = converge._key(File, (), {"path": paths[0]})[0]
    assert answers[file_key]["size"] == len("content\n")


def test_accounts_in_one_awk_answer_as_pyinfra_users_but_last_login(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    if not os.access("/etc/shadow", os.R_OK):
        pytest.skip("reading /etc/shadow needs root (pyinfra's fact reads it too)")
    answers = _batched(converge._HostRun(), [(Users, {})], monkeypatch)
    fast = next(iter(answers.values()))
    slow = _pyinfra_answer(Users)
    assert set(fast) == set(slow) and len(fast) > 3
    for name, info in slow.items():
        theirs = {k: v for k, v in info.items() if k not in ("lastlog", "groups")}
        mine = {k: v for k, v in fast[name].items() if k not in ("lastlog", "groups")}
        assert mine == theirs, name
        assert set(fast[name]["groups"]) == set(info["groups"]), name


def test_each_command_answers_alone_exit_status_output_and_missing_tool() -> None:
    commands = (
        "echo one; echo two",
        "exit 3",  # stops its own subshell only
        guarded("echo never", "no-such-tool-here"),
        "printf 'no newline'",
        "",
    )
    status, lines = _sh(Batch().command(commands))
    assert status == 0
    answers = Batch().process(lines)
    assert answers[0] == Answer(0, ("one", "two"))
    assert answers[1].status == 3 and answers[1].lines == ()
    assert answers[2].missing and answers[2].lines == (MISSING,)
    assert answers[3] == Answer(0, ("no newline",))
    assert answers[4] == Answer(0, ())
    assert set(answers) == set(range(len(commands)))


def test_a_failed_fact_is_not_answered_so_pyinfra_asks_it_alone(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    class Failing(FactBase[str]):
        def command(self) -> str:
            return "echo partial; exit 1"

        def process(self, output: list[str]) -> str:
            return output[0]

    run = converge._HostRun()
    answers = _batched(run, [(Failing, {})], monkeypatch)
    assert answers == {}
    assert len(run.unanswerable) == 1
