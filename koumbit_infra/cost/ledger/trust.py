"""What the ledger refuses: a month changed behind its back, and a silent revision.

A month's version is *final* once it was closed after the month ended (in the budget's
time zone); versions closed while the month ran are provisional, replaced as usage grows.
Replacing a final version with different figures needs a reason (``--revise``), kept with
the new version. Every read checks the stored rows against the version's content hash.
"""

from __future__ import annotations

import unicodedata

from koumbit_infra.cost.ledger.stored_month import StoredMonth, cents_text
from koumbit_infra.cost.period import Month
from koumbit_infra.errors import KoumbitError

REASON_MAX_CHARS = 500


class LedgerError(KoumbitError):
    """The ledger cannot be opened or used as asked; nothing was read or written (exit 2)."""

    exit_code = 2

    def explain(self) -> str:
        return f"error: {self.message}"


class LedgerTampered(LedgerError):
    """A stored version's rows no longer match its content hash: they were changed since."""

    def __init__(self, env: str, month: Month, version: int, what: str) -> None:
        self.env, self.month, self.version = env, month, version
        super().__init__(
            f"{month} ({env}) version {version} no longer matches what was closed ({what}):"
            " its rows were changed outside koumbit-infra, so its figures are not shown."
            " Restore the ledger from a backup, or close the month again with"
            ' --revise "why" to record a new version from the inventory')


class RevisionNeeded(LedgerError):
    """A final version would be replaced by different figures, and no reason was given."""

    def __init__(self, env: str, month: Month, version: int, changes: str) -> None:
        self.env, self.month, self.version, self.changes = env, month, version, changes
        super().__init__(
            f"{month} ({env}) was closed as version {version} after the month ended, and"
            f" these inputs give other figures: {changes}; nothing was written")

    def explain(self) -> str:
        """The refusal, then how to record the new figures or see the kept ones."""
        return (f"{super().explain()}\nTo record these figures as version {self.version + 1},"
                ' run the same command again with --revise "why the figures changed";'
                f" cost show {self.month} --env {self.env} shows version {self.version}.")


class NothingToRevise(LedgerError):
    """``--revise`` was given for a month that was never closed (wrong env or ledger?)."""

    def __init__(self, env: str, month: Month) -> None:
        super().__init__(f"{month} ({env}) was never closed in this ledger: nothing to revise;"
                         " check --env and --ledger, or close it without --revise")


def revise_reason(text: str) -> str:
    """``text`` as a revision's reason: one line of printable text, trimmed, 1 to 500 chars.

    ValueError says what is wrong. The reason is printed by ``cost show`` and in the
    reports, so it may hold no control character (no line break, no terminal escape).
    """
    reason = text.strip()
    if not reason:
        raise ValueError('the reason of a revision is empty: say why the figures changed,'
                         ' e.g. --revise "late usage from web2"')
    if len(reason) > REASON_MAX_CHARS:
        raise ValueError(f"the reason of a revision has {len(reason)} characters;"
                         f" keep it under {REASON_MAX_CHARS}")
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in reason):
        raise ValueError("the reason of a revision holds a control character or line break;"
                         " write it on one line of plain text")
    return reason


def changes(before: StoredMonth | None, after: StoredMonth) -> str:
    """What differs between two versions of a month, in a few words with the totals."""
    if before is None:
        return f"total {cents_text(after.total_cents)} CAD"
    found = [f"total {cents_text(before.total_cents)} -> {cents_text(after.total_cents)} CAD",
             f"idle {cents_text(before.idle_cents)} -> {cents_text(after.idle_cents)} CAD"]
    old = {row[0]: row for row in before.clients}
    new = {row[0]: row for row in after.clients}
    moved = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
    if moved:
        shown = ", ".join(moved[:3]) + (", ..." if len(moved) > 3 else "")
        found.append(f"{len(moved)} client(s) changed ({shown})")
    if old.keys() - new.keys():
        found.append(f"{len(old.keys() - new.keys())} client(s) gone")
    if new.keys() - old.keys():
        found.append(f"{len(new.keys() - old.keys())} client(s) new")
    if before.usage != after.usage:
        found.append(f"usage {before.usage!r} -> {after.usage!r}")
    return ", ".join(found)
