"""Composer's order of versions and its simple constraints, to say without composer which
locked versions an advisory affects.

Covers what the PHP Security Advisories Database and composer locks use: versions like
``v6.4.4``, ``7.8.1``, ``2.0.0-rc10``, ``2.3.2-p2``; constraints ``<``, ``<=``, ``>``,
``>=``, ``=``, ``==``, ``!=``, joined by ``,`` (and) and ``|`` (or). As composer's
VersionParser does, a stable version after ``<`` or ``>=`` means its ``-dev`` (so
``>=2.0.0`` takes 2.0.0-beta1 in and ``<2.0.19`` leaves 2.0.19-RC1 out). A version composer
cannot order against numbers (a branch such as ``dev-main``) matches no constraint, as in
composer. The real check on the servers is composer's own (``composer audit``);
tests compare both on real locks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Composer's stabilities in their order; "patch" (p, pl) sorts after the stable release.
_RANK = {"dev": 0, "alpha": 1, "a": 1, "beta": 2, "b": 2, "rc": 3, "stable": 4, "patch": 5,
         "pl": 5, "p": 5}
_VERSION = re.compile(
    r"v?(\d{1,5})(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:[._-]?(stable|beta|b|rc|alpha|a|patch|pl|p)((?:[.-]?\d+)*))?([.-]?dev)?",
    re.IGNORECASE)
_CONSTRAINT = re.compile(r"(<=|>=|<|>|==|=|!=)?\s*(\S+)")

VersionKey = tuple[tuple[int, int, int, int], int, tuple[int, ...], int]


class ConstraintError(ValueError):
    """A constraint this module does not read (composer may still read it)."""


def version_key(version: str) -> VersionKey | None:
    """A sort key ordering versions as composer does; None for a branch or a date version.

    >>> version_key("v6.4.4") < version_key("6.4.14")
    True
    """
    text = version.strip()
    if text.lower().startswith("dev-"):
        return None
    m = _VERSION.fullmatch(text)
    if m is None:
        return None
    nums = tuple(int(g) if g else 0 for g in m.group(1, 2, 3, 4))
    stability, digits, dev = m.group(5), m.group(6) or "", m.group(7)
    if stability is None:
        rank = 0 if dev else _RANK["stable"]
        # "1.2-dev" is the development of 1.2, before its alpha.
        return ((nums[0], nums[1], nums[2], nums[3]), rank, (), 1)
    sub = tuple(int(n) for n in re.findall(r"\d+", digits))
    return ((nums[0], nums[1], nums[2], nums[3]), _RANK[stability.lower()], sub,
            0 if dev else 1)


def _bound(op: str, text: str) -> tuple[str, VersionKey]:
    key = version_key(text)
    if key is None:
        raise ConstraintError(f"'{text}' is not a version this check orders")
    # composer: a stable version after < or >= stands for its -dev (see the module).
    if op in ("<", ">=") and key[1] == _RANK["stable"]:
        key = (key[0], _RANK["dev"], (), 1)
    return op, key


def parse_constraint(text: str) -> list[list[tuple[str, VersionKey]]]:
    """``a,b|c`` as alternatives (or) of conditions (and); ConstraintError if unreadable."""
    alternatives = []
    for part in re.split(r"\s*\|\|?\s*", text.strip()):
        conditions = []
        # ">= 2.0" is one condition; "a b" and "a,b" are two.
        glued = re.sub(r"(<=|>=|<|>|==|=|!=)\s+", r"\1", part.strip())
        for piece in re.split(r"\s*,\s*|\s+", glued):
            m = _CONSTRAINT.fullmatch(piece)
            if m is None or not piece:
                raise ConstraintError(f"'{text}': cannot read '{piece}'")
            conditions.append(_bound(m.group(1) or "=", m.group(2)))
        alternatives.append(conditions)
    return alternatives


def _holds(key: VersionKey, op: str, bound: VersionKey) -> bool:
    return {"<": key < bound, "<=": key <= bound, ">": key > bound, ">=": key >= bound,
            "=": key == bound, "==": key == bound, "!=": key != bound}[op]


def satisfies(version: str, constraint: str) -> bool:
    """Whether ``version`` satisfies ``constraint`` (False for a branch such as dev-main)."""
    key = version_key(version)
    if key is None:
        return False
    return any(all(_holds(key, op, bound) for op, bound in conditions)
               for conditions in parse_constraint(constraint))


def affected(version: str, branches: Iterable[Iterable[str]]) -> bool:
    """Whether ``version`` meets every constraint of at least one branch."""
    return satisfies(version, "|".join(",".join(b) for b in branches))
