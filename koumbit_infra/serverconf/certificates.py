"""The files a web server needs to get and renew its sites' certificates with certbot.

``koumbit-certificate`` (issue, renew, forget, metrics), certbot's deploy hook that reloads
nginx, and the drop-in that makes Debian's ``certbot.timer`` run the renewals through it.
What they do and why: :mod:`koumbit_infra.tls.certbot`.
"""

from __future__ import annotations

import re
import shlex

from koumbit_infra.inventory import Inventory, Role, Server
from koumbit_infra.serverconf.files import ConfigFile
from koumbit_infra.tls.certbot import (
    HOOK,
    RENEW_BEFORE_SECONDS,
    RENEWAL_DROPIN,
    SCRIPT,
    Acme,
    CertbotPaths,
)

SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# The metrics' server label: the inventory's server name.
_SERVER = re.compile(r"[a-z][a-z0-9-]{0,30}")


def _checked_server(name: str) -> str:
    if not _SERVER.fullmatch(name):
        raise ValueError(f"{name!r} is not a server name")
    return name


def _assignments(values: dict[str, str]) -> list[tuple[str, str]]:
    """Shell assignments, each value quoted: paths and names only, yet never trusted."""
    return [(name, shlex.quote(value)) for name, value in values.items()]


def script_context(acme: Acme, server: str, paths: CertbotPaths,
                   search_path: str = SEARCH_PATH) -> dict[str, object]:
    """What ``koumbit-certificate`` is rendered with (tests give other paths)."""
    return {
        "settings": _assignments({
            "PATH": search_path, "LC_ALL": "C", "server": _checked_server(server),
            "directory": acme.directory, "config_dir": paths.config_dir,
            "tls_root": paths.tls_root, "state": paths.state_dir, "textfile": paths.textfile,
            "accounts": acme.accounts_dir(paths), "log": f"{paths.logs_dir}/letsencrypt.log",
            "renew_before": str(RENEW_BEFORE_SECONDS)}),
        "folders": shlex.join(paths.folder_args()),
        "certonly": shlex.join(acme.certonly_args(paths)),
        "register": shlex.join(acme.register_args()),
    }


def hook_context(script: str, paths: CertbotPaths,
                 search_path: str = SEARCH_PATH) -> dict[str, object]:
    return {"settings": _assignments({"PATH": search_path, "LC_ALL": "C", "script": script,
                                      "stamp": paths.nginx_stamp})}


def acme_of(inv: Inventory) -> Acme:
    return Acme(inv.settings.acme_directory, inv.settings.admin_email)


def certificate_files(inv: Inventory, server: Server) -> tuple[ConfigFile, ...]:
    """The files of a web server (none elsewhere: only web servers hold certificates)."""
    if not server.has(Role.WEB):
        return ()
    paths = CertbotPaths()
    return (
        ConfigFile("certificates", "usr/local/sbin/koumbit-certificate.j2", SCRIPT, "755",
                   script_context(acme_of(inv), server.name, paths)),
        ConfigFile("certificates", f"{HOOK.lstrip('/')}.j2", HOOK, "755",
                   hook_context(SCRIPT, paths)),
        ConfigFile("certificates", f"{RENEWAL_DROPIN.lstrip('/')}.j2", RENEWAL_DROPIN, "644",
                   {"script": SCRIPT}),
    )
