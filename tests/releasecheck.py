"""Which real tool checks a file written for a Debian release, on this (Debian 12) host.

Template tests render every file for every server, whatever its release, and run
the tool that will read it. A file for a Debian 12 server meets the very tool
of its server here (nginx 1.22, php-fpm8.2, promtool 2.42). A file for a
Debian 13 server meets this host's older tool, which proves its grammar and
every directive both versions know; what only the newer version reads is
listed in ``ON_DEBIAN_13_SERVER_ONLY`` with the lab test where a Debian 13
server runs its own tool on it (the deploys check before every reload).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from koumbit_infra.releases import RELEASES, Debian, Release

# Checks a Debian 13 server alone can make, and where the lab makes them.
ON_DEBIAN_13_SERVER_ONLY = {
    "sshd -t (OpenSSH 10) with `PerSourcePenaltyExemptList`":
        "deploys/server.py runs `sshd -t` before its reload; every lab test reaches web2,"
        " backup1 and mon1 over SSH afterwards",
    "nginx 1.26 -t on a site's vhost, with `http2 on;`":
        "deploys/sites.py runs `nginx -t -q` before its reload; tests/lab/test_sites_lifecycle.py"
        " deploys web2 (Debian 13)",
    "php-fpm8.4 -t on the PHP 8.4 pools and conf.d":
        "deploys/web.py and deploys/sites.py run the release's `php-fpm8.4 -t` before a reload;"
        " tests/lab/test_deploy.py deploys web2",
    "promtool 2.53 check config / check rules":
        "deploys/prometheus.py runs `promtool check config` before its reload on mon1"
        " (Debian 13); tests/lab/test_deploy.py",
    "amtool 0.28 check-config on alertmanager.yml and its e-mail template":
        "deploys/alerting.py runs `amtool check-config` before Alertmanager reads it on mon1"
        " (Debian 13); tests/lab/test_alerting.py",
    "update-exim4.conf --check (exim 4.98) on update-exim4.conf.conf":
        "deploys/alerting.py checks before it generates exim's configuration on mon1;"
        " tests/lab/test_alerting.py delivers mail through it",
    "prometheus-blackbox-exporter 0.26 --config.check on blackbox.yml (this host has 0.23)":
        "deploys/probes.py runs the exporter's `--config.check` before every restart or reload"
        " on mon1 (Debian 13); tests/lab/test_probes.py finds every site probed there",
    "mariadbd 11.8 --help --verbose on 90-koumbit.cnf":
        "MariaDB 11.8 refuses an unknown option at start: the restart in deploys/database.py"
        " on web2 fails loudly; tests/lab/test_deploy.py",
    "php 8.4 -l on wp-config.php, settings.php and the installer":
        "the site's home page served from web2 (tests/lab/test_sites_lifecycle.py)",
}


def host_release() -> Release:
    """The release of the machine running the tests (the toolkit's host)."""
    text = Path("/etc/os-release").read_text()
    found = re.search(r'^VERSION_ID="?(\d+)', text, re.MULTILINE)
    assert found, "no VERSION_ID in /etc/os-release"
    return RELEASES[Debian(int(found[1]))]


def fpm_binary(version: str | None = None) -> str:
    """``php-fpm<version>`` when this host has it, else this host's own PHP-FPM.

    The fallback checks a pool or ini file of another PHP with this host's FPM:
    the pool and ini grammar and every directive the templates use are the same
    in 8.2 and 8.4 (see ON_DEBIAN_13_SERVER_ONLY for the check on the server).
    """
    for candidate in (version, host_release().php.version):
        if candidate and (found := shutil.which(f"php-fpm{candidate}")
                          or _sbin(f"php-fpm{candidate}")):
            return found
    raise AssertionError("php-fpm of this host's release is missing: run scripts/bootstrap")


def _sbin(tool: str) -> str | None:
    path = Path("/usr/sbin") / tool
    return str(path) if path.exists() else None


def nginx_text_for_host(text: str) -> str:
    """A vhost as this host's nginx can read it.

    nginx before 1.25.1 has no ``http2 on;`` (a Debian 13 vhost's way to turn
    HTTP/2 on): that directive alone is dropped; the rest is checked as it is.
    """
    if host_release().nginx_http2_directive:
        return text
    return re.sub(r"^\s*http2 on;\n", "", text, flags=re.MULTILINE)


def sshd_text_for_host(text: str) -> str:
    """An sshd_config as this host's sshd can read it: OpenSSH before 9.8 does not know
    ``PerSourcePenaltyExemptList`` (a Debian 13 server's), so that line alone is dropped."""
    if host_release().openssh_penalties:
        return text
    return re.sub(r"^PerSourcePenaltyExemptList .*\n", "", text, flags=re.MULTILINE)
