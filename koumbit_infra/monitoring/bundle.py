"""The exporter as one tarball for the servers: its code and the one library it runs with.

The servers reach Debian's archive only, and Debian 12's prometheus_client
(0.16) is older than exposition.py needs (0.20+). So the deploy ships, beside
koumbit_infra's ``__init__.py`` and ``exporter/`` tree, the very
prometheus_client the unit tests run against, taken from the admin's
virtualenv. Everything else of koumbit_infra (click, yaml, the inventory)
stays behind; a unit test reads every exporter module's imports to hold it so.

Only pure-Python code is shipped, by choice. The exporter used to validate its
configuration with pydantic, whose core is a compiled module built for one
CPython minor version: the bundle then worked only on a server whose python3
was the admin's (3.11, Debian 12), and Debian 13's python3 is 3.13. Shipping a
build per release would mean a virtualenv per target Python on the admin's
machine, and a server upgraded in place would break until the next deploy.
The configuration is small and fixed, so a standard-library validator
(exporter/validation.py) does the same checks with the same messages, and the
same archive runs on any python3 from 3.11 on (the unit tests run it with the
host's own python3, outside any virtualenv). ``bundle_files`` refuses a
compiled file, so a library that grows one is noticed before it ships.

The archive is byte-for-byte the same on every run for the same sources
(sorted entries, fixed owner, modes and times, gzip without a timestamp),
so uploading it is a no-op until the code or a library changes.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import tarfile
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import koumbit_infra

INSTALL_DIR = "/opt/koumbit-exporter"
LAUNCHER = f"{INSTALL_DIR}/bin/koumbit-exporter"
LIB_DIR = f"{INSTALL_DIR}/lib"

# What `python3 -m koumbit_infra.exporter` imports beyond the standard library
# (tests/unit/test_prometheus_exporter_deploy.py proves the list complete).
LIBRARIES = ("prometheus_client",)

# Files a CPython build compiled: one would tie the bundle to a Python version.
COMPILED = (".so", ".pyd", ".dylib")

# -I -S: neither the environment nor Debian's dist-packages can shadow the
# shipped library (Debian 12's python3-prometheus-client is 0.16).
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
    compiled = [name for name, _path in files if name.endswith(COMPILED)]
    if compiled:
        raise RuntimeError(f"the exporter's bundle must be pure Python: {', '.join(compiled)}"
                           " would only load on one Python version")
    return files


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def bundle_bytes() -> bytes:
    """The gzip'd tar of ``bin/koumbit-exporter`` and ``lib/``; same bytes for same sources."""
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
