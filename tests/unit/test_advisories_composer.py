"""Real composer audits real Drupal locks against the advisory API made from the real
PHP Security Advisories Database, and finds exactly what the data holds for the locked
versions (read in place from shared/data beside the checkout; skipped where absent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advisorydata import (
    advisory_root,
    advisory_server,
    composer_audit,
    lock_of,
    locked_versions,
)

from koumbit_infra.advisories.composer_api import advisories_for
from koumbit_infra.advisories.database import of_package

__all__ = ["advisory_root"]  # the fixture, used by name


def _found(audit: dict[str, Any]) -> set[tuple[str, str]]:
    """(package, advisoryId) pairs of composer's JSON (a list, or an object once filtered)."""
    out = set()
    for package, listed in (audit.get("advisories") or {}).items():
        for advisory in listed.values() if isinstance(listed, dict) else listed:
            out.add((package, advisory["advisoryId"]))
    return out


def _expected(lock: Path, root: Path) -> set[tuple[str, str]]:
    answer = advisories_for(locked_versions(lock), root)["advisories"]
    return {(name, a["advisoryId"]) for name, listed in answer.items() for a in listed}


def test_composer_audit_of_drupal_10_2_4_lists_what_the_data_holds(advisory_root: Path) -> None:
    lock = lock_of("10.2.4")
    with advisory_server(advisory_root) as (url, asked):
        status, audit, stderr = composer_audit(lock, url)
    found = _found(audit)
    assert audit.get("advisories"), stderr
    # composer asked once, for every locked package, by name only
    assert [sorted(a) for a in asked] == [sorted(locked_versions(lock))]
    assert found == _expected(lock, advisory_root)
    # The data's own count (its SOURCE.md: 34), computed again here from the YAML files.
    assert len(found) == 34
    assert status != 0  # composer says the lock is vulnerable by its exit status too
    by_package = {p for p, _ in found}
    assert {"twig/twig", "guzzlehttp/guzzle", "symfony/http-foundation"} <= by_package


def test_composer_audit_of_drupal_10_6_15_lists_none(advisory_root: Path) -> None:
    lock = lock_of("10.6.15")
    with advisory_server(advisory_root) as (url, asked):
        status, audit, stderr = composer_audit(lock, url)
    assert asked, "composer never asked the advisory API"
    assert _found(audit) == set() == _expected(lock, advisory_root)
    assert status == 0, stderr
    # Those packages do have advisories, only none for these versions: the API sent them.
    assert any(of_package(name, advisory_root) for name in locked_versions(lock))


def test_every_advisory_is_one_composer_loads_fully(advisory_root: Path) -> None:
    """Composer 2.5 fails an audit on an advisory without title, sources and reportedAt."""
    twig = advisories_for({"twig/twig": []}, advisory_root)["advisories"]["twig/twig"]
    assert len(twig) == len(of_package("twig/twig", advisory_root)) > 15
    for doc in twig:
        assert doc["title"] and doc["reportedAt"] and doc["sources"][0]["remoteId"]
        assert doc["packageName"] == "twig/twig"
        assert doc["severity"] is None  # the data carries none


def test_names_composer_would_refuse_never_reach_the_data(advisory_root: Path) -> None:
    asked = {"../../etc/passwd": [], "twig/../twig": [], "TWIG/Twig": [], "": []}
    answer = advisories_for(asked, advisory_root)["advisories"]
    assert answer["../../etc/passwd"] == answer["twig/../twig"] == answer[""] == []
    assert answer["twig/twig"]  # a name differing only in case is the same package


def test_versions_given_keep_only_the_advisories_affecting_them(advisory_root: Path) -> None:
    every = advisories_for({"twig/twig": []}, advisory_root)["advisories"]["twig/twig"]
    old = advisories_for({"twig/twig": ["v3.8.0"]}, advisory_root)["advisories"]["twig/twig"]
    new = advisories_for({"twig/twig": ["v3.99.0"]}, advisory_root)["advisories"]["twig/twig"]
    assert len(every) > len(old) > len(new)
