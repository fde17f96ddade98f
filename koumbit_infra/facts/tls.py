"""A certificate on a server: the names it covers, whether it is still fresh, and where
it comes from; and whether the trust store holds the CAs the deploy wrote."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api.facts import FactBase

RENEW_BEFORE_SECONDS = 30 * 24 * 3600  # like certbot: renew in the last 30 days


@dataclass(frozen=True)
class CertificateState:
    domains: frozenset[str]
    fresh: bool
    source: str = ""  # what the path links to ("" for a file of its own)


class Certificate(FactBase[CertificateState | None]):
    """Names, freshness and link target of the PEM certificate at ``path``; ``None`` if
    there is none."""

    def command(self, path: str) -> str:
        q = shlex.quote(path)
        return (f"[ -s {q} ] && {{ printf 'link:%s\\n' \"$(readlink {q})\";"
                f" openssl x509 -in {q} -noout -ext subjectAltName"
                f" -checkend {RENEW_BEFORE_SECONDS} 2>/dev/null; }}; true")

    def process(self, output: list[str]) -> CertificateState | None:
        if not output:
            return None
        source = next((line[5:].strip() for line in output if line.startswith("link:")), "")
        rest = [line for line in output if not line.startswith("link:")]
        names = {part.strip()[4:] for line in rest for part in line.split(",")
                 if part.strip().startswith("DNS:")}
        return CertificateState(frozenset(names), fresh="will not expire" in " ".join(rest),
                                source=source)


class TrustStoreStale(FactBase[bool]):
    """True when a CA file under ``folder`` matching ``pattern`` is newer than the bundle
    update-ca-certificates made: a run was cut off between writing it and updating."""

    def command(self, folder: str, pattern: str) -> str:
        return (f"find {shlex.quote(folder)} -maxdepth 1 -name {shlex.quote(pattern)}"
                " -newer /etc/ssl/certs/ca-certificates.crt 2>/dev/null | head -n 1")

    def process(self, output: list[str]) -> bool:
        return any(line.strip() for line in output)
