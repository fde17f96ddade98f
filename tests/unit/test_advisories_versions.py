"""Composer's version order and constraints as koumbit_infra.advisories.versions reads them
(composer's own answer on real locks is in test_advisories_composer)."""

from __future__ import annotations

import pytest

from koumbit_infra.advisories.versions import ConstraintError, affected, satisfies, version_key


@pytest.mark.parametrize(("low", "high"), [
    ("1.0.0-dev", "1.0.0-alpha1"), ("1.0.0-alpha1", "1.0.0-beta1"), ("1.0.0-beta2", "1.0.0-RC1"),
    ("1.0.0-RC1", "1.0.0-RC10"), ("1.0.0-RC10", "1.0.0"), ("1.0.0", "1.0.0-p1"),
    ("v6.4.4", "6.4.14"), ("2.3.2-p1", "2.3.2-p2"), ("1.2", "1.2.0.1"),
])
def test_versions_sort_as_composer_sorts_them(low: str, high: str) -> None:
    a, b = version_key(low), version_key(high)
    assert a is not None and b is not None
    assert a < b


def test_a_stable_bound_after_less_than_or_at_least_stands_for_its_dev() -> None:
    assert satisfies("2.0.0-beta1", ">=2.0.0,<2.0.19")      # composer: >= 2.0.0.0-dev
    assert not satisfies("2.0.19-RC1", ">=2.0.0,<2.0.19")   # composer: < 2.0.19.0-dev
    assert satisfies("2.0.19-RC1", ">=2.0.0,<=2.0.19")
    assert not satisfies("2.0.19", ">=2.0.0,<2.0.19")


def test_branches_are_alternatives_and_their_constraints_all_hold() -> None:
    branches = [[">=2.0.0", "<2.0.19"], [">=2.1.0", "<2.1.4"]]
    assert affected("2.1.3", branches) and affected("v2.0.5", branches)
    assert not affected("2.0.19", branches) and not affected("2.2.0", branches)


def test_a_branch_version_matches_no_numbered_constraint() -> None:
    assert not satisfies("dev-main", "<99")
    assert version_key("dev-main") is None


def test_spaces_and_double_bars_read_as_composer_reads_them() -> None:
    assert satisfies("1.5", ">= 1.0 <2.0 || >=3.0")
    assert not satisfies("2.5", ">= 1.0 <2.0 || >=3.0")


def test_an_unreadable_constraint_is_an_error_not_a_silent_no() -> None:
    with pytest.raises(ConstraintError):
        satisfies("1.0", ">=banana")
