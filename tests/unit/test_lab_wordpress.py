"""The lab's WordPress source from Debian's packages: index parsing, links into other
packages replaced by their files (never by anything outside /usr/share), and a release
archive that is the same bytes on every build. Packages are made here with dpkg-deb."""

from __future__ import annotations

import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.wordpress import (
    assemble,
    parse_packages,
    release_archive,
    signed_sha256,
    upstream_version,
)

RELEASE = """Origin: Debian
Codename: bookworm
SHA256:
 1111111111111111111111111111111111111111111111111111111111111111  123 main/binary-amd64/Packages
 2222222222222222222222222222222222222222222222222222222222222222  45 main/binary-amd64/Packages.xz
Acquire-By-Hash: yes
"""
PACKAGES = """Package: wordpress
Version: 6.1.9+dfsg1-0+deb12u1
Filename: pool/main/w/wordpress/wordpress_6.1.9+dfsg1-0+deb12u1_all.deb
SHA256: aaaa
Description: weblog manager
 with a continuation line: Package: not-this

Package: other
Version: 1
Filename: pool/o.deb
SHA256: bbbb
"""


def test_debian_versions_give_wordpress_s_own() -> None:
    assert upstream_version("6.1.9+dfsg1-0+deb12u1") == "6.1.9"
    assert upstream_version("1:6.8.3+dfsg1-1") == "6.8.3"
    with pytest.raises(LabError):
        upstream_version("dfsg")


def test_the_signed_release_gives_each_index_s_checksum() -> None:
    assert signed_sha256(RELEASE)["main/binary-amd64/Packages.xz"] == "2" * 64
    assert "Acquire-By-Hash:" not in " ".join(signed_sha256(RELEASE))


def test_packages_are_found_by_their_own_stanza_only() -> None:
    found = parse_packages(PACKAGES, ["wordpress", "not-this"], "http://deb.debian.org/debian")
    assert [(p.name, p.version, p.sha256) for p in found] == [
        ("wordpress", "6.1.9+dfsg1-0+deb12u1", "aaaa")]


def _deb(tmp: Path, name: str, files: dict[str, str], links: dict[str, str]) -> Path:
    root = tmp / f"{name}-build"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test\n")
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    for path, target in links.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).symlink_to(target)
    out = tmp / f"{name}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)],
                   check=True, capture_output=True)
    return out


def _debs(tmp: Path) -> list[Path]:
    wp = "usr/share/wordpress"
    return [
        _deb(tmp, "wordpress", {
            f"{wp}/index.php": "<?php\n",
            f"{wp}/wp-includes/version.php": "<?php\n$wp_version = '6.1.9';\n",
            f"{wp}/wp-config.php": "<?php // Debian's: reads /etc/wordpress\n",
            "etc/wordpress/htaccess": "# apache\n"}, {
            f"{wp}/wp-includes/ID3/getid3.php": "../../../php/getid3/getid3.php",
            f"{wp}/wp-includes/js/underscore.js": "../../../javascript/underscore/u.js",
            f"{wp}/.htaccess": "/etc/wordpress/htaccess",
            f"{wp}/wp-includes/certificates/ca-bundle.crt": "/etc/ssl/certs/ca.crt",
            f"{wp}/wp-includes/escape.php": "../../../../../../etc/passwd"}),
        _deb(tmp, "php-getid3", {"usr/share/php/getid3/getid3.php": "<?php // getID3\n"}, {}),
        _deb(tmp, "libjs-underscore", {"usr/share/javascript/underscore/u.min.js": "_"},
             {"usr/share/javascript/underscore/u.js": "u.min.js"}),
    ]


def test_links_into_other_packages_become_their_files_and_the_rest_goes(tmp_path: Path) -> None:
    version, tree = assemble(_debs(tmp_path), tmp_path)
    assert version == "6.1.9"
    assert not [p for p in tree.rglob("*") if p.is_symlink()]
    assert (tree / "wp-includes/ID3/getid3.php").read_text() == "<?php // getID3\n"
    assert (tree / "wp-includes/js/underscore.js").read_text() == "_"  # a link to a link
    # Links to /etc (Debian's .htaccess, its CA bundle) or out of the unpacked tree, and
    # Debian's wp-config.php, are left out.
    for gone in (".htaccess", "wp-includes/certificates/ca-bundle.crt",
                 "wp-includes/escape.php", "wp-config.php"):
        assert not (tree / gone).exists(), gone


def test_the_release_archive_is_upstream_s_shape_and_the_same_on_every_build(
        tmp_path: Path) -> None:
    _, tree = assemble(_debs(tmp_path), tmp_path)
    first = release_archive(tree)
    assert release_archive(tree) == first
    with tarfile.open(fileobj=BytesIO(first)) as archive:
        members = archive.getmembers()
    assert all(m.name == "wordpress" or m.name.startswith("wordpress/") for m in members)
    assert all(m.isdir() or m.isfile() for m in members)
    assert {(m.uid, m.gid, m.mode & 0o022) for m in members} == {(0, 0, 0)}
