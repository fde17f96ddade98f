"""The sites' code path on this machine alone: the lab's sources server on a free loopback
port, with a CA of its own, and the real ``koumbit-site-code`` rendered for a scratch site.
For the tests and ``bench/codebases.py``: nothing of the host's configuration is read or
changed, and no lab is needed.

``koumbit-site-code`` becomes the site's user with ``runuser``; the rig's ``runuser``
records the user it was asked for and runs the command as whoever runs the rig (a test
cannot switch users: the lab tests prove that part), and the rig's ``curl`` trusts the rig's
CA, as the servers trust the lab's through their trust store. composer reads the same
configuration as on the servers (``composer_config``), with that CA as its ``cafile``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from koumbit_infra.codebases.wordpress_source import publish
from koumbit_infra.inventory import Cms
from koumbit_infra.lab.localacme import free_ports
from koumbit_infra.lab.pebble import (
    Endpoints,
    PebbleFiles,
    ensure_api_certificate,
    sign_server_certificate,
)
from koumbit_infra.lab.sources import SourcesFiles, base_url, server
from koumbit_infra.lab.standins import build_repository
from koumbit_infra.sites.files import composer_config
from koumbit_infra.templating import render

COMPOSER = shutil.which("composer") or "/usr/bin/composer"


def rig_ca(root: Path) -> PebbleFiles:
    """A CA of the rig's own under ``root``/ca (made as the lab makes its own)."""
    ca = PebbleFiles(root / "ca")
    ca.root.mkdir(parents=True)
    loopback = ("127.0.0.1", 1)
    ensure_api_certificate(ca, Endpoints(loopback, loopback, loopback, loopback), os.getegid())
    return ca


@dataclass(frozen=True)
class LocalSources:
    """A running sources server: its files, its URL and the CA its certificate is of."""

    files: SourcesFiles
    url: str
    ca: Path

    def composer_env(self, home: Path) -> dict[str, str]:
        """composer's environment with the servers' configuration in ``home``."""
        home.mkdir(parents=True, exist_ok=True)
        config = json.loads(composer_config((f"{self.url}/composer",)))
        config["config"]["cafile"] = str(self.ca)
        (home / "config.json").write_text(json.dumps(config))
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                "COMPOSER_HOME": str(home), "COMPOSER_CACHE_DIR": str(home / "cache"),
                "COMPOSER_ALLOW_SUPERUSER": "1", "COMPOSER_NO_INTERACTION": "1"}


@contextmanager
def local_sources(root: Path, wordpress: Mapping[str, bytes]) -> Iterator[LocalSources]:
    """The sources under ``root``: the stand-ins' repository and ``wordpress`` (version ->
    release archive), served on a free loopback port until the block ends."""
    ca = rig_ca(root)
    files = SourcesFiles(root / "sources")
    files.www.mkdir(parents=True)
    sign_server_certificate(ca, "koumbit-infra local sources", ["127.0.0.1"],
                            key_path=files.key, cert_path=files.cert, group=os.getegid())
    address = ("127.0.0.1", free_ports(1)[0])
    build_repository(files.composer, f"{base_url(address)}/composer")
    publish(files.wordpress, wordpress)
    httpd = server(files.www, address, files.cert, files.key, quiet=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalSources(files, base_url(address), ca.api_ca)
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass(frozen=True)
class ScratchSite:
    """One site's tree and its ``koumbit-site-code``, and who the rig's runuser ran as."""

    script: Path
    web: Path
    env: Mapping[str, str]
    calls: Path
    cache_root: Path

    def code(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``koumbit-site-code ARGS...`` as root runs it on a server."""
        return subprocess.run([str(self.script), *args], capture_output=True, text=True,
                              env=dict(self.env), timeout=timeout, check=False)

    def listing(self) -> dict[str, str]:
        """Every file of the site's code but vendor/, and its SHA-256."""
        return {str(p.relative_to(self.web)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.web.rglob("*")) if p.is_file() and "vendor" not in p.parts}


def site_user() -> str:
    """The scratch site's name: whoever runs the rig (the script gives it its cache)."""
    return pwd.getpwuid(os.geteuid()).pw_name


def scratch_site(root: Path, sources: LocalSources, cms: Cms) -> ScratchSite:
    """``koumbit-site-code`` for one site named like the rig's user, under ``root``: the
    site tools' library pointed at a scratch sites root and lock folder, and the rig's
    runuser and curl first on its search path."""
    shims = root / "shims"
    shims.mkdir(parents=True)
    calls = root / "runuser-calls"
    (shims / "runuser").write_text(f'#!/bin/sh\n[ "$1" = -u ] || exit 97\n'
                                   f'echo "$2" >> {calls}\nshift 2\n[ "$1" = -- ] && shift\n'
                                   'exec "$@"\n')
    (shims / "curl").write_text(f'#!/bin/sh\nexec /usr/bin/curl --cacert {sources.ca} "$@"\n')
    for shim in shims.iterdir():
        shim.chmod(0o755)
    name = site_user()
    sites_root = root / "sites"
    web = sites_root / name / "web"
    web.mkdir(parents=True)
    (sites_root / name / "tmp").mkdir()
    lib = root / "site-lib.sh"
    lib.write_text(render("usr/local/lib/koumbit/site-lib.sh.j2", sites_root=str(sites_root),
                          dump_root=str(root / "dumps"), lock_root=str(root / "locks"),
                          work_root=str(root / "work"), archive="/bin/false", fpm_run_dir="/",
                          sftp_units="none"))
    env = sources.composer_env(root / "composer-home")
    search_path = f"{shims}:/usr/bin:/bin"
    php = shutil.which("php") or "/usr/bin/php"
    script = root / "koumbit-site-code"
    script.write_text(render(
        "usr/local/sbin/koumbit-site-code.j2", site_lib=str(lib),
        sites=[SimpleNamespace(name=name, cms=cms, php=SimpleNamespace(cli=php))],
        wordpress_source=f"{sources.url}/wordpress", composer_home=env["COMPOSER_HOME"],
        composer_cache_root=str(root / "composer-caches"), composer=COMPOSER,
        search_path=search_path))
    script.chmod(0o755)
    return ScratchSite(script, web, {"PATH": search_path}, calls, root / "composer-caches")
