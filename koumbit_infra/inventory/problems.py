"""Problems found in an inventory: where they are, what is wrong, what to do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from koumbit_infra.errors import KoumbitError
from koumbit_infra.inventory.text import escaped


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake in one file, printed as ``path:line: what is wrong; what to do``."""

    path: Path
    line: int
    message: str
    hint: str
    severity: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        # Messages quote what was written: a value holding ESC or a bidi override must not
        # repaint the terminal that prints it, nor hide part of the message.
        object.__setattr__(self, "message", escaped(self.message))
        object.__setattr__(self, "hint", escaped(self.hint))

    def __str__(self) -> str:
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{escaped(str(self.path))}:{self.line}: {prefix}{self.message}; {self.hint}"

    def as_dict(self) -> dict[str, str | int]:
        return {
            "path": escaped(str(self.path)),
            "line": self.line,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }


class InventoryError(KoumbitError):
    """The inventory is invalid: carries every problem, so all are reported at once.

    The message is one ``file:line`` line per problem, then what was refused
    (``subject``), how many errors, and what that means (``outcome``).
    """

    exit_code = 2

    def __init__(self, problems: list[Problem], subject: str = "the inventory",
                 outcome: str = "no server was contacted") -> None:
        self.problems = sorted(problems)
        errors = sum(p.severity is Severity.ERROR for p in self.problems)
        super().__init__("\n".join([*(str(p) for p in self.problems),
                                    f"{subject} is invalid: {errors} error(s); {outcome}"]))
