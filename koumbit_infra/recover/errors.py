"""The failure of a recovery: its message names the server or site and what to do next."""

from __future__ import annotations

from koumbit_infra.errors import KoumbitError


class RecoverError(KoumbitError):
    """A recovery refused before touching anything (exit 2) or a step that failed (exit 1)."""
