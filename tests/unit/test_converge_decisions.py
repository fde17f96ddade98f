"""Which operations a deploy sends: decided from facts read in batches, before anything runs.

A fake host answers the batch by running it with sh here; fake operations
read a File fact the way pyinfra's own do (through ``Host.get_fact``) and
record whether the deploy called them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pyinfra.api.facts import FactBase
from pyinfra.facts.files import File

from koumbit_infra import converge
from koumbit_infra.facts.batch import Batch

T = TypeVar("T")


class FakeHost:
    name = "fake"

    def __init__(self) -> None:
        self.batches = 0
        self.loop_position: list[int] = []

    def loop(self, items: Iterable[T]) -> Iterator[T]:  # as pyinfra's Host.loop
        self.loop_position.append(0)
        for i, item in enumerate(items):
            self.loop_position[-1] = i
            yield item
        self.loop_position.pop()

    def get_fact(self, cls: type[FactBase[Any]], **kwargs: Any) -> Any:
        if cls is Batch:
            self.batches += 1
            done = subprocess.run(["sh", "-c", Batch().command(kwargs["commands"])],
                                  capture_output=True, text=True, check=True)
            return Batch().process(done.stdout.splitlines())
        raise AssertionError(f"{cls.__name__} read alone, outside the batch")


class FakeOp:
    """An operation with work when ``path`` is missing (as files.file(present=True))."""

    def __init__(self, host: FakeHost) -> None:
        self.host = host
        self.called: list[str] = []
        self.positions: list[list[int]] = []

    def _inner(self, path: str) -> Generator[str, None, None]:
        if converge._get_fact(self.host, File, path=path) is None:  # type: ignore[arg-type]
            yield f"touch {path}"

    def __call__(self, name: str, path: str) -> str:
        self.called.append(path)
        self.positions.append(list(self.host.loop_position))
        return f"meta of {path}"


class Barrier:
    def __init__(self) -> None:
        self.called = 0

    def __call__(self, name: str) -> str:
        self.called += 1
        return "barrier"


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    fake = FakeHost()
    monkeypatch.setattr(converge, "host", fake)
    monkeypatch.setattr(converge, "_RUNS", {})
    return fake


def test_a_converged_host_gets_no_operation_and_one_round_trip(
    host: FakeHost, tmp_path: Path
) -> None:
    (tmp_path / "a").write_text("")
    (tmp_path / "b").write_text("")
    op = FakeOp(host)

    def concern() -> None:
        converge.need(op, name="a", path=str(tmp_path / "a"))
        converge.need(op, name="b", path=str(tmp_path / "b"))

    converge.converge(concern)
    assert op.called == []
    assert host.batches == 1


def test_after_the_first_operation_with_work_the_rest_are_sent_to_decide_when_they_run(
    host: FakeHost, tmp_path: Path
) -> None:
    (tmp_path / "b").write_text("")
    (tmp_path / "c").write_text("")
    op = FakeOp(host)

    def concern() -> None:
        converge.need(op, name="c", path=str(tmp_path / "c"))  # nothing to do: not sent
        converge.need(op, name="a", path=str(tmp_path / "a"))  # missing: sent
        converge.need(op, name="b", path=str(tmp_path / "b"))  # may be stale now: sent

    converge.converge(concern)
    assert op.called == [str(tmp_path / "a"), str(tmp_path / "b")]


def test_need_now_still_decides_from_its_snapshot_after_work(
    host: FakeHost, tmp_path: Path
) -> None:
    (tmp_path / "b").write_text("")
    op = FakeOp(host)

    def concern() -> None:
        converge.need(op, name="a", path=str(tmp_path / "a"))
        converge.need_now(op, name="b", path=str(tmp_path / "b"))

    converge.converge(concern)
    assert op.called == [str(tmp_path / "a")]


def test_call_sends_once_in_the_apply_pass_only(host: FakeHost, tmp_path: Path) -> None:
    op, barrier = FakeOp(host), Barrier()

    def concern() -> None:
        converge.need(op, name="a", path=str(tmp_path / "a"))  # one survey reads it
        converge.call(barrier, name="barrier")

    converge.converge(concern)
    assert barrier.called == 1
    assert host.batches == 1


def test_a_fact_the_batch_could_not_read_leaves_the_decision_to_the_run(
    host: FakeHost, tmp_path: Path
) -> None:
    class Failing(FactBase[bool]):
        def command(self) -> str:
            return "exit 4"

        def process(self, output: list[str]) -> bool:
            return True

    sent: list[str] = []

    class OpOnFailing:
        def _inner(self) -> Generator[str, None, None]:
            if not converge._get_fact(host, Failing):  # type: ignore[arg-type]
                yield "fix"

        def __call__(self, name: str) -> str:
            sent.append(name)
            return name

    def concern() -> None:
        converge.need(OpOnFailing(), name="decided when it runs")

    converge.converge(concern)
    assert sent == ["decided when it runs"]


def test_survey_passes_stop_when_nothing_new_is_asked(host: FakeHost, tmp_path: Path) -> None:
    """A fact asked only once an earlier one is known costs one more pass, not more."""
    (tmp_path / "first").write_text("")
    (tmp_path / "second").write_text("")
    op = FakeOp(host)

    def concern() -> None:
        converge.need(op, name="first", path=str(tmp_path / "first"))
        if converge.fact(File, path=str(tmp_path / "first")):
            converge.need(op, name="second", path=str(tmp_path / "second"))

    converge.converge(concern)
    assert op.called == []
    assert host.batches == 2


def test_each_concern_names_its_operations_apart(host: FakeHost, tmp_path: Path) -> None:
    """pyinfra names an operation by its stack's line numbers alone: the same line in two
    concerns (two deploy files) must still give two names, or a host that runs only the
    second orders it where another host ran the first, and pyinfra finds a cycle."""
    op = FakeOp(host)

    def concern(name: str) -> Callable[[], None]:
        def run() -> None:
            converge.need(op, name=name, path=str(tmp_path / name))  # one line for both
        return run

    converge.converge(concern("premier"), concern("second"))
    assert op.called == [str(tmp_path / "premier"), str(tmp_path / "second")]
    assert op.positions == [[0], [1]]
