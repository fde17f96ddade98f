"""The Debian mirror the host itself uses, read from its apt sources.

The host runs Debian 12: its sources name bookworm. The archive (and the
security archive) found there also serves every other release the lab boots.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from koumbit_infra.releases import HOST_RELEASES, RELEASES

# The suite the host's own sources carry, by which its mirror is recognised.
SUITE = RELEASES[HOST_RELEASES[0]].codename
DEFAULT_DEBIAN = "http://deb.debian.org/debian/"
DEFAULT_SECURITY = "http://deb.debian.org/debian-security/"


@dataclass(frozen=True)
class Source:
    uri: str
    suites: tuple[str, ...]


@dataclass(frozen=True)
class HostMirrors:
    """Where apt-cacher-ng fetches what the lab's servers ask for."""

    debian: str
    security: str


def parse_deb822(text: str) -> list[Source]:
    """``deb`` stanzas of a ``.sources`` file (continuation lines and comments handled)."""
    sources: list[Source] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        suites = tuple(fields.get("suites", "").split())
        sources.extend(Source(uri, suites) for uri in fields.get("uris", "").split())
    return sources


def parse_one_line(text: str) -> list[Source]:
    """``deb URI SUITE COMPONENTS`` lines of a classic ``sources.list``."""
    sources: list[Source] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 3 or words[0] != "deb":
            continue
        # Skip an options block such as [signed-by=...] (may span words).
        rest = words[1:]
        if rest[0].startswith("["):
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if len(rest) >= 2:
            sources.append(Source(rest[0], (rest[1],)))
    return sources


def _slash(uri: str) -> str:
    return uri if uri.endswith("/") else uri + "/"


def choose_mirrors(sources: Iterable[Source]) -> HostMirrors:
    """First http(s) source carrying the host's suite, and one carrying its security suite."""
    debian = security = None
    for source in sources:
        if not source.uri.startswith(("http://", "https://")):
            continue
        if debian is None and {SUITE, f"{SUITE}-updates"} & set(source.suites):
            debian = _slash(source.uri)
        if security is None and f"{SUITE}-security" in source.suites:
            security = _slash(source.uri)
    return HostMirrors(debian or DEFAULT_DEBIAN, security or DEFAULT_SECURITY)


def host_mirrors(apt_dir: Path = Path("/etc/apt")) -> HostMirrors:
    """The host's Debian and security mirrors (deb.debian.org when none is found)."""
    sources: list[Source] = []
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        sources.extend(parse_deb822(path.read_text(errors="replace")))
    lists = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in lists:
        if path.is_file():
            sources.extend(parse_one_line(path.read_text(errors="replace")))
    return choose_mirrors(sources)
