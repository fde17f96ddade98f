"""What each Debian release the toolkit builds servers on provides: the one place that says it.

A server's release is ``debian:`` in servers.yaml. Package names, paths, services
and the versions of the tools that read our files come from here, never from a
literal in a deploy, a template or a layout. Versions are the ones each release
ships (Debian 12 "bookworm", oldstable, LTS only since June 2026; Debian 13
"trixie", stable). Kept free of any other koumbit_infra import: the inventory's
models read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

# The PHP extensions every site may need, for WordPress and Drupal alike.
PHP_EXTENSIONS = ("fpm", "mysql", "gd", "xml", "mbstring", "curl", "zip", "intl")


class Debian(IntEnum):
    """A Debian release a server may run, by its number (``debian: 13``)."""

    BOOKWORM = 12
    TRIXIE = 13


# A new inventory's servers run the current stable release unless they say otherwise.
DEFAULT_DEBIAN = Debian.TRIXIE
# The releases the toolkit itself (and the lab) runs on: the admins' machines.
HOST_RELEASES = (Debian.BOOKWORM,)


@dataclass(frozen=True, order=True)
class Php:
    """One PHP version as Debian packages it: packages, FPM service, paths, binaries."""

    version: str

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(f"php{self.version}-{ext}" for ext in PHP_EXTENSIONS)

    @property
    def metapackage(self) -> str:
        """``phpX.Y``: satisfies a package's ``php`` dependency without Apache."""
        return f"php{self.version}"

    @property
    def fpm_service(self) -> str:
        return f"php{self.version}-fpm"

    @property
    def fpm_dir(self) -> str:
        return f"/etc/php/{self.version}/fpm"

    def pool_file(self, pool: str) -> str:
        return f"{self.fpm_dir}/pool.d/{pool}.conf"

    def conf_file(self, name: str) -> str:
        """A file of FPM's ``conf.d`` (read after php.ini)."""
        return f"{self.fpm_dir}/conf.d/{name}"

    @property
    def fpm_binary(self) -> str:
        return f"php-fpm{self.version}"

    @property
    def fpm_check(self) -> str:
        """The command that checks FPM's whole configuration (pools included)."""
        return f"{self.fpm_binary} -t"

    @property
    def cli(self) -> str:
        """The command-line PHP of this version (cron, installers)."""
        return f"/usr/bin/php{self.version}"


@dataclass(frozen=True)
class Release:
    """Everything the toolkit reads from one Debian release."""

    debian: Debian
    codename: str
    php: Php
    mariadb: str
    nginx: str
    systemd: int
    python3: str
    prometheus: str
    alertmanager: str
    exim: str
    blackbox_exporter: str
    pebble: str
    restic: str
    age: str
    composer: str
    wordpress: str
    # WordPress's default theme of that version, a Recommends of Debian's wordpress (the lab's
    # WordPress source packs it with the release: koumbit_infra/lab/wordpress.py).
    wordpress_theme: str
    # The archive's keyring as the release's own debian-archive-keyring names it
    # (trixie's names it .pgp, as its installer's sources do).
    archive_keyring: str
    # Names that have not changed between 12 and 13 but are still the release's to say.
    mariadb_server_package: str = "mariadb-server"
    mariadb_service: str = "mariadb"
    mariadb_conf_dir: str = "/etc/mysql/mariadb.conf.d"
    mariadb_client: str = "/usr/bin/mariadb"
    mariadb_dump: str = "mariadb-dump"
    alertmanager_package: str = "prometheus-alertmanager"
    alertmanager_service: str = "prometheus-alertmanager"
    exim_package: str = "exim4-daemon-light"
    exim_service: str = "exim4"
    # Debian 13 ships exim4.service; Debian 12's exim4 is an init script, whose unit
    # systemd generates with no enabled state to ask (the package enables it at boot).
    exim_unit_file: bool = False
    # OpenSSH 9.8+ penalises sources whose connections fail or stall (PerSourcePenalties);
    # its exemption list is an unknown keyword to older sshd.
    openssh_penalties: bool = False

    @property
    def name(self) -> str:
        """``Debian 13 (trixie)``, as messages name it."""
        return f"Debian {self.debian.value} ({self.codename})"

    @property
    def suites(self) -> tuple[str, ...]:
        """The archive's suites a server reads (the release and its updates)."""
        return (self.codename, f"{self.codename}-updates")

    @property
    def security_suite(self) -> str:
        return f"{self.codename}-security"

    @property
    def php_versions(self) -> tuple[str, ...]:
        """The PHP versions this release ships (Debian carries one per release)."""
        return (self.php.version,)

    def ships_php(self, version: str) -> bool:
        return version in self.php_versions

    @property
    def nginx_http2_directive(self) -> bool:
        """Whether nginx takes ``http2 on;`` (1.25.1 and later deprecate ``listen ... http2``)."""
        return _version(self.nginx) >= (1, 25, 1)

    @property
    def python_tag(self) -> str:
        """``cp313``: the CPython ABI tag of the release's python3."""
        return "cp" + self.python3.replace(".", "")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


BOOKWORM = Release(
    debian=Debian.BOOKWORM, codename="bookworm", php=Php("8.2"), mariadb="10.11",
    nginx="1.22.1", systemd=252, python3="3.11", prometheus="2.42", alertmanager="0.25",
    blackbox_exporter="0.23", pebble="2.4", restic="0.14", age="1.1", composer="2.5",
    wordpress="6.1", wordpress_theme="wordpress-theme-twentytwentythree",
    exim="4.96",
    archive_keyring="/usr/share/keyrings/debian-archive-keyring.gpg",
)
TRIXIE = Release(
    debian=Debian.TRIXIE, codename="trixie", php=Php("8.4"), mariadb="11.8",
    nginx="1.26.3", systemd=257, python3="3.13", prometheus="2.53", alertmanager="0.28",
    blackbox_exporter="0.26", pebble="2.6", restic="0.18", age="1.2", composer="2.8",
    wordpress="6.8", wordpress_theme="wordpress-theme-twentytwentyfive",
    exim="4.98",
    archive_keyring="/usr/share/keyrings/debian-archive-keyring.pgp",
    openssh_penalties=True, exim_unit_file=True,
)
RELEASES: dict[Debian, Release] = {r.debian: r for r in (BOOKWORM, TRIXIE)}


def release(debian: Debian | int) -> Release:
    """The release of that number; ValueError names the supported ones."""
    try:
        return RELEASES[Debian(debian)]
    except ValueError:
        known = ", ".join(str(d.value) for d in RELEASES)
        raise ValueError(f"Debian {debian} is not supported (supported: {known})") from None


def releases_shipping(version: str) -> tuple[Release, ...]:
    """The releases whose own PHP is ``version`` (for messages that say what to do)."""
    return tuple(r for r in RELEASES.values() if r.ships_php(version))
