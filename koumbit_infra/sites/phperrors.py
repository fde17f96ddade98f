"""The PHP fatal errors a site logged while it was checked: migrate's test of the target.

The log (``SiteLayout.php_error_log``) is in the site's own folder: the site may
swap it for a link, a FIFO, a device or a huge file at any moment. Root never
opens it: the read runs as the site's user (``shell.as_site``), who reaches only
what it already could, bounded in time and size, and its answer is parsed as
hostile text. A mark taken before the check (the log's size) keeps older lines
out of the verdict.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.shell import as_site

READ_LIMIT_BYTES = 256 * 1024
READ_SECONDS = 10
SHOWN_LINES = 5
LINE_CHARS = 300

# A header line ("absent", "other", or "size SIZE OFFSET"), then for a regular file
# the bytes from OFFSET on (LIMIT at most; none for a mark). A log that shrank
# (rotated, emptied) since the mark is read from its start. Run as the site: a
# link it planted only ever reaches the site's own rights; a FIFO swapped in after
# the test blocks tail until `timeout` ends it.
READ_SCRIPT = f"""
f=$1 off=$2 limit=$3
if [ ! -e "$f" ] && [ ! -L "$f" ]; then echo absent; exit 0; fi
if [ -L "$f" ] || [ ! -f "$f" ]; then echo other; exit 0; fi
size=$(stat -c %s -- "$f") || exit 1
[ "$size" -ge "$off" ] || off=0
echo "size $size $off"
[ "$limit" -gt 0 ] || exit 0
timeout {READ_SECONDS} tail -c "+$((off + 1))" -- "$f" | head -c "$limit"
"""

_HEADER = re.compile(r"(?:absent|other|size ([0-9]{1,18}) ([0-9]{1,18}))")
# PHP's own line in an error_log file: "[04-Nov-2026 12:00:00 UTC] PHP Fatal error:  ...".
# Anchored at the line's start: a warning whose text quotes "PHP Fatal error" is no fatal.
_FATAL = re.compile(r"^\[[^\]\n]{1,64}\] PHP (?:Fatal|Parse|Recoverable fatal) error:")


class LogState(Enum):
    ABSENT = "absent"  # nothing logged yet: no error
    FILE = "file"
    OTHER = "other"  # a link, FIFO, device, folder, or an answer that makes no sense


@dataclass(frozen=True)
class LogRead:
    """What one read of the log found: its kind, its size, and the text after the mark."""

    state: LogState
    size: int = 0
    offset: int = 0
    text: str = ""


def read_command(site: SiteLayout, offset: int = 0, limit: int = READ_LIMIT_BYTES) -> str:
    """Root's shell line reading the site's PHP error log from ``offset``, as the site."""
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit are byte counts")
    return as_site(site, READ_SCRIPT, site.php_error_log, str(offset), str(limit))


def parse_read(output: str) -> LogRead:
    """The answer of ``read_command``; anything else reads as OTHER (cannot tell)."""
    head, _, text = output.partition("\n")
    found = _HEADER.fullmatch(head.strip())
    if not found:
        return LogRead(LogState.OTHER)
    if head.strip() in ("absent", "other"):
        return LogRead(LogState(head.strip()))
    size, offset = int(found[1]), int(found[2])
    if offset > size:
        return LogRead(LogState.OTHER)
    return LogRead(LogState.FILE, size, offset, text)


def _printable(line: str) -> str:
    """A log line fit for a terminal: control and format characters (escapes, bidi
    overrides) shown as '?', cut to LINE_CHARS."""
    clean = "".join("?" if unicodedata.category(c)[0] == "C" else c for c in line)
    return clean if len(clean) <= LINE_CHARS else clean[:LINE_CHARS] + "..."


def fatal_lines(text: str) -> list[str]:
    """PHP's fatal and parse errors in ``text``, made printable."""
    return [_printable(line) for line in text.split("\n") if _FATAL.match(line)]


def log_problem(site: SiteLayout, log: LogRead) -> str | None:
    """Why the log read after the check fails it (None: no fatal error was logged)."""
    where = site.php_error_log
    if log.state is LogState.ABSENT:
        return None
    if log.state is LogState.OTHER:
        return (f"its PHP error log {where} is not a regular file (or could not be read as"
                " the site): whether PHP failed cannot be told")
    fatal = fatal_lines(log.text)
    if fatal:
        shown = "\n".join(f"     {line}" for line in fatal[:SHOWN_LINES])
        more = f"\n     ... and {len(fatal) - SHOWN_LINES} more" if len(fatal) > SHOWN_LINES else ""
        return f"PHP logged {len(fatal)} fatal error(s) in {where} during the check:\n{shown}{more}"
    if log.size - log.offset > READ_LIMIT_BYTES:
        return (f"PHP wrote {log.size - log.offset} bytes to {where} during the check; the first"
                f" {READ_LIMIT_BYTES} hold no fatal error, the rest was not read")
    return None
