"""A certificate on a server: the names it covers and whether it is still fresh."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api.facts import FactBase

RENEW_BEFORE_SECONDS = 30 * 24 * 3600  # like certbot: renew in the last 30 days


@dataclass(frozen=True)
class CertificateState:
    domains: frozenset[str]
    fresh: bool


class Certificate(FactBase[CertificateState | None]):
    """Names and freshness of the PEM certificate at ``path``; ``None`` if there is none."""

    def command(self, path: str) -> str:
        return (f"[ -s {path} ] && openssl x509 -in {path} -noout -ext subjectAltName"
                f" -checkend {RENEW_BEFORE_SECONDS} 2>/dev/null; true")

    def process(self, output: list[str]) -> CertificateState | None:
        if not output:
            return None
        names = {part.strip()[4:] for line in output for part in line.split(",")
                 if part.strip().startswith("DNS:")}
        return CertificateState(frozenset(names), fresh="will not expire" in " ".join(output))
