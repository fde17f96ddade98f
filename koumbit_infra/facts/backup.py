"""Backups: the keys a backup client and server exchange, and the repository's state."""

from __future__ import annotations

import shlex

from pyinfra.api.facts import FactBase


class SshPublicKey(FactBase[str | None]):
    """The first ``type base64`` key of an OpenSSH public key file; ``None`` if absent."""

    def command(self, path: str) -> str:
        return f"cat {path} 2>/dev/null || true"

    def process(self, output: list[str]) -> str | None:
        for line in output:
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith(("ssh-", "ecdsa-")):
                return f"{parts[0]} {parts[1]}"
        return None


class ResticRepository(FactBase[bool | None]):
    """Whether this server's restic repository is initialised (``None``: no wrapper yet).

    Reads the repository's config through the backup server, which needs the password file,
    the key, and the backup server's authorisation; any failure reads as
    "not initialised", and ``restic init`` then reports the actual problem.
    """

    def command(self, wrapper: str, target: str) -> str:
        return (
            f"if [ ! -x {wrapper} ]; then echo no-wrapper;"
            f" elif KOUMBIT_BACKUP_TARGET={shlex.quote(target)} {wrapper} cat config"
            " >/dev/null 2>&1; then echo initialised;"
            " else echo missing; fi"
        )

    def process(self, output: list[str]) -> bool | None:
        answer = output[-1].strip() if output else "missing"
        return None if answer == "no-wrapper" else answer == "initialised"


class AgeFile(FactBase[str | None]):
    """An ASCII-armoured age file's text (it is ciphertext); ``None`` if absent or not one."""

    def command(self, path: str) -> str:
        return f"cat {path} 2>/dev/null || true"

    def process(self, output: list[str]) -> str | None:
        text = "\n".join(output).strip()
        if not text.startswith("-----BEGIN AGE ENCRYPTED FILE-----"):
            return None
        return text + "\n"


class SealCurrent(FactBase[bool | None]):
    """Whether every age copy of the repository password is current (``None``: no tool)."""

    def command(self, tool: str) -> str:
        return f"if [ -x {tool} ]; then {tool} --check; else echo no-tool; fi"

    def process(self, output: list[str]) -> bool | None:
        answer = output[-1].strip() if output else "stale"
        return None if answer == "no-tool" else answer == "current"
