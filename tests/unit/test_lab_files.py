"""Files the lab writes (known_hosts, /etc/hosts, apt settings, apt-cacher-ng) and ships."""

from __future__ import annotations

import shutil
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from koumbit_infra.lab import LabError, LabServer
from koumbit_infra.lab.cache import render_config
from koumbit_infra.lab.image import (
    BASE_PACKAGES,
    debootstrap_argv,
    recipe,
    render_apt_proxy,
    render_sources,
)
from koumbit_infra.lab.machines import (
    give_identity,
    host_public_keys,
    known_hosts_line,
    render_hosts,
    render_known_hosts,
)
from koumbit_infra.lab.mirror import HostMirrors
from koumbit_infra.lab.paths import LabPaths
from koumbit_infra.releases import BOOKWORM, TRIXIE

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFEFiKURMoO8v root@web1"
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDLUW8zXYlAV root@web1"


def test_known_hosts_line_is_keyed_by_address_without_comment() -> None:
    line = known_hosts_line(IPv4Address("10.77.0.11"), ED)
    assert line == "10.77.0.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFEFiKURMoO8v"


def test_known_hosts_is_sorted_by_address_whatever_the_order_given() -> None:
    text = render_known_hosts([
        (IPv4Address("10.77.0.31"), [ED]),
        (IPv4Address("10.77.0.11"), [ED, RSA]),
        (IPv4Address("10.77.0.9"), [RSA]),
    ])
    assert [line.split()[0] for line in text.splitlines()] == [
        "10.77.0.9", "10.77.0.11", "10.77.0.11", "10.77.0.31"]
    assert text.endswith("\n")


def test_unreadable_host_key_is_a_lab_error() -> None:
    with pytest.raises(LabError, match="unreadable host public key"):
        known_hosts_line(IPv4Address("10.77.0.11"), "garbage")


def test_hosts_file_names_the_server() -> None:
    assert "127.0.1.1\tweb1\n" in render_hosts("web1")
    assert render_hosts("web1").startswith("127.0.0.1\tlocalhost\n")


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs openssh-client")
def test_identity_is_unique_per_server(tmp_path: Path) -> None:
    roots = []
    for name, address in (("web1", "10.77.0.11"), ("web2", "10.77.0.12")):
        root = tmp_path / name
        for sub in ("etc/ssh", "root"):
            (root / sub).mkdir(parents=True)
        give_identity(root, LabServer(name, IPv4Address(address)), ED)
        roots.append(root)
    one, two = roots
    assert (one / "etc/hostname").read_text() == "web1\n"
    assert (one / "etc/machine-id").read_text() != (two / "etc/machine-id").read_text()
    assert len((one / "etc/machine-id").read_text().strip()) == 32
    assert host_public_keys(one) != host_public_keys(two)
    assert [k.split()[0] for k in host_public_keys(one)] == [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]
    assert "Address=10.77.0.12/24" in (
        two / "etc/systemd/network/10-koumbit-lab.network").read_text()
    keys = one / "root/.ssh/authorized_keys"
    assert keys.read_text() == ED + "\n"
    assert keys.stat().st_mode & 0o777 == 0o600
    assert (one / "root/.ssh").stat().st_mode & 0o777 == 0o700
    assert (one / "etc/ssh/ssh_host_ed25519_key").stat().st_mode & 0o777 == 0o600


def test_containers_use_the_proxy_on_the_bridge() -> None:
    assert render_apt_proxy().endswith('Acquire::http::Proxy "http://10.77.0.1:3142";\n')


# What the lab wrote before it knew other releases: a bookworm base built then stays valid.
BOOKWORM_SOURCES = (
    "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
    "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
    "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n"
    "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
)
BOOKWORM_RECIPE = ("v1 bookworm minbase openssh-server,python3,systemd,systemd-sysv,dbus,"
                   "ca-certificates,iproute2\n")


def test_container_sources_cover_bookworm_updates_and_security() -> None:
    assert render_sources(BOOKWORM) == BOOKWORM_SOURCES


