"""Site layout, the batched fact and the operations' decisions, without a server."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from koumbit_infra.facts.sites import SitesState
from koumbit_infra.facts.tls import CertificateState
from koumbit_infra.inventory import Cms, load_inventory
from koumbit_infra.sites.files import layouts, links, site_files, site_links
from koumbit_infra.sites.layout import Directory, SiteLayout
from koumbit_infra.sites.secrets import SECRET_KEYS, generate_command

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory" / "lab")


def _site(domain: str) -> SiteLayout:
    return SiteLayout.of(INV, INV.site(domain))


def test_layout_follows_the_exporter_contract() -> None:
    site = _site("erables.test")
    n = site.name
    assert site.root == f"/srv/sites/{n}"
    assert {d.path.rsplit("/", 1)[1] for d in site.directories} >= {
        "web", "files", "tmp", "sessions", "logs"}
    assert site.access_log == f"/var/log/nginx/sites/{n}.access.log"
    assert site.fpm_status_socket == f"/run/php/{n}.status.sock"
    pool = next(f for f in site_files(site) if f.dest == site.pool_file).content
    assert "pm.status_path = /fpm-status" in pool
    assert f"pm.status_listen = /run/php/{n}.status.sock" in pool
    assert f"open_basedir] = /srv/sites/{n}/:" in pool
    assert "pm.max_children = 6" in pool  # the standard plan
    # nginx (user) and the exporter (group) only: FPM copies these to the status socket.
    assert "listen.owner = www-data\nlisten.group = www-data\nlisten.mode = 0660" in pool


def test_only_nginx_and_the_site_reach_its_tree() -> None:
    site = _site("erables.test")
    modes = {d.path: (d.owner, d.group, d.mode) for d in site.directories}
    # Root's: the site passes through (o+x) and cannot rename or plant anything there.
    assert modes[site.root] == ("root", "www-data", "751")
    # Each of the site's own folders is closed to every other site (no o bits).
    for path in (site.web, site.files, site.tmp, site.sessions, site.logs):
        assert modes[path][0] == site.name and modes[path][2].endswith("0")
    assert modes[site.secrets_dir] == ("root", site.name, "750")
    assert modes[site.tmp][2] == modes[site.sessions][2] == "700"


def test_root_writes_only_in_root_owned_folders() -> None:
    """Every file and link root writes for a site sits in a folder root owns: never in
    one the site could swap. Links inside the site's code are made by its user."""
    for domain in ("erables.test", "centre-femmes.test"):
        site = _site(domain)
        root_dirs = {d.path for d in site.directories if d.owner == "root"}
        root_dirs |= {"/srv/sites"}
        for dest in [f.dest for f in site_files(site)] + list(links(site)):
            parent = dest.rsplit("/", 1)[0]
            if dest.startswith("/srv/sites/"):
                assert parent in root_dirs, dest
        for path in site_links(site):
            assert path.startswith(site.web + "/")
    assert _site("erables.test").config_file == f"{_site('erables.test').root}/wp-config.php"


def test_cron_minute_is_stable_and_spread() -> None:
    minutes = {s.cron_minute for p in INV.servers for s in layouts(INV, p)}
    assert len(minutes) > 3
    assert _site("erables.test").cron_minute == _site("erables.test").cron_minute
    assert _site("erables.test").cron_calendar.endswith("/15:00")


def test_disabled_site_has_no_pool_and_a_maintenance_vhost() -> None:
    site = _site("droits-humains.test")
    dests = {f.dest for f in site_files(site)}
    assert site.pool_file not in dests
    vhost = next(f for f in site_files(site) if f.dest == site.vhost_file).content
    assert "return 503" in vhost and "fastcgi_pass" not in vhost


def test_aliases_redirect_to_the_canonical_domain() -> None:
    site = _site("erables.test")
    vhost = next(f for f in site_files(site) if f.dest == site.vhost_file).content
    assert "server_name www.erables.test;" in vhost
    assert "return 301 https://erables.test$request_uri;" in vhost


