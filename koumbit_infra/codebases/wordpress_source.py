"""A WordPress source as ``koumbit-site-code`` reads it (settings.codebases.wordpress_source):
one static folder, served over HTTPS, holding ``releases.json``,
``wordpress-VERSION.tar.gz`` and ``wordpress-VERSION.tar.gz.sha256``.

``releases.json``: ``{"latest": "6.8.3", "security": {"6.8": "6.8.3", "6.1": "6.1.9"},
"versions": ["6.1.9", ..., "6.8.3"]}``: the newest release, the newest release of each
branch that still gets security fixes, and every release, oldest first.

Production's source is the team's mirror of wordpress.org's releases
(:mod:`koumbit_infra.codebases.wordpress_mirror`); the lab's is built from Debian's packages
(:mod:`koumbit_infra.lab.wordpress`). Both write it with :func:`publish`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path


def branch(version: str) -> str:
    """A release's branch: 6.8.3 -> 6.8."""
    return ".".join(version.split(".")[:2])


def version_key(version: str) -> tuple[int, ...]:
    """A version as numbers, to sort releases (6.10 after 6.9)."""
    return tuple(int(part) for part in version.split("."))


def releases_document(versions: Iterable[str],
                      insecure: Collection[str] = ()) -> dict[str, object]:
    """releases.json for ``versions``: a branch is listed under ``security`` when its newest
    release here is not ``insecure`` (wordpress.org's word for a release with known holes)."""
    ordered = sorted(set(versions), key=version_key)
    newest = {branch(v): v for v in ordered}
    security = {b: v for b, v in newest.items() if v not in insecure}
    return {"latest": ordered[-1], "security": dict(sorted(security.items(),
                                                           key=lambda i: version_key(i[0]))),
            "versions": ordered}


def publish(folder: Path, archives: Mapping[str, bytes],
            insecure: Collection[str] = ()) -> list[str]:
    """Each archive (version -> bytes) with its .sha256, then releases.json for every
    archive in ``folder`` (each file written beside and renamed, releases.json last, so
    no reader meets a release that is not complete); the names written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for version, data in sorted(archives.items()):
        name = f"wordpress-{version}.tar.gz"
        digest = hashlib.sha256(data).hexdigest()
        for path, content in ((folder / name, data),
                              (folder / f"{name}.sha256", f"{digest}  {name}\n".encode())):
            if not path.is_file() or path.read_bytes() != content:
                _replace(path, content)
                written.append(path.name)
    present = [p.name.removeprefix("wordpress-").removesuffix(".tar.gz")
               for p in folder.glob("wordpress-*.tar.gz")]
    document = json.dumps(releases_document(present, insecure), indent=2) + "\n"
    index = folder / "releases.json"
    if not index.is_file() or index.read_text() != document:
        _replace(index, document.encode())
        written.append(index.name)
    return written


def _replace(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".new")
    partial.write_bytes(data)
    partial.chmod(0o644)
    partial.replace(path)