def test_container_sources_of_trixie_name_its_suites_and_keyring() -> None:
    text = render_sources(TRIXIE)
    assert "URIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\n" in text
    assert "URIs: http://deb.debian.org/debian-security\nSuites: trixie-security\n" in text
    assert text.count("Signed-By: /usr/share/keyrings/debian-archive-keyring.pgp") == 2
    assert "bookworm" not in text


def test_debootstrap_argv_is_the_documented_minbase() -> None:
    argv = debootstrap_argv(Path("/x/base.partial"), "http://deb.debian.org/debian", BOOKWORM)
    assert argv[:2] == ["debootstrap", "--variant=minbase"]
    included = argv[2].removeprefix("--include=").split(",")
    assert {"openssh-server", "python3", "systemd", "systemd-sysv", "dbus",
            "ca-certificates"} <= set(included)
    assert argv[3:] == ["bookworm", "/x/base.partial", "http://deb.debian.org/debian"]
    assert recipe(BOOKWORM) == BOOKWORM_RECIPE
    assert ",".join(BASE_PACKAGES) in recipe(BOOKWORM)


def test_trixie_base_is_bootstrapped_from_its_suite_with_its_own_recipe() -> None:
    argv = debootstrap_argv(Path("/x/base-trixie.partial"), "http://m.example/debian", TRIXIE)
    assert argv[3:] == ["trixie", "/x/base-trixie.partial", "http://m.example/debian"]
    assert argv[:3] == debootstrap_argv(Path("/y"), "http://m", BOOKWORM)[:3]
    # The recipe is each base's marker: a bookworm base never passes for a trixie one.
    assert recipe(TRIXIE) == BOOKWORM_RECIPE.replace("bookworm", "trixie")


def test_apt_cacher_ng_listens_only_on_the_bridge_and_uses_the_host_mirror() -> None:
    paths = LabPaths(Path("/var/lib/koumbit-lab"))
    files = render_config(paths, HostMirrors("http://m.example/debian/", "http://s.example/ds/"))
    conf = files["acng.conf"]
    assert "BindAddress: 10.77.0.1\n" in conf
    assert "Port: 3142\n" in conf
    assert "CacheDir: /var/lib/koumbit-lab/apt-cache\n" in conf
    assert "PidFile: /var/lib/koumbit-lab/apt-cacher-ng/run/pid\n" in conf
    assert "Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian\n" in conf
    assert "deb.debian.org/debian-security" in conf
    assert files["backends_debian"] == "http://m.example/debian/\n"
    assert files["backends_debian_security"] == "http://s.example/ds/\n"


def test_lab_codebases_ship_with_the_package() -> None:
    """The Drupal stand-in the lab's sites get is package data, valid PHP, in every install."""
    import re
    import subprocess
    import tomllib

    from koumbit_infra.lab.paths import CODEBASES, DRUPAL_WIRING

    assert (DRUPAL_WIRING / "index.php").is_file()
    package = CODEBASES.parents[1]
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["koumbit_infra"]
    files = [p.relative_to(package).as_posix() for p in CODEBASES.rglob("*") if p.is_file()]
    # setuptools' globs, where * never crosses a folder (fnmatch's would).
    shipped = [re.compile(re.escape(g).replace(r"\*", "[^/]*")) for g in globs]
    assert files and [f for f in files if not any(p.fullmatch(f) for p in shipped)] == []
    php = shutil.which("php")
    if php is None:
        pytest.skip("php is not installed: index.php not linted")
    # The wiring check, and the stand-ins' PHP (drush, drupal/core's lib/Drupal.php).
    for source in (DRUPAL_WIRING / "index.php", CODEBASES / "composer/drush/drush",
                   CODEBASES / "composer/drupal-core/lib/Drupal.php"):
        lint = subprocess.run([php, "-l", str(source)], capture_output=True, text=True,
                              check=False)
        assert lint.returncode == 0, lint.stdout + lint.stderr