def test_drupal_settings_and_links() -> None:
    site = _site("centre-femmes.test")
    assert site.cms is Cms.DRUPAL
    settings = next(f for f in site_files(site) if f.dest == site.config_file)
    assert settings.mode == "640" and settings.group == site.name
    assert "'^centre\\-femmes\\.test$'" not in settings.content
    assert "'^centre-femmes\\.test$'" in settings.content
    assert links(site)[f"{site.drupal_dir}/files"] == site.files
    assert site_links(site)[f"{site.docroot}/sites/default"] == site.drupal_dir


def test_drupal_config_sync_is_a_folder_the_deploy_makes_outside_the_served_one(
        tmp_path: Path) -> None:
    """What PHP reads from the rendered settings.php names a folder the deploy makes as the
    site, writable by it, outside the document root: Drupal's installer then takes the
    settings as finished instead of failing on "settings.php is not writable"."""
    site = _site("centre-femmes.test")
    settings = next(f for f in site_files(site) if f.dest == site.config_file).content
    secrets = tmp_path / "site.ini"
    secrets.write_text("db_password=x\nhash_salt=y\n")
    path = tmp_path / "settings.php"
    path.write_text(settings.replace(site.secrets_file, str(secrets)))
    read = subprocess.run(["php", "-r", "$settings = $databases = $config = [];"
                           f" include '{path}'; echo $settings['config_sync_directory'];"],
                          capture_output=True, text=True, check=True).stdout
    made = {d.path: d for d in site.site_directories}
    assert read == site.config_sync and read in made
    assert made[read].owner == site.name and int(made[read].mode, 8) & 0o700 == 0o700
    assert not read.startswith(site.docroot + "/") and read.startswith(site.web + "/")


@pytest.mark.parametrize(("mode", "hardened", "settled"), [
    ("755", False, True), ("555", False, False),  # root's folders: exactly their mode
    ("555", True, True), ("755", True, True), ("515", True, False),
    ("775", True, False), ("777", True, False),  # a write bit more is never the site's call
    ("355", True, False), ("750", True, False),  # nor a read bit less (515: the group's)
])
def test_a_site_may_take_write_bits_off_its_own_folders(mode: str, hardened: bool,
                                                        settled: bool) -> None:
    """Drupal's status check makes its folders 0555: the deploy accepts that on the site's
    own folders, so the next run changes nothing, and puts back anything else."""
    assert Directory("/srv/sites/x/web/web/sites", "x", "x", "755").settled(
        mode, hardened) is settled


def test_setgid_stays_wanted_on_a_hardened_folder() -> None:
    uploads = Directory("/srv/sites/x/files", "x", "www-data", "2750")
    assert uploads.settled("2550", hardened=True)
    assert not uploads.settled("550", hardened=True)


def test_secret_command_names_files_only() -> None:
    command = generate_command("/srv/sites/x/secrets/site.ini", "x")
    assert "umask 077" in command and "chmod 640" in command and "chgrp x" in command
    for key in SECRET_KEYS:
        assert f'echo "{key}=$(' in command


