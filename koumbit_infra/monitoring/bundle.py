"""The exporter as one tarball for the servers: its code and the libraries it runs with.

The servers reach Debian's archive only, and Debian 12 has neither pydantic 2
(config.py validates with it) nor a prometheus_client recent enough (0.16,
exposition.py needs 0.20+). So the deploy ships, beside koumbit_infra's
``__init__.py`` and ``exporter/`` tree, the very library versions the unit
tests run against, taken from the admin's virtualenv (CPython 3.11, as
Debian 12's python3). Everything else of koumbit_infra (click, yaml, the
inventory) stays behind.

The archive is byte-for-byte the same on every run for the same sources
(sorted entries, fixed owner, modes and times, gzip without a timestamp),
so uploading it is a no-op until the code or a library changes.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import koumbit_infra

INSTALL_DIR = "/opt/koumbit-exporter"
LAUNCHER = f"{INSTALL_DIR}/bin/koumbit-exporter"
LIB_DIR = f"{INSTALL_DIR}/lib"

# Debian 12's python3: pydantic_core's compiled module must be built for it.
TARGET_PYTHON = (3, 11)

# What `python3 -m koumbit_infra.exporter` imports beyond the standard library
# (tests/unit/test_prometheus_bundle.py proves the list complete).
LIBRARIES = ("prometheus_client", "pydantic", "pydantic_core", "annotated_types",
             "typing_inspection", "typing_extensions")

# -I -S: neither the environment nor Debian's dist-packages can shadow the
# shipped libraries (Debian's python3-pydantic is version 1).
_LAUNCHER_TEXT = f"""\
#!/usr/bin/python3 -IS
# Installed by koumbit-infra (koumbit_infra/monitoring/bundle.py): the exporter
# runs from {LIB_DIR} only.
import sys

sys.path.insert(0, "{LIB_DIR}")
from koumbit_infra.exporter.__main__ import main

sys.exit(main())
"""
_MTIME = 1_700_000_000  # any fixed time: the archive must not change between runs


def _tree(root: Path, arcbase: str) -> Iterator[tuple[str, Path]]:
    """(name in the archive, file) for every source file under ``root``, sorted."""
    if root.is_file():
        yield arcbase, root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield f"{arcbase}/{path.relative_to(root).as_posix()}", path


def _library_root(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{name} is not installed in this environment")
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def bundle_files() -> list[tuple[str, Path]]:
    """Every file the archive holds under ``lib/``, as (archive name, local file)."""
    package = Path(koumbit_infra.__file__).parent
    files = [("lib/koumbit_infra/__init__.py", package / "__init__.py"),
             *_tree(package / "exporter", "lib/koumbit_infra/exporter")]
    for name in LIBRARIES:
        root = _library_root(name)
        files += _tree(root, f"lib/{root.name}")
    return files


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def bundle_bytes() -> bytes:
    """The gzip'd tar of ``bin/koumbit-exporter`` and ``lib/``; same bytes for same sources.

    RuntimeError, before anything is uploaded, when this environment's Python
    is not the servers' one (its pydantic_core would not load there).
    """
    if sys.version_info[:2] != TARGET_PYTHON:
        raise RuntimeError(
            "the exporter's libraries are shipped from this virtualenv, so it must run"
            f" Python {'.'.join(map(str, TARGET_PYTHON))} like Debian 12's python3"
            f" (this one is {sys.version_info.major}.{sys.version_info.minor})")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        _add(tar, "bin/koumbit-exporter", _LAUNCHER_TEXT.encode(), 0o755)
        for name, path in bundle_files():
            _add(tar, name, path.read_bytes(), 0o644)
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


@cache
def bundle_path() -> str:
    """A local file holding ``bundle_bytes()``, built once per deploy, for files.put."""
    data = bundle_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"koumbit-exporter-{digest}.tar.gz"
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(path)
