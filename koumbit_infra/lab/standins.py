"""The lab's composer packages: stand-ins for Drupal's, built from the sources kept in
``codebases/composer`` (their README says what they stand in for and what they prove).

They carry the real packages' names, so the code that production runs (``koumbit-site-code``:
``composer create-project drupal/recommended-project``, ``composer require
drupal/core-recommended:VERSION``, ``vendor/bin/drush``) runs unchanged in the lab; only
settings.codebases.composer_repositories names the lab host instead of packagist. Each dist
is a zip made the same way every time (sorted, one date), so its checksum is stable.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from koumbit_infra.lab.paths import CODEBASES

SOURCES = CODEBASES / "composer"
# The two Drupal releases whose real composer.lock the advisory tests read
# (../shared/data/drupal-composer-locks): the lab's sites go from one to the other.
DRUPAL_VERSIONS = ("10.2.4", "10.6.15")
DRUSH_VERSIONS = ("12.5.3",)
VERSION_MARK = "@VERSION@"
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
LICENSE = ("GPL-2.0-or-later",)


@dataclass(frozen=True)
class StandIn:
    """One stand-in package: its name, versions, type, files and requirements.

    ``files`` maps a path in the dist to a source file under ``codebases/``;
    ``@VERSION@`` in a source or a requirement becomes the version built.
    """

    name: str
    versions: tuple[str, ...]
    type: str
    description: str
    files: Mapping[str, str] = field(default_factory=dict)
    require: Mapping[str, str] = field(default_factory=dict)
    bin: tuple[str, ...] = ()

    def metadata(self, version: str) -> dict[str, Any]:
        """What composer reads of this version (packages.json), without its dist."""
        data: dict[str, Any] = {
            "name": self.name, "version": version, "type": self.type,
            "description": self.description, "license": list(LICENSE),
            "require": {k: v.replace(VERSION_MARK, version) for k, v in self.require.items()},
        }
        if self.bin:
            data["bin"] = list(self.bin)
        return data

    def dist(self, version: str) -> bytes | None:
        """The zip composer downloads for ``version`` (none for a metapackage)."""
        if self.type == "metapackage":
            return None
        entries = {"composer.json": json.dumps(
            {k: v for k, v in self.metadata(version).items() if k != "version"},
            indent=4, sort_keys=True) + "\n"}
        for dest, source in self.files.items():
            entries[dest] = (CODEBASES / source).read_text().replace(VERSION_MARK, version)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for dest in sorted(entries):
                info = zipfile.ZipInfo(dest, _ZIP_TIME)
                info.external_attr = (0o755 if dest in self.bin else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, entries[dest])
        return out.getvalue()


STANDINS = (
    StandIn("drupal/core", DRUPAL_VERSIONS, "library",
            "koumbit-infra lab stand-in for Drupal core: its version, nothing of Drupal",
            files={"lib/Drupal.php": "composer/drupal-core/lib/Drupal.php",
                   "STANDIN.txt": "composer/drupal-core/STANDIN.txt"}),
    StandIn("drupal/core-recommended", DRUPAL_VERSIONS, "metapackage",
            "koumbit-infra lab stand-in for drupal/core-recommended",
            require={"drupal/core": VERSION_MARK}),
    StandIn("drupal/recommended-project", DRUPAL_VERSIONS, "project",
            "koumbit-infra lab stand-in for Drupal's project template: the lab's wiring"
            " check as web/index.php",
            files={"web/index.php": "drupal-wiring/index.php"},
            require={"drupal/core-recommended": "^10"}),
    StandIn("drush/drush", DRUSH_VERSIONS, "library",
            "koumbit-infra lab stand-in for drush: status, site:install, updatedb,"
            " cache:rebuild and cron on the site's database",
            files={"drush": "composer/drush/drush"}, bin=("drush",)),
)

ADVISORIES_PATH = "api/security-advisories/"


def dist_path(name: str, version: str) -> str:
    """Where a dist is, under the repository's folder."""
    return f"dists/{name}/{version}.zip"


def build_repository(folder: Path, base_url: str) -> bool:
    """A composer (v2) repository under ``folder``, served at ``base_url``: packages.json,
    one metadata file per package (p2/NAME.json) and every dist; True when a file changed.

    composer reads ``security-advisories`` only from a v2 repository (one with a
    ``metadata-url``); ``metadata: false`` makes it POST every locked package's name to
    the API. ``available-packages``: composer asks this repository for these names only.
    """
    changed = False
    for standin in STANDINS:
        versions = []
        for version in standin.versions:
            meta = standin.metadata(version)
            data = standin.dist(version)
            if data is not None:
                path = dist_path(standin.name, version)
                changed |= _write(folder / path, data)
                meta["dist"] = {"type": "zip", "url": f"{base_url}/{path}",
                                "shasum": hashlib.sha1(data).hexdigest()}  # noqa: S324 (composer's)
            versions.append(meta)
        text = json.dumps({"packages": {standin.name: versions}}, indent=2, sort_keys=True)
        changed |= _write(folder / "p2" / f"{standin.name}.json", text.encode() + b"\n")
    index = {"packages": {}, "metadata-url": f"{base_url}/p2/%package%.json",
             "available-packages": sorted(s.name for s in STANDINS),
             "security-advisories": {"metadata": False,
                                     "api-url": f"{base_url}/{ADVISORIES_PATH}"}}
    text = json.dumps(index, indent=2, sort_keys=True) + "\n"
    return _write(folder / "packages.json", text.encode()) or changed


def _write(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".new")
    partial.write_bytes(data)
    partial.chmod(0o644)
    partial.replace(path)
    return True
