"""The certbot path on this machine alone: the lab's Pebble and DNS on free loopback ports,
an nginx of its own answering HTTP-01, and the real ``koumbit-certificate`` and deploy
hook rendered into a scratch folder. For the tests and ``bench/acme.py``: nothing of the
host's own configuration is read or changed (certbot's folders, the hook's nginx and
systemctl are the scratch ones), and no lab server is needed.

The servers trust Pebble through their system store; here certbot is told the lab's
``trust.pem`` with ``REQUESTS_CA_BUNDLE`` instead.
"""

from __future__ import annotations

import os
import pwd
import shlex
import socket
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.hosttools import program
from koumbit_infra.lab.pebble import Endpoints, PebbleFiles, ensure_acme, stop_acme
from koumbit_infra.lab.sitedns import publish
from koumbit_infra.serverconf.certificates import SEARCH_PATH, hook_context, script_context
from koumbit_infra.templating import render
from koumbit_infra.tls.certbot import HOOK, Acme, CertbotPaths

ADMIN = "infra@koumbit-lab.test"


def free_ports(count: int) -> list[int]:
    """``count`` loopback ports nothing listens on now."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass(frozen=True)
class LocalAcme:
    """A running rig: its endpoints, certbot's folders and how to run the real tools."""

    root: Path
    endpoints: Endpoints
    paths: CertbotPaths
    pebble: PebbleFiles
    script: Path
    nginx_conf: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "REQUESTS_CA_BUNDLE": str(self.pebble.trust)}

    def certificate(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``koumbit-certificate ARGS...`` as the servers run it."""
        return subprocess.run([str(self.script), *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout, check=False)

    def certbot(self, *args: str) -> subprocess.CompletedProcess[str]:
        """certbot itself, on the rig's folders (an admin's ``certbot renew --force-renewal``)."""
        return subprocess.run(["certbot", *self.paths.folder_args(), *args], capture_output=True,
                              text=True, env=self.env, timeout=300, check=False)

    def point(self, domains: Iterable[str]) -> None:
        """``domains`` answer with this machine's loopback in the rig's DNS."""
        warning = publish(dict.fromkeys(domains, "127.0.0.1"), self.endpoints)
        if warning:
            raise LabError(warning)

    def restart_pebble(self) -> None:
        """Pebble stopped and started: a new root, and every account forgotten."""
        stop_acme(self.pebble, self.endpoints)
        ensure_acme(self.pebble, self.endpoints, user=None)


def _nginx_conf(root: Path, port: int, webroot: str) -> str:
    # Its workers as whoever runs the rig: the scratch folder may be private to them.
    user = pwd.getpwuid(os.geteuid()).pw_name
    return (f"user {user};\npid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{}}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {root}/body;\n"
            f"  server {{\n    listen 127.0.0.1:{port};\n"
            f"    location ^~ /.well-known/acme-challenge/ {{ root {webroot};"
            " default_type text/plain; }\n    location / { return 444; }\n  }\n}\n")


def _fake_tools(bin_dir: Path, nginx_conf: Path) -> None:
    """``nginx`` and ``systemctl`` for the hook: the rig's nginx, never the host's."""
    bin_dir.mkdir(parents=True)
    real = shlex.quote(program("nginx"))
    conf = shlex.quote(str(nginx_conf))
    prefix = shlex.quote(str(nginx_conf.parent))
    tools = {
        "nginx": f'exec {real} -c {conf} -p {prefix} "$@"\n',
        "systemctl": (f'echo "systemctl $*" >> {shlex.quote(str(bin_dir / "calls"))}\n'
                      f'[ "$*" = "reload nginx" ] && exec {real} -c {conf} -p {prefix}'
                      " -s reload\nexit 1\n"),
    }
    for name, body in tools.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)


@contextmanager
def local_acme(root: Path) -> Iterator[LocalAcme]:
    """A rig under ``root`` (a scratch folder), stopped and its daemons ended on exit."""
    acme_port, management, dns, dns_management, http = free_ports(5)
    endpoints = Endpoints(("127.0.0.1", acme_port), ("127.0.0.1", management),
                          ("127.0.0.1", dns), ("127.0.0.1", dns_management), http)
    paths = CertbotPaths.under(str(root))
    pebble = PebbleFiles(root / "pebble")
    nginx_root = root / "nginx"
    nginx_root.mkdir(parents=True)
    Path(paths.webroot).mkdir()
    conf = nginx_root / "nginx.conf"
    conf.write_text(_nginx_conf(nginx_root, http, paths.webroot))
    tools = root / "bin"
    _fake_tools(tools, conf)
    acme = Acme(endpoints.directory, ADMIN)
    script = root / "koumbit-certificate"
    script.write_text(render("usr/local/sbin/koumbit-certificate.j2",
                             **script_context(acme, "web1", paths)))
    script.chmod(0o755)
    hook = Path(paths.config_dir) / HOOK.removeprefix("/etc/letsencrypt/")
    hook.parent.mkdir(parents=True)
    hook.write_text(render(f"{HOOK.lstrip('/')}.j2", **hook_context(
        str(script), paths, search_path=f"{tools}:{SEARCH_PATH}")))
    hook.chmod(0o755)
    with ExitStack() as stack:
        subprocess.run([program("nginx"), "-c", str(conf), "-p", str(nginx_root)], check=True,
                       capture_output=True, timeout=30)
        stack.callback(subprocess.run, [program("nginx"), "-c", str(conf), "-p",
                                        str(nginx_root), "-s", "quit"], check=False,
                       capture_output=True, timeout=30)
        stack.callback(stop_acme, pebble, endpoints)
        ensure_acme(pebble, endpoints, user=None)
        yield LocalAcme(root, endpoints, paths, pebble, script, conf)
