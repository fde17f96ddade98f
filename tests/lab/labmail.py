"""The lab's mailbox on mon1: read it, wait for a message, empty it.

Every address of the lab's mail domain (koumbit-lab.test: the receivers, the admins'
address, root's mail) is delivered by mon1's exim to the mbox ``/var/mail/alertes``
(koumbit_infra.monitoring.mail). A test reads it over SSH and parses it here with the
standard library (it is named ``labmail``, not ``mailbox``: test modules are imported
by basename, and this one needs the standard ``mailbox``)::

    from labmail import LabMailbox

    box = LabMailbox(lab)
    seen = box.count()                 # a mark: only what arrives after it counts
    ...                                # make an alert fire
    mail, waited = box.wait_for(lambda m: "journal.koumbit-lab.test" in m.subject,
                                seconds=300, after=seen)
    mail.subject, mail.to, mail.body   # decoded: the subject, To:, the text part

``wait_for`` polls (every 2 s) until a message after the mark matches or its deadline
passes, then fails listing the subjects that did arrive. ``messages(after=seen)`` lists
them; ``clear()`` empties the mailbox under exim's own locks.
"""

from __future__ import annotations

import base64
import email.policy
import mailbox
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, cast

from koumbit_infra.monitoring.mail import MAILBOX

if TYPE_CHECKING:
    from conftest import Lab

MONITOR = "mon1"
# Empties the mbox holding exim's locks (fcntl and the .lock file, as exim takes them).
_CLEAR = ("import mailbox, sys; m = mailbox.mbox(sys.argv[1], create=False); m.lock();"
          " m.clear(); m.flush(); m.unlock()")


@dataclass(frozen=True)
class Mail:
    """One message of the mailbox: its decoded subject, recipients and text."""

    subject: str
    to: str
    body: str
    message: EmailMessage


def _mail(message: EmailMessage) -> Mail:
    part = message.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""
    return Mail(str(message.get("Subject", "")), str(message.get("To", "")), str(body),
                message)


class LabMailbox:
    """The mbox ``path`` on the lab server ``server`` (mon1's /var/mail/alertes)."""

    def __init__(self, lab: Lab, server: str = MONITOR, path: str = MAILBOX) -> None:
        self.lab, self.server, self.path = lab, server, path

    def messages(self, after: int = 0) -> list[Mail]:
        """Every message now in the mailbox, oldest first, but the first ``after``."""
        # base64: the mbox is bytes (a cron mail may hold any encoding), ssh gives text.
        out = self.lab.run(self.server, f"if [ -s {self.path} ]; then base64 -w0 {self.path};"
                                        " fi")
        raw = base64.b64decode(out.strip()) if out.strip() else b""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "mbox"
            path.write_bytes(raw)
            box = mailbox.mbox(path, create=False)
            found = [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
                     for key in box.iterkeys()]
            box.close()
        return [_mail(cast(EmailMessage, m)) for m in found][after:]

    def count(self) -> int:
        """How many messages the mailbox holds now: a mark for ``wait_for``."""
        return len(self.messages())

    def wait_for(self, match: Callable[[Mail], bool], seconds: float, after: int = 0,
                 every: float = 2.0) -> tuple[Mail, float]:
        """The first message after the first ``after`` for which ``match`` holds, and the
        seconds it took to come; a failed assertion naming what came, at the deadline."""
        start = time.monotonic()
        while True:
            arrived = self.messages(after)
            found = next((m for m in arrived if match(m)), None)
            if found is not None:
                return found, time.monotonic() - start
            if time.monotonic() - start > seconds:
                subjects = [m.subject for m in arrived]
                raise AssertionError(f"no such message in {self.path} on {self.server} within"
                                     f" {seconds:.0f} s; arrived: {subjects}")
            time.sleep(every)

    def clear(self) -> None:
        """Empty the mailbox (kept, with its owner and mode, for exim to append to)."""
        self.lab.run(self.server, f"if [ -s {self.path} ]; then python3 -c '{_CLEAR}'"
                                  f" {self.path}; fi")
