"""The one exception the lab raises for problems a person can act on."""

from __future__ import annotations

from koumbit_infra.errors import KoumbitError


class LabError(KoumbitError):
    """A lab failure whose message is written for the person running the lab.

    The CLI prints it as ``lab: error: <message>`` without a traceback and exits 3.
    """

    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def explain(self) -> str:
        return f"lab: error: {self.message}"
