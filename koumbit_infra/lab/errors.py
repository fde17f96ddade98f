"""The one exception the lab raises for problems a person can act on."""

from __future__ import annotations


class LabError(Exception):
    """A lab failure whose message is written for the person running the lab.

    The CLI prints ``message`` without a traceback and exits with ``exit_code``.
    """

    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
