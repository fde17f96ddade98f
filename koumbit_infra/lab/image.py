"""The base images: a minbase of each Debian release, bootstrapped once, copied for each server.

One base per release (``paths.base_dir(debian)``); a server boots a copy of its
release's base. Debian 12's recipe, paths and sources are those of the lab
before it knew other releases, so an existing bookworm base stays valid.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.hosttools import program
from koumbit_infra.lab.mirror import HostMirrors
from koumbit_infra.lab.model import Progress
from koumbit_infra.lab.network import APT_PROXY_URL
from koumbit_infra.lab.paths import LabPaths
from koumbit_infra.lab.procs import run, tail_lines
from koumbit_infra.releases import Release

# The name every lab server's apt asks for; apt-cacher-ng maps it to the host's mirror.
ARCHIVE_URL = "http://deb.debian.org/debian"
SECURITY_URL = "http://deb.debian.org/debian-security"
# iproute2 is not in minbase but every real server has it, and debugging
# networking inside a container without `ip` is miserable.
BASE_PACKAGES = (
    "openssh-server", "python3", "systemd", "systemd-sysv", "dbus", "ca-certificates", "iproute2",
)
# Bump when prepare_base() or the package list changes: the base is rebuilt.
RECIPE_VERSION = 1
BOOTSTRAP_TIMEOUT_S = 1800
# Phase lines ("I: Unpacking the base system...") are shown; the hundreds of
# per-package lines ("I: Extracting libc6...") only go to the log.
_PHASE = re.compile(r"^(I: \S+ \S+ .*(\.\.\.|successfully\.)|[EW]: .*)$")


def recipe(release: Release) -> str:
    return f"v{RECIPE_VERSION} {release.codename} minbase {','.join(BASE_PACKAGES)}\n"


def debootstrap_argv(target: Path, mirror: str, release: Release) -> list[str]:
    return [
        "debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
        release.codename, str(target), mirror,
    ]


def render_sources(release: Release) -> str:
    """The servers' apt sources (deb822), named as apt-cacher-ng knows them."""
    stanzas = [(ARCHIVE_URL, " ".join(release.suites)), (SECURITY_URL, release.security_suite)]
    return "\n".join(
        f"Types: deb\nURIs: {uri}\nSuites: {suites}\nComponents: main\n"
        f"Signed-By: {release.archive_keyring}\n"
        for uri, suites in stanzas
    )


def render_apt_proxy() -> str:
    return (
        "// Written by koumbit-infra lab: lab servers have no route out; apt goes\n"
        "// through the host's apt-cacher-ng on the lab bridge.\n"
        f'Acquire::http::Proxy "{APT_PROXY_URL}";\n'
    )


def base_ready(paths: LabPaths, release: Release) -> bool:
    marker = paths.base_marker(release.debian)
    return (paths.base_dir(release.debian).is_dir() and marker.is_file()
            and marker.read_text() == recipe(release))


def proxy_serves_archive(release: Release) -> bool:
    """Whether the apt proxy answers for the release's archive (then debootstrap uses it)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": APT_PROXY_URL}))
    try:
        with opener.open(f"{ARCHIVE_URL}/dists/{release.codename}/InRelease",
                         timeout=30) as answer:
            return bool(answer.status == 200 and answer.read(64))
    except OSError:
        return False


def ensure_base(
    paths: LabPaths, mirrors: HostMirrors, progress: Progress, release: Release
) -> str | None:
    """Bootstrap the release's base once; a half-built or outdated base is rebuilt."""
    if base_ready(paths, release):
        return None
    debian, suite = release.debian, release.codename
    partial = paths.base_partial(debian)
    if partial.exists():
        shutil.rmtree(partial)
    if proxy_serves_archive(release):
        mirror, env = ARCHIVE_URL, {"http_proxy": APT_PROXY_URL}
        progress(f"bootstrapping Debian {suite} through the apt proxy (about a minute)")
    else:
        mirror, env = mirrors.debian, {}
        progress(f"the apt proxy does not answer; bootstrapping straight from {mirror}")
    _debootstrap(partial, mirror, env, paths.base_log(debian), progress, release=release)
    prepare_base(partial, release)
    paths.base_marker(debian).unlink(missing_ok=True)
    if paths.base_dir(debian).exists():
        shutil.rmtree(paths.base_dir(debian))
    partial.rename(paths.base_dir(debian))
    paths.base_marker(debian).write_text(recipe(release))
    return f"bootstrapped the Debian {suite} base image"


def _debootstrap(
    target: Path, mirror: str, env: dict[str, str], log_path: Path, progress: Progress, *,
    release: Release,
) -> None:
    argv = debootstrap_argv(target, mirror, release)
    argv[0] = program("debootstrap")
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL, env={**os.environ, **env},
        )
        watchdog = threading.Timer(BOOTSTRAP_TIMEOUT_S, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if _PHASE.match(line.rstrip()):
                    progress(f"debootstrap: {line.rstrip()[3:]}")
        finally:
            watchdog.cancel()
            proc.wait()
    if proc.returncode != 0:
        detail = tail_lines(log_path.read_text(errors="replace"), 20)
        raise LabError(
            f"debootstrap failed (exit {proc.returncode}); full log in {log_path}:\n{detail}"
        )


def prepare_base(root: Path, release: Release) -> None:
    """Strip what must be unique per server and set what every server shares."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # Empty, so a copy that is not provisioned never shares an identity.
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    dbus_id.unlink(missing_ok=True)
    dbus_id.parent.mkdir(parents=True, exist_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    (root / "etc/hostname").unlink(missing_ok=True)
    # No DNS in the lab: without nameserver lines lookups fail at once
    # instead of timing out on a resolver the containers cannot reach.
    resolv = root / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.write_text("# lab servers have no DNS; apt goes through the host's proxy\n")
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(render_sources(release))
    (root / "etc/apt/apt.conf.d/01koumbit-lab-proxy").write_text(render_apt_proxy())
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    run([program("systemctl"), f"--root={root}", "enable", "systemd-networkd"],
        what="enabling systemd-networkd in the base image")