def _pem(names: list[str], days: int) -> list[str]:
    """A self-signed certificate for ``names``, valid ``days`` from now, as PEM lines."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode().splitlines()


def test_fact_process_reads_every_kind_of_line() -> None:
    output = [
        "P|d|a|www-data|750||/srv/sites/a",
        "P|f|root|a|640||/srv/sites/a/web/wp-config.php",
        "P|l|root|root|777|/srv/sites/a/files|/srv/sites/a/web/wp-content/uploads",
        "H|" + "0" * 64 + "  /srv/sites/a/web/wp-config.php",
        "U|a",
        "M",
        "Q|db|a",
        "Q|dbuser|a",
        "C|/etc/koumbit/tls/a/fullchain.pem",
        *("K|" + line for line in _pem(["a.test", "www.a.test"], 90)),
        "C|/etc/koumbit/tls/b/fullchain.pem",
        *("K|" + line for line in _pem(["b.test"], 10)),  # inside the 30 days: renew
        "C|/etc/koumbit/tls/c/fullchain.pem",
        "K|-----BEGIN CERTIFICATE-----", "K|not a certificate", "K|-----END CERTIFICATE-----",
        "S|ActiveState=active", "S|Id=koumbit-site-a.timer", "S|",
        "S|Id=koumbit-site-b.timer", "S|ActiveState=inactive",
    ]
    state = SitesState().process(output)
    assert state.paths["/srv/sites/a"].kind == "d"
    assert state.paths["/srv/sites/a/web/wp-config.php"].sha256 == "0" * 64
    assert state.paths["/srv/sites/a/web/wp-content/uploads"].target == "/srv/sites/a/files"
    assert state.users == {"a"} and state.databases == {"a"} and state.db_users == {"a"}
    assert state.timers_active == {"koumbit-site-a.timer"}
    cert = state.certificates["/etc/koumbit/tls/a/fullchain.pem"]
    assert cert.fresh and cert.domains == {"a.test", "www.a.test"}
    assert not state.certificates["/etc/koumbit/tls/b/fullchain.pem"].fresh
    assert state.certificates["/etc/koumbit/tls/c/fullchain.pem"] == CertificateState(
        frozenset(), fresh=False)
    assert state.mariadb


def test_fact_reads_the_leaf_of_each_certificate_file_in_one_process(tmp_path: Path) -> None:
    """The fact's own command, run here: each file's first certificate, a missing or empty
    file left out, in one awk whatever the number of sites."""
    leaf, chain = _pem(["a.test"], 90), _pem(["Intermediate CA"], 900)
    (tmp_path / "a.pem").write_text("\n".join([*leaf, *chain]) + "\n")
    (tmp_path / "b.pem").write_text("\n".join(_pem(["b.test"], 90)) + "\n")
    (tmp_path / "empty.pem").write_text("")
    paths = [str(tmp_path / n) for n in ("a.pem", "missing.pem", "empty.pem", "b.pem")]
    command = SitesState().command(names=("nobody_here",), certificates=tuple(paths))
    assert command.count("awk") == 1 and "openssl" not in command
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    certs = SitesState().process(done.stdout.splitlines()).certificates
    assert set(certs) == {paths[0], paths[3]}
    assert certs[paths[0]].domains == {"a.test"} and certs[paths[0]].fresh
    assert certs[paths[3]].domains == {"b.test"}


def test_fact_command_is_one_shell_line_for_all_sites() -> None:
    command = SitesState().command(names=("a", "b"), path_count=2,
                                   timers=("koumbit-site-a.timer",))
    assert command.count("mariadb --batch") == 1
    assert command.count("find ") == 2 and command.count("sha256sum") == 1
    # Only root's regular files are hashed, never a site's FIFO or link, and bounded.
    assert "-type f -user root" in command and "timeout 60 xargs" in command
    assert "getent passwd a b" in command
    # The paths come on standard input, so no number of sites outgrows a command line.
    assert "/srv/sites/" not in command and "$(cat)" in command
    assert "$(cat)" not in SitesState().command(names=("a",), path_count=0)


def test_wordpress_never_updates_its_own_core_outside_site_update() -> None:
    """Core updates go through ``site update`` (snapshot, smoke test, rollback): the
    rendered wp-config.php turns WordPress's own core updates off, and only that."""
    site = _site("erables.test")
    config = next(f for f in site_files(site) if f.dest == site.config_file).content
    defined = [line for line in config.splitlines() if "WP_AUTO_UPDATE_CORE" in line
               and line.startswith("define(")]
    assert defined == ["define('WP_AUTO_UPDATE_CORE', false);"]
