"""Many facts in one round trip: each fact's own command, run one after the other.

pyinfra sends one SSH command per fact and per operation that reads it; a
no-change deploy of the lab asked about 700 of them. This fact runs a list of
fact commands in a single shell, each in its own subshell (an ``exit`` in one
stops only that one), and answers each command's exit status and output
lines, so the caller can hand them to that fact's own ``process``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api.facts import FactBase

# Lines the batch prints around each command's output; no fact prints them.
_BEGIN = "@@koumbit-batch-begin"
_END = "@@koumbit-batch-end"
# What pyinfra's own guard prints when a fact's required command is missing.
MISSING = "@@koumbit-batch-missing-command"


@dataclass(frozen=True)
class Answer:
    """One command's exit status and output lines (``missing``: its tool is not installed)."""

    status: int
    lines: tuple[str, ...]
    missing: bool = False


def guarded(command: str, requires: str | None) -> str:
    """``command``, or the missing-command mark when ``requires`` is not installed."""
    if not requires:
        return command
    return (f"if command -v {requires} >/dev/null 2>&1; then {command}\n"
            f"else echo '{MISSING}'; fi")


class Batch(FactBase[dict[int, Answer]]):
    """The answers of ``commands`` (shell strings), by their index, in one round trip.

    Output lines are not interpreted beyond the begin and end marks; a command
    that printed a mark of its own would cut its answer short, which the
    caller sees as a failed answer and asks that fact alone instead.
    """

    def command(self, commands: tuple[str, ...]) -> str:
        # A newline after the output: a command whose last line has none keeps its end mark.
        parts = [f"echo '{_BEGIN} {i}'; (\n{cmd}\n) </dev/null 2>/dev/null; s=$?; echo;"
                 f" echo \"{_END} {i} $s\""
                 for i, cmd in enumerate(c.strip() or "true" for c in commands)]
        return "\n".join(parts) + "\ntrue"

    @staticmethod
    def default() -> dict[int, Answer]:
        return {}

    def process(self, output: list[str]) -> dict[int, Answer]:
        answers: dict[int, Answer] = {}
        current: int | None = None
        lines: list[str] = []
        for line in output:
            if line.startswith(_BEGIN + " "):
                current, lines = int(line.split()[1]), []
            elif line.startswith(_END + " ") and current is not None:
                _, index, status = line.split()
                if int(index) == current:
                    if lines and lines[-1] == "":
                        lines.pop()  # the newline the batch adds after each output
                    missing = lines == [MISSING]
                    answers[current] = Answer(int(status), tuple(lines), missing)
                current = None
            elif current is not None:
                lines.append(line)
        return answers
