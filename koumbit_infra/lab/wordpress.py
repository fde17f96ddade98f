"""The lab's WordPress source: release archives built from Debian's ``wordpress`` packages,
published in the shape production's mirror has (releases.json, wordpress-VERSION.tar.gz
and its .sha256: docs/codebases.md).

The lab reaches no archive but Debian's. Each Debian release the lab runs (bookworm,
trixie) packages one WordPress branch (6.1, 6.8), so the lab gets two real versions: a
real update to make. Their .deb files come through the lab's apt proxy, are checked the
way apt checks them (the suite's InRelease signed by Debian's archive keys, gpgv; the
Packages index's SHA-256 in it; the .deb's SHA-256 in the index), and are unpacked on the
host. Debian replaces a few bundled libraries by links into other packages (getID3,
cropper, underscore); those packages are fetched too and the links replaced by the files,
so the archive holds a whole WordPress as upstream's does. Links to /etc (Debian's
.htaccess, its CA bundle) and Debian's wp-config.php are left out.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from koumbit_infra.codebases.wordpress_source import publish, version_key
from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.hosttools import program
from koumbit_infra.releases import RELEASES, Release

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DEBIAN = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
# apt's own index (Debian's Releases say "No-Support-for-Architecture-all: Packages": the
# binary-all index is not kept in step with the signed Release; amd64's lists all packages).
INDEX = "main/binary-amd64/Packages.xz"
# What Debian's wordpress links into, besides itself.
LINKED_PACKAGES = ("php-getid3", "libjs-cropper", "libjs-underscore")
WORDPRESS_ROOT = "usr/share/wordpress"
_VERSION = re.compile(r"[0-9]+\.[0-9]+(?:\.[0-9]+)?")
_ARCHIVE_TIME = 1577836800  # 2020-01-01: the same archive, byte for byte, on every build
TIMEOUT_S = 120


@dataclass(frozen=True)
class DebianPackage:
    """One entry of a Packages index: where the .deb is and its checksum."""

    name: str
    version: str
    filename: str
    sha256: str
    archive: str  # the archive's base URL (Debian's or its security archive)


def upstream_version(debian_version: str) -> str:
    """WordPress's own version in a Debian version: 6.1.9+dfsg1-0+deb12u1 -> 6.1.9."""
    found = _VERSION.match(debian_version.split(":", 1)[-1])
    if found is None:
        raise LabError(f"{debian_version!r} does not start with a WordPress version")
    return found.group(0)


def signed_sha256(release_text: str) -> dict[str, str]:
    """path -> SHA-256 of the ``SHA256:`` section of a (verified) Release file."""
    out: dict[str, str] = {}
    section = False
    for line in release_text.splitlines():
        if not line.startswith(" "):
            section = line.strip() == "SHA256:"
            continue
        if section:
            digest, _size, path = line.split()
            out[path] = digest
    return out


def parse_packages(text: str, wanted: Iterable[str], archive: str) -> list[DebianPackage]:
    """The stanzas of ``wanted`` packages in a Packages index."""
    names = set(wanted)
    out = []
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                      if ": " in line and not line.startswith(" "))
        if fields.get("Package") in names:
            out.append(DebianPackage(fields["Package"], fields["Version"], fields["Filename"],
                                     fields["SHA256"], archive))
    return out


def newest(packages: Iterable[DebianPackage]) -> dict[str, DebianPackage]:
    """The newest version of each package, by Debian's rules (dpkg --compare-versions)."""
    best: dict[str, DebianPackage] = {}
    for package in packages:
        now = best.get(package.name)
        if now is None or subprocess.run(
                ["dpkg", "--compare-versions", package.version, "gt", now.version],
                check=False).returncode == 0:
            best[package.name] = package
    return best


def _get(url: str, proxy: str | None) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(
        {"http": proxy} if proxy else {}))
    try:
        with opener.open(url, timeout=TIMEOUT_S) as answer:
            return bytes(answer.read())
    except OSError as exc:
        raise LabError(f"{url} could not be fetched (proxy: {proxy or 'none'}): {exc}") from None


