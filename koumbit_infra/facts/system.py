"""Facts about the base system that pyinfra does not offer in one call."""

from __future__ import annotations

from pyinfra.api.facts import FactBase


class MissingPaths(FactBase[frozenset[str]]):
    """Which of ``paths`` do not exist, in one round trip for any number of paths."""

    def command(self, paths: tuple[str, ...]) -> str:
        quoted = " ".join(f"'{p}'" for p in paths)
        return f"for p in {quoted}; do [ -e \"$p\" ] || echo \"$p\"; done"

    def process(self, output: list[str]) -> frozenset[str]:
        return frozenset(line.strip() for line in output if line.strip())


class Virtualisation(FactBase[str]):
    """``systemd-detect-virt --container`` answer: ``none`` on a real machine or VM."""

    def command(self) -> str:
        return "systemd-detect-virt --container 2>/dev/null || true"

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else "none"
