"""The host programs the lab drives, and installing them from Debian when missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.model import Progress
from koumbit_infra.lab.procs import run

# Program (or file) -> the Debian package that provides it.
REQUIRED_PROGRAMS: dict[str, str] = {
    "debootstrap": "debootstrap",
    "gpgv": "gpgv",
    "systemd-nspawn": "systemd-container",
    "systemctl": "systemd",
    "apt-cacher-ng": "apt-cacher-ng",
    "pebble": "pebble",
    "pebble-challtestsrv": "pebble",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
}
REQUIRED_FILES: dict[str, str] = {
    "/usr/share/keyrings/debian-archive-keyring.gpg": "debian-archive-keyring",
}
# Root's PATH is not always complete when run through sudo or a service manager.
_SEARCH_PATH = ":".join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root: it creates a network bridge and boots containers with "
            "systemd-nspawn; run it with sudo"
        )


def program(name: str) -> str:
    """Absolute path of a host program, or a LabError naming the package to install."""
    found = shutil.which(name, path=_SEARCH_PATH)
    if found is None:
        package = REQUIRED_PROGRAMS.get(name, name)
        raise LabError(f"{name} is missing: install the Debian package {package}")
    return found


def missing_packages() -> list[str]:
    missing = {pkg for prog, pkg in REQUIRED_PROGRAMS.items()
               if shutil.which(prog, path=_SEARCH_PATH) is None}
    missing |= {pkg for path, pkg in REQUIRED_FILES.items() if not Path(path).exists()}
    return sorted(missing)


def ensure_host_tools(progress: Progress) -> str | None:
    """Install missing host packages with apt; return what was installed."""
    missing = missing_packages()
    if not missing:
        return None
    if shutil.which("apt-get", path=_SEARCH_PATH) is None:
        raise LabError(f"missing host packages and no apt-get to install them: {' '.join(missing)}")
    progress(f"installing host packages: {' '.join(missing)}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        run(["apt-get", "update"], what="apt-get update", timeout=600, env=env)
    except LabError as exc:
        # A third-party source that cannot be reached fails the update, yet
        # Debian's own lists may be fresh enough: try the install anyway.
        progress(f"warning: {exc.message.splitlines()[0]}; installing anyway")
    try:
        run(["apt-get", "install", "-y", "--no-install-recommends", *missing],
            what="installing host packages", timeout=1200, env=env)
    except LabError as exc:
        raise LabError(
            f"could not install the host packages the lab needs ({' '.join(missing)}); "
            f"install them by hand.\n{exc.message}"
        ) from exc
    still = missing_packages()
    if still:
        raise LabError(f"still missing after apt-get install: {' '.join(still)}")
    return f"installed host packages {' '.join(missing)}"