def _verified_release(archive: str, suite: str, proxy: str | None, work: Path) -> str:
    signed = work / f"{suite}.InRelease"
    signed.write_bytes(_get(f"{archive}/dists/{suite}/InRelease", proxy))
    plain = work / f"{suite}.Release"
    done = subprocess.run([program("gpgv"), "--keyring", KEYRING, "--output", str(plain),
                           str(signed)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"{archive}/dists/{suite}/InRelease is not signed by Debian's archive"
                       f" keys ({KEYRING}):\n{done.stderr.strip()}")
    return plain.read_text()


def _index(archive: str, suite: str, proxy: str | None, work: Path) -> str:
    digest = signed_sha256(_verified_release(archive, suite, proxy, work)).get(INDEX, "")
    data = _get(f"{archive}/dists/{suite}/{INDEX}", proxy)
    if hashlib.sha256(data).hexdigest() != digest:
        raise LabError(f"{archive}/dists/{suite}/{INDEX} does not match its signed SHA-256")
    return lzma.decompress(data).decode("utf-8", "replace")


def fetch_debs(release: Release, proxy: str | None, work: Path,
               notes: list[str]) -> list[Path]:
    """The .deb files of ``release``'s newest WordPress, its theme and what it links to,
    each checked against the signed indexes; in ``work``. The security archive is read
    when its index verifies (a mirror caught mid-update may serve an older one than its
    signed Release names: then the release's own suite alone, said in ``notes``)."""
    wanted = ("wordpress", release.wordpress_theme, *LINKED_PACKAGES)
    found = parse_packages(_index(DEBIAN, release.codename, proxy, work), wanted, DEBIAN)
    try:
        found += parse_packages(_index(SECURITY, release.security_suite, proxy, work), wanted,
                                SECURITY)
    except LabError as exc:
        notes.append(f"{release.security_suite} left out: {exc}")
    chosen = newest(found)
    missing = sorted(set(wanted) - set(chosen))
    if missing:
        raise LabError(f"Debian {release.codename} has no {', '.join(missing)}")
    paths = []
    for package in chosen.values():
        data = _get(f"{package.archive}/{package.filename}", proxy)
        if hashlib.sha256(data).hexdigest() != package.sha256:
            raise LabError(f"{package.filename} does not match the SHA-256 of its index")
        path = work / PurePosixPath(package.filename).name
        path.write_bytes(data)
        paths.append(path)
    return paths


def _inside(root: Path, link: Path, hops: int = 10) -> Path | None:
    """What ``link`` (under ``root``, an unpacked file system) points to in ``root``'s
    /usr/share, links followed there; None when it leaves it (/etc) or reaches nothing."""
    path = link
    for _ in range(hops):
        target = os.readlink(path)
        where = root / target.lstrip("/") if target.startswith("/") else path.parent / target
        path = Path(os.path.normpath(where))
        if not path.is_relative_to(root / "usr" / "share"):
            return None
        if not path.is_symlink():
            return path if path.is_file() else None
    return None


def assemble(debs: Iterable[Path], work: Path) -> tuple[str, Path]:
    """WordPress's version and its whole tree, from Debian's packages unpacked in ``work``."""
    root = work / "unpacked"
    root.mkdir()
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True,
                       capture_output=True)
    tree = root / WORDPRESS_ROOT
    (tree / "wp-config.php").unlink(missing_ok=True)
    for link in sorted(p for p in tree.rglob("*") if p.is_symlink()):
        target = _inside(root, link)
        link.unlink()
        if target is not None:
            shutil.copyfile(target, link)
    text = (tree / "wp-includes" / "version.php").read_text()
    found = re.search(r"^\$wp_version = '([^']+)';", text, re.MULTILINE)
    if found is None or not _VERSION.fullmatch(found.group(1)):
        raise LabError("Debian's wp-includes/version.php names no WordPress version")
    return found.group(1), tree


def release_archive(tree: Path) -> bytes:
    """``tree`` as upstream packs a release: wordpress/..., the same bytes on every build."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in [tree, *sorted(tree.rglob("*"))]:
            info = archive.gettarinfo(str(path), "wordpress/" + str(path.relative_to(tree))
                                      if path != tree else "wordpress")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = _ARCHIVE_TIME
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isfile():
                with path.open("rb") as data:
                    archive.addfile(info, data)
            else:
                archive.addfile(info)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as packed:
        packed.write(raw.getvalue())
    return out.getvalue()


def ensure_wordpress(folder: Path, proxy: str | None,
                     releases: Iterable[Release] = RELEASES.values()) -> list[str]:
    """The lab's WordPress source in ``folder``: built once (a few MB through the apt
    proxy), kept afterwards; remove ``folder`` to build it again from Debian's newest."""
    if (folder / "releases.json").is_file():
        return []
    archives = {}
    notes: list[str] = []
    for release in releases:
        with tempfile.TemporaryDirectory(prefix="koumbit-wordpress-") as scratch:
            work = Path(scratch)
            version, tree = assemble(fetch_debs(release, proxy, work, notes), work)
            archives[version] = release_archive(tree)
    written = publish(folder, archives)
    return [*notes, f"{folder}: WordPress {', '.join(sorted(archives, key=version_key))} built from"
            f" Debian's packages ({len(written)} files)"]
