"""The host's own Debian mirror, read from its apt sources, feeds the lab's apt proxy."""

from __future__ import annotations

from pathlib import Path

from koumbit_infra.lab.mirror import (
    DEFAULT_DEBIAN,
    DEFAULT_SECURITY,
    HostMirrors,
    Source,
    choose_mirrors,
    host_mirrors,
    parse_deb822,
    parse_one_line,
)

DEBIAN_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
Components: main
"""

NODESOURCE = """\
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
"""


def test_deb822_stanzas_with_comments_and_continuation_lines() -> None:
    assert parse_deb822(DEBIAN_SOURCES) == [
        Source("http://mirror.example.org/debian", ("bookworm", "bookworm-updates")),
        Source("http://security.example.org/debian-security", ("bookworm-security",)),
    ]


def test_disabled_stanzas_are_ignored() -> None:
    assert parse_deb822("Types: deb\nURIs: http://x/debian\nSuites: bookworm\nEnabled: no\n") == []


def test_one_line_sources_with_options() -> None:
    text = (
        "# comment\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n"
        "deb-src http://m.example/debian bookworm main\n"
        "deb http://s.example/debian-security bookworm-security main # trailing\n"
        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n"
    )
    assert parse_one_line(text) == [
        Source("http://m.example/debian", ("bookworm",)),
        Source("http://s.example/debian-security", ("bookworm-security",)),
        Source("https://packages.cloud.google.com/apt", ("cloud-sdk-bookworm",)),
    ]


def test_third_party_repositories_are_not_taken_for_debian() -> None:
    sources = parse_deb822(NODESOURCE) + parse_one_line(
        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")
    assert choose_mirrors(sources) == HostMirrors(DEFAULT_DEBIAN, DEFAULT_SECURITY)


def test_host_mirrors_reads_sources_dir(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEBIAN_SOURCES)
    (tmp_path / "sources.list.d" / "nodesource.sources").write_text(NODESOURCE)
    assert host_mirrors(tmp_path) == HostMirrors(
        "http://mirror.example.org/debian/", "http://security.example.org/debian-security/"
    )


def test_no_sources_falls_back_to_deb_debian_org(tmp_path: Path) -> None:
    assert host_mirrors(tmp_path) == HostMirrors(DEFAULT_DEBIAN, DEFAULT_SECURITY)
