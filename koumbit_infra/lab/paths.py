"""Where the lab keeps its state on the host.

The state root is, first found wins:
1. the ``KOUMBIT_LAB_ROOT`` environment variable (an absolute path);
2. ``/var/lib/koumbit-lab``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from koumbit_infra.lab.errors import LabError
from koumbit_infra.releases import Debian

DEFAULT_ROOT = Path("/var/lib/koumbit-lab")
ROOT_ENV = "KOUMBIT_LAB_ROOT"

# Codebases the lab's sites get where production downloads a release (the lab
# reaches no archive but Debian's); shipped inside the package, beside this file.
CODEBASES = Path(__file__).parent / "codebases"
DRUPAL_WIRING = CODEBASES / "drupal-wiring"


@dataclass(frozen=True)
class LabPaths:
    """Every path the lab reads or writes, derived from one state root."""

    root: Path

    def base_dir(self, debian: Debian) -> Path:
        """A release's minbase root file system, bootstrapped once and copied per server.

        Debian 12's keeps the name it had before the lab knew other releases
        (``base``), so an existing lab keeps its cached base.
        """
        name = "base" if debian is Debian.BOOKWORM else f"base-{debian.name.lower()}"
        return self.root / name

    def base_marker(self, debian: Debian) -> Path:
        """Written last when the base is complete; holds the recipe it was built from."""
        return self.base_dir(debian).with_name(self.base_dir(debian).name + ".ready")

    def base_log(self, debian: Debian) -> Path:
        return self.base_dir(debian).with_name(self.base_dir(debian).name + ".log")

    def base_partial(self, debian: Debian) -> Path:
        """Where a base is bootstrapped before it is complete (then renamed)."""
        return self.base_dir(debian).with_name(self.base_dir(debian).name + ".partial")

    @property
    def machines_dir(self) -> Path:
        return self.root / "machines"

    def machine_dir(self, name: str) -> Path:
        return self.machines_dir / name

    def machine_marker(self, name: str) -> Path:
        """Written last when a server's disk is provisioned; without it the disk is rebuilt."""
        return self.machines_dir / f"{name}.ready"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    @property
    def lock_file(self) -> Path:
        return self.root / "lock"

    @property
    def console_dir(self) -> Path:
        return self.root / "console"

    def console_log(self, name: str) -> Path:
        return self.console_dir / f"{name}.log"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def ssh_key(self) -> Path:
        """Private ed25519 key that logs in as root on every lab server."""
        return self.ssh_dir / "id_ed25519"

    @property
    def ssh_public_key(self) -> Path:
        return self.ssh_dir / "id_ed25519.pub"

    @property
    def known_hosts(self) -> Path:
        """Host keys of every lab server, keyed by address, for StrictHostKeyChecking=yes."""
        return self.ssh_dir / "known_hosts"

    @property
    def apt_cache_dir(self) -> Path:
        """apt-cacher-ng's package cache: kept by destroy, removed only by purge."""
        return self.root / "apt-cache"

    @property
    def pebble_dir(self) -> Path:
        """The lab's ACME server: Pebble's API certificate, configuration, pid files, logs,
        and ``trust.pem`` (the lab inventory's acme_ca_bundle)."""
        return self.root / "pebble"

    @property
    def sources_dir(self) -> Path:
        """The lab's code sources (koumbit_infra/lab/sources.py): their certificate, pid
        file, log, and what they serve (www/: composer/, wordpress/)."""
        return self.root / "sources"

    @property
    def apt_proxy_dir(self) -> Path:
        """apt-cacher-ng's configuration, logs and pid file (a lab-owned instance)."""
        return self.root / "apt-cacher-ng"


def lab_paths() -> LabPaths:
    """The lab's paths, honouring ``KOUMBIT_LAB_ROOT``."""
    raw = os.environ.get(ROOT_ENV) or str(DEFAULT_ROOT)
    root = Path(raw)
    # The root is removed wholesale by `destroy --purge`: refuse anything that
    # could be a system directory.
    if not root.is_absolute() or len(root.parts) < 3:
        raise LabError(
            f"{ROOT_ENV}={raw!r} must be an absolute path at least two levels deep "
            f"(default {DEFAULT_ROOT})"
        )
    return LabPaths(Path(os.path.normpath(root)))
