"""The lab's apt proxy: a lab-owned apt-cacher-ng on the bridge address.

The lab runs its own instance (configuration, cache and pid file under the
state root) instead of editing the package's ``/etc/apt-cacher-ng``: nothing
of the host's configuration changes, and ``destroy --purge`` can remove the
cache exactly. It listens only on 10.77.0.1:3142, which the host and the
containers reach and nothing else does.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time

from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.hosttools import program
from koumbit_infra.lab.mirror import HostMirrors
from koumbit_infra.lab.network import APT_PROXY_PORT, HOST_ADDRESS
from koumbit_infra.lab.paths import LabPaths
from koumbit_infra.lab.procs import cmdline, end, pid_alive, read_pid

USER = "apt-cacher-ng"
SUPPORT_DIR = "/usr/lib/apt-cacher-ng"
# deb.debian.org/debian-security is what the containers' sources name; the
# others are what debootstrap or older sources.list files may ask for.
_SECURITY_NAMES = (
    "security.debian.org security.debian.org/debian-security "
    "deb.debian.org/debian-security /debian-security"
)


def render_config(paths: LabPaths, mirrors: HostMirrors) -> dict[str, str]:
    """File name -> content of the instance's configuration directory."""
    d = paths.apt_proxy_dir
    conf = (
        "# Written by koumbit-infra lab; rewritten on every `lab up`.\n"
        f"CacheDir: {paths.apt_cache_dir}\n"
        f"LogDir: {d / 'log'}\n"
        f"SupportDir: {SUPPORT_DIR}\n"
        f"Port: {APT_PROXY_PORT}\n"
        f"BindAddress: {HOST_ADDRESS}\n"
        f"PidFile: {d / 'run' / 'pid'}\n"
        f"SocketPath: {d / 'run' / 'socket'}\n"
        "Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian\n"
        f"Remap-secdeb: {_SECURITY_NAMES} ; file:backends_debian_security\n"
        "ExThreshold: 4\n"
    )
    return {
        "acng.conf": conf,
        "backends_debian": mirrors.debian + "\n",
        "backends_debian_security": mirrors.security + "\n",
    }


def _conf_dir(paths: LabPaths) -> str:
    return str(paths.apt_proxy_dir / "conf")


def proxy_pid(paths: LabPaths) -> int | None:
    """Pid of this lab's apt-cacher-ng, if it runs (checked against its command line)."""
    pid = read_pid(paths.apt_proxy_dir / "run" / "pid")
    if pid is None or not pid_alive(pid):
        return None
    argv = cmdline(pid)
    if not argv or not argv[0].endswith("apt-cacher-ng") or _conf_dir(paths) not in argv:
        return None
    return pid


def port_open(timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((str(HOST_ADDRESS), APT_PROXY_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def _write_config(paths: LabPaths, mirrors: HostMirrors) -> bool:
    conf = paths.apt_proxy_dir / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    changed = False
    for name, content in render_config(paths, mirrors).items():
        target = conf / name
        if not target.is_file() or target.read_text() != content:
            target.write_text(content)
            changed = True
    return changed


def _prepare_dirs(paths: LabPaths) -> tuple[int, int]:
    try:
        user = pwd.getpwnam(USER)
    except KeyError as exc:
        raise LabError(f"user {USER} is missing: reinstall the Debian package apt-cacher-ng") \
            from exc
    for directory in (paths.apt_cache_dir, paths.apt_proxy_dir / "log",
                      paths.apt_proxy_dir / "run"):
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, user.pw_uid, user.pw_gid)
    return user.pw_uid, user.pw_gid


def _start(paths: LabPaths) -> int:
    uid, gid = _prepare_dirs(paths)
    daemon = program("apt-cacher-ng")
    log = paths.apt_proxy_dir / "log" / "daemon.out"
    with log.open("ab") as out:
        # ForeGround=0: the daemon forks and writes its own pid file, so it
        # outlives `lab up` and is not a child of the Python process.
        starter = subprocess.Popen(
            [daemon, "-c", _conf_dir(paths), "ForeGround=0"],
            user=uid, group=gid, extra_groups=[], cwd="/", start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )
        starter.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = proxy_pid(paths)
        if pid and port_open():
            return pid
        time.sleep(0.1)
    stop_apt_proxy(paths)
    errors = paths.apt_proxy_dir / "log" / "apt-cacher.err"
    detail = errors.read_text(errors="replace")[-1500:] if errors.is_file() else ""
    raise LabError(
        f"apt-cacher-ng did not start listening on {HOST_ADDRESS}:{APT_PROXY_PORT}\n{detail}"
    )


def ensure_apt_proxy(paths: LabPaths, mirrors: HostMirrors) -> str | None:
    """Start (or restart after a configuration change) the lab's apt-cacher-ng."""
    reconfigured = _write_config(paths, mirrors)
    pid = proxy_pid(paths)
    if pid is not None and not reconfigured and port_open():
        return None
    was_running = pid is not None
    if was_running:
        stop_apt_proxy(paths)
    elif port_open():
        raise LabError(
            f"another process listens on {HOST_ADDRESS}:{APT_PROXY_PORT} (the system's "
            "apt-cacher-ng? stop it with `/etc/init.d/apt-cacher-ng stop`); the lab runs its "
            "own instance there"
        )
    pid = _start(paths)
    why = "restarted" if was_running else "started"
    return f"apt-cacher-ng {why} on {HOST_ADDRESS}:{APT_PROXY_PORT} (pid {pid})"


def stop_apt_proxy(paths: LabPaths) -> bool:
    pid = proxy_pid(paths)
    if pid is None:
        return False
    end(pid)
    return True
