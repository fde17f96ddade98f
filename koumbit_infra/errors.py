"""The one base of every failure a person can act on: a message and an exit status.

Code anywhere raises a subclass (InventoryError, LabError, SiteCommandError,
LedgerError, ...); the ``koumbit-infra`` command catches the base once, at the
top (``koumbit_infra.cli``), prints what ``explain()`` says on stderr without a
traceback and exits with ``exit_code``. Anything else is unexpected: traceback, exit 1.
"""

from __future__ import annotations


class KoumbitError(Exception):
    """A failure whose message is written for the person who ran the command.

    ``exit_code`` is the class's unless given: 1 a step failed, 2 bad input or
    usage (nothing was touched), 3 the lab failed.
    """

    exit_code: int = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def explain(self) -> str:
        """What the person reads on stderr: the message, unless a kind of error adds to it."""
        return self.message
