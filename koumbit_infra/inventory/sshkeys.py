"""Admins' public SSH keys: one line of authorized_keys each, of a type OpenSSH accepts.

A key is ``<type> <base64 blob> [comment]``. The blob is a sequence of SSH
strings (a 4-byte length, then the bytes) whose first string names the type
again; a blob that names another type, or has the wrong number of parts, is
a pasting mistake (or a forgery) that sshd would reject at login time, after
the deploy removed the admin's previous key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from koumbit_infra.inventory.text import check_text, shown

# Type -> (number of SSH strings in the blob, curve name the second one must hold).
KEY_TYPES: dict[str, tuple[int, str | None]] = {
    "ssh-ed25519": (2, None),
    "ssh-rsa": (3, None),
    "ecdsa-sha2-nistp256": (3, "nistp256"),
    "ecdsa-sha2-nistp384": (3, "nistp384"),
    "ecdsa-sha2-nistp521": (3, "nistp521"),
    "sk-ssh-ed25519@openssh.com": (3, None),
    "sk-ecdsa-sha2-nistp256@openssh.com": (4, "nistp256"),
}
MAX_KEY_LINE = 8192  # an RSA key of 16384 bits takes about 2,800 characters
_REST = re.compile(r"([A-Za-z0-9+/]+={0,2})(?: +(.+))?")
_ED25519_BYTES = 32


@dataclass(frozen=True)
class PublicKey:
    """A parsed key: its type, its blob (what makes it the same key) and its comment."""

    kind: str
    blob: str
    comment: str | None

    @property
    def identity(self) -> str:
        """The key without its comment: two lines with the same identity are the same key."""
        return f"{self.kind} {self.blob}"

    @property
    def fingerprint(self) -> str:
        """``SHA256:...``, as ``ssh-keygen -l`` and a client's first connection show it."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key(line: str) -> PublicKey:
    """The key on ``line``; ValueError says what is wrong with it."""
    check_text(line)  # one line, nothing invisible: authorized_keys must get one key per line
    kind, _, rest = line.partition(" ")
    if kind not in KEY_TYPES:
        raise ValueError(f"'{shown(kind)}' is not a key type OpenSSH accepts here"
                         f" (one of: {', '.join(KEY_TYPES)})")
    found = _REST.fullmatch(rest.lstrip(" "))
    if found is None:
        raise ValueError(f"'{shown(line)}' is not an OpenSSH public key"
                         " (type, base64 key, optional comment)")
    blob, comment = found[1], found[2]
    try:
        raw = base64.b64decode(blob, validate=True)
    except binascii.Error:
        raise ValueError(f"the key '{shown(blob)}' is not valid base64") from None
    parts = _ssh_strings(raw)
    count, curve = KEY_TYPES[kind]
    if parts and parts[0] != kind.encode():
        raise ValueError(f"the {kind} key's data names '{shown(parts[0].decode('latin-1'))}',"
                         f" not {kind}: the line mixes two keys")
    if not parts or len(parts) != count or (curve is not None and parts[1] != curve.encode()) or (
        kind == "ssh-ed25519" and len(parts[1]) != _ED25519_BYTES
    ):
        raise ValueError(f"the {kind} key's data is not a whole {kind} key (cut or altered)")
    return PublicKey(kind, blob, comment)


def _ssh_strings(raw: bytes) -> list[bytes] | None:
    """The SSH strings of a key blob, or None when it does not split exactly into them."""
    parts, at = [], 0
    while at < len(raw):
        if at + 4 > len(raw):
            return None
        size = int.from_bytes(raw[at:at + 4], "big")
        at += 4
        if at + size > len(raw):
            return None
        parts.append(raw[at:at + size])
        at += size
    return parts
