"""One place says what each Debian release provides; servers and sites follow their release."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory, Server, load_inventory
from koumbit_infra.monitoring.exporter import TEMPLATE, ExporterUnit, exporter_unit
from koumbit_infra.releases import BOOKWORM, RELEASES, TRIXIE, Debian, release
from koumbit_infra.serverconf.files import all_files, base_config
from koumbit_infra.sites.files import layouts, site_files
from koumbit_infra.templating import render

ROOT = Path(__file__).resolve().parents[2]
SERVER: dict[str, Any] = {"name": "web9", "address": "192.0.2.99", "roles": ["web", "db"],
                          "size": {"cpus": 2, "memory_gib": 4, "disk_gib": 80},
                          "cost": {"monthly_cad": "10.00"}}


@pytest.fixture(scope="module")
def lab() -> Inventory:
    return load_inventory(ROOT / "inventory" / "lab")


def test_each_release_says_what_it_ships() -> None:
    assert (BOOKWORM.codename, BOOKWORM.php.version, BOOKWORM.mariadb) == ("bookworm", "8.2",
                                                                           "10.11")
    assert (TRIXIE.codename, TRIXIE.php.version, TRIXIE.mariadb) == ("trixie", "8.4", "11.8")
    assert TRIXIE.security_suite == "trixie-security"
    assert TRIXIE.suites == ("trixie", "trixie-updates")
    assert (BOOKWORM.python_tag, TRIXIE.python_tag) == ("cp311", "cp313")
    assert not BOOKWORM.nginx_http2_directive and TRIXIE.nginx_http2_directive
    assert TRIXIE.php.packages[0] == "php8.4-fpm" and len(TRIXIE.php.packages) == 8
    assert TRIXIE.php.pool_file("www") == "/etc/php/8.4/fpm/pool.d/www.conf"
    assert TRIXIE.php.fpm_check == "php-fpm8.4 -t"
    assert set(RELEASES) == set(Debian)


def test_an_unsupported_release_is_named_with_the_supported_ones() -> None:
    with pytest.raises(ValueError, match=r"Debian 11 is not supported \(supported: 12, 13\)"):
        release(11)


def test_a_new_server_runs_debian_13_with_its_php() -> None:
    server = Server.model_validate(SERVER)
    assert server.debian is Debian.TRIXIE and server.php_versions == ("8.4",)
    old = Server.model_validate({**SERVER, "debian": 12})
    assert old.release is BOOKWORM and old.php_versions == ("8.2",)


@pytest.mark.parametrize(("debian", "php"), [(13, "8.2"), (12, "8.4"), (13, "8.3")])
def test_php_that_the_release_does_not_ship_is_refused(debian: int, php: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Server.model_validate({**SERVER, "debian": debian, "php_versions": [php]})
    (error,) = refused.value.errors()
    assert error["loc"] == ("php_versions",) and error["type"] == "php_not_shipped"
    assert f"offers PHP {php}, which Debian {debian}" in error["msg"]


def test_a_site_pinned_to_php_8_2_on_a_debian_13_server_is_told_what_to_do(
    tmp_path: Path,
) -> None:
    from brokencases import build, load_cases

    from koumbit_infra.inventory import InventoryError

    case = next(c for c in load_cases() if c["name"] == "site-keeps-php-8-2-on-a-debian-13-server")
    with pytest.raises(InventoryError) as refused:
        load_inventory(build(case, tmp_path / "inv"))
    (problem,) = refused.value.problems
    assert "Debian 13 (trixie) has PHP 8.4: remove php_version" in problem.hint


def _files_of(inv: Inventory, name: str) -> dict[str, str]:
    server = inv.server(name)
    out = {c.dest: render(c.template, **c.context) for c in all_files(inv, server, "k")}
    for site in layouts(inv, server):
        out.update({f.dest: f.content for f in site_files(site)})
    return out


def _https_vhosts(files: dict[str, str], php: str, other_php: str) -> list[str]:
    """The sites' HTTPS vhosts, once the PHP folders are checked to be the release's."""
    assert f"/etc/php/{php}/fpm/pool.d/koumbit-idle.conf" in files
    assert not [d for d in files if f"/etc/php/{other_php}/" in d]
    vhosts = [t for d, t in files.items() if d.startswith("/etc/nginx/sites-available/")
              and "000-default" not in d and "listen 443" in t]
    assert vhosts
    return vhosts


def test_files_of_a_debian_13_web_server_name_php_8_4_and_nginx_1_26(lab: Inventory) -> None:
    files = _files_of(lab, "web2")
    vhosts = _https_vhosts(files, "8.4", "8.2")
    assert all("\thttp2 on;\n" in t and "ssl http2" not in t for t in vhosts)
    crons = [t for d, t in files.items() if d.endswith(".service") and "/wp-cron.php" in t]
    assert crons and all("/usr/bin/php8.4 " in t for t in crons)


def test_files_of_a_debian_12_web_server_keep_php_8_2_and_the_old_http2(lab: Inventory) -> None:
    vhosts = _https_vhosts(_files_of(lab, "web1"), "8.2", "8.4")
    assert all("listen 443 ssl http2;" in t and "http2 on;" not in t for t in vhosts)


def test_the_exporter_starts_after_its_release_php_fpm(lab: Inventory) -> None:
    for name, php in (("web1", "php8.2-fpm.service"), ("web2", "php8.4-fpm.service")):
        unit = render(str(TEMPLATE), exporter=exporter_unit(lab, lab.server(name)))
        assert f"After=network-online.target mariadb.service {php}\n" in unit
    assert ExporterUnit().after == "network-online.target mariadb.service"


def test_the_teams_sources_are_never_banned_nor_penalised() -> None:
    """A deploy's many connections once got the lab host banned by fail2ban and penalised
    by OpenSSH 10 on the Debian 13 servers: the inventory's trusted sources are exempt."""
    inv = load_env("lab")
    assert [str(n) for n in inv.settings.trusted_ssh_sources] == ["10.77.0.1/32"]
    for name, penalties in (("web1", False), ("web2", True)):
        cfgs = base_config(inv, inv.server(name))
        jail = render(cfgs.fail2ban.template, **cfgs.fail2ban.context)
        assert "ignoreip = 127.0.0.1/8 ::1 10.77.0.1/32\n" in jail
        sshd = render(cfgs.sshd.template, **cfgs.sshd.context)
        assert ("PerSourcePenaltyExemptList 10.77.0.1/32\n" in sshd) is penalties, name
