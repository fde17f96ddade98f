"""The PHP Security Advisories Database (FriendsOfPHP/security-advisories), read in place.

One YAML file per advisory under ``<vendor>/<package>/``: ``title``, ``link``, ``cve``,
``reference: composer://<vendor>/<package>`` and ``branches: {name: {time, versions}}``.
A version is affected when it meets every constraint of one branch. The data is public
domain and is never copied into this repository: it is read from
``../shared/data/php-security-advisories`` beside the checkout (where CI has it), or from
the folder given. It carries no severity (see ``severity``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import yaml

from koumbit_infra.advisories import versions
from koumbit_infra.errors import KoumbitError

# shared/data sits beside the checkout (the repository's parent holds both).
DEFAULT_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "php-security-advisories"
SOURCE_NAME = "FriendsOfPHP/security-advisories"
# Composer needs a report date; an advisory whose file gives none gets this one, which
# reads as "unknown" rather than as a plausible day.
UNKNOWN_DATE = datetime(1970, 1, 1, tzinfo=UTC)
# composer's rule for a package name (its ValidatingArrayLoader), lowercase as composer sends.
PACKAGE_NAME = re.compile(r"[a-z0-9]([_.-]?[a-z0-9]+)*/[a-z0-9](([_.]|-{1,2})?[a-z0-9]+)*")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DATED_FILE = re.compile(r"(\d{4}-\d{2}-\d{2})")


class AdvisoryDataError(KoumbitError):
    """The advisory data is missing or a file of it cannot be read."""


@dataclass(frozen=True)
class Advisory:
    """One advisory for one package, as the data says it."""

    remote_id: str            # its file, relative to the data's root
    package: str
    title: str
    link: str | None
    cve: str | None
    branches: tuple[tuple[str, ...], ...]
    reported_at: datetime

    @property
    def advisory_id(self) -> str:
        """Stable and readable: its file without ``.yaml`` (packagist would give a PKSA id)."""
        return self.remote_id.removesuffix(".yaml")

    @property
    def affected_versions(self) -> str:
        """Composer's constraint: each branch's constraints joined by ``,``, branches by ``|``."""
        return "|".join(",".join(b) for b in self.branches)

    def affects(self, version: str) -> bool:
        return versions.affected(version, self.branches)


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            found = datetime.fromisoformat(value.strip().replace(" ", "T"))
        except ValueError:
            return None
        return found if found.tzinfo else found.replace(tzinfo=UTC)
    return None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse(text: str, remote_id: str) -> Advisory:
    """One advisory file; AdvisoryDataError naming the file if it is not one."""
    try:
        # the C loader when built (1,592 files load in about half a second), safe either way
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise AdvisoryDataError(f"{remote_id}: not YAML: {exc}", 1) from None
    reference = data.get("reference") if isinstance(data, dict) else None
    title = _text(data.get("title")) if isinstance(data, dict) else None
    raw = data.get("branches") if isinstance(data, dict) else None
    if not (isinstance(reference, str) and reference.startswith("composer://") and title
            and isinstance(raw, dict) and raw):
        raise AdvisoryDataError(f"{remote_id}: not an advisory (needs title, reference"
                                " composer://..., branches)", 1)
    branches, times = [], []
    for name, branch in raw.items():
        got = branch.get("versions") if isinstance(branch, dict) else None
        if not (isinstance(got, list) and got and all(isinstance(v, str) for v in got)):
            raise AdvisoryDataError(f"{remote_id}: branch {name}: versions must be a list", 1)
        branches.append(tuple(v.strip() for v in got))
        when = _when(branch.get("time"))
        if when is not None:
            times.append(when)
    dated = _DATED_FILE.search(remote_id.rsplit("/", 1)[-1])
    if not times and dated:
        times.append(_when(dated.group(1)) or UNKNOWN_DATE)
    return Advisory(remote_id=remote_id, package=reference.removeprefix("composer://").lower(),
                    title=title, link=_text(data.get("link")), cve=_text(data.get("cve")),
                    branches=tuple(branches), reported_at=min(times, default=UNKNOWN_DATE))


@cache
def _load(root: Path) -> dict[str, tuple[Advisory, ...]]:
    if not root.is_dir():
        raise AdvisoryDataError(
            f"{root}: no PHP Security Advisories Database here; it is read in place from"
            " shared/data beside the checkout (see the README, Advisories)", 2)
    by_package: dict[str, list[Advisory]] = {}
    for path in sorted(root.glob("*/*/*.yaml")):
        if path.is_symlink() or not path.is_file():
            continue
        advisory = parse(path.read_text(encoding="utf-8"), path.relative_to(root).as_posix())
        by_package.setdefault(advisory.package, []).append(advisory)
    return {name: tuple(found) for name, found in by_package.items()}


def advisories(root: Path | None = None) -> dict[str, tuple[Advisory, ...]]:
    """Every advisory of the data, by package name (read once per process)."""
    return _load((root or DEFAULT_ROOT).resolve())


def of_package(name: str, root: Path | None = None) -> tuple[Advisory, ...]:
    """The advisories of one package; none for a name composer would refuse."""
    key = name.strip().lower()
    if not PACKAGE_NAME.fullmatch(key):
        return ()
    return advisories(root).get(key, ())
