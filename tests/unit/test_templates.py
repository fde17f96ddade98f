"""Every server template, rendered for every server of the lab and example inventories,
then checked by the real tool that will read it (nginx -t, php-fpm -t, sshd -t, nft -c ...).

Both inventories mix Debian 12 and 13 servers, so every template is rendered for each
release; tests/releasecheck.py says which tool checks a Debian 13 file on this Debian 12
host, and which checks only a Debian 13 server can make (the lab's).
"""

from __future__ import annotations

import configparser
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from releasecheck import fpm_binary, nginx_text_for_host, sshd_text_for_host

from koumbit_infra.inventory import Inventory, load_inventory
from koumbit_infra.serverconf.files import ConfigFile, all_files
from koumbit_infra.templating import TEMPLATE_DIR, render

ROOT = Path(__file__).resolve().parents[2]
ENVS = ("lab", "example")
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICRqnvZA1x5XzknoC+YbTV0MkLB8+zgraS2XFDgf9Ryk"


def _inventory(env: str) -> Inventory:
    return load_inventory(ROOT / "inventory" / env)


def _cases() -> list[tuple[str, str, ConfigFile]]:
    cases = []
    for env in ENVS:
        inv = _inventory(env)
        for server in inv.servers:
            for cfg in all_files(inv, server, HOST_KEY):
                cases.append((env, server.name, cfg))
    return cases


CASES = _cases()
IDS = [f"{env}-{server}-{cfg.dest}" for env, server, cfg in CASES]


def _need(tool: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}")
                                  else None)
    if path is None:
        pytest.fail(f"{tool} is missing: run scripts/bootstrap (scripts/host-packages.txt)")
    return path


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout}\n{done.stderr}"


def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("this checker needs root (CI runs as root)")


# --- one checker per kind of file ------------------------------------------


def check_sshd(text: str, tmp: Path) -> None:
    _root_only()
    keys = []
    for kind in ("ed25519", "rsa"):
        key = tmp / f"host_{kind}"
        _run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)])
        keys.append(key)
        text = text.replace(f"/etc/ssh/ssh_host_{kind}_key", str(key))
    conf = tmp / "sshd_config"
    conf.write_text(sshd_text_for_host(text))
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd -t insists on its privilege separation dir
    _run([_need("sshd"), "-t", "-f", str(conf)])
    assert "PasswordAuthentication no" in text


def check_nft(text: str, tmp: Path) -> None:
    _root_only()
    conf = tmp / "nftables.conf"
    conf.write_text(text)
    _run([_need("nft"), "-c", "-f", str(conf)])
    assert "policy drop" in text


def check_nginx(text: str, tmp: Path) -> None:
    """nginx -t on a wrapper whose includes point at the freshly rendered files."""
    text = nginx_text_for_host(text)
    conf_d, sites = tmp / "conf.d", tmp / "sites-enabled"
    conf_d.mkdir()
    sites.mkdir()
    log_format = TEMPLATE_DIR / "etc/nginx/conf.d/koumbit-log-format.conf.j2"
    if log_format.exists():
        (conf_d / "koumbit-log-format.conf").write_text(
            render("etc/nginx/conf.d/koumbit-log-format.conf.j2"))
    if "http {" in text:
        main = text
        (sites / "000-default.conf").write_text(render(
            "etc/nginx/sites-available/000-default.conf.j2", server=None))
    else:
        main = render("etc/nginx/nginx.conf.j2", server=_FakeServer())
        (sites / "000-default.conf").write_text(text)
    main = (main.replace("/etc/nginx/conf.d", str(conf_d))
            .replace("/etc/nginx/sites-enabled", str(sites))
            .replace("/run/nginx.pid", str(tmp / "nginx.pid"))
            .replace("/var/log/nginx", str(tmp)))
    conf = tmp / "nginx.conf"
    conf.write_text(main)
    _run([_need("nginx"), "-t", "-q", "-c", str(conf), "-e", str(tmp / "error.log")])


class _Size:
    cpus = 2


class _FakeServer:
    size = _Size()


def check_php_ini(text: str, tmp: Path, php: str | None = None) -> None:
    """FPM of the file's PHP (``php``) where this host has it, else this host's own."""
    ini = tmp / "php.ini"
    ini.write_text(text)
    fpm = tmp / "php-fpm.conf"
    fpm.write_text(f"[global]\npid = {tmp}/fpm.pid\nerror_log = {tmp}/fpm.log\n"
                   f"[check]\nuser = nobody\ngroup = nogroup\nlisten = {tmp}/check.sock\n"
                   "pm = ondemand\npm.max_children = 1\n")
    _run([fpm_binary(php), "-t", "-c", str(ini), "-y", str(fpm)])


def check_php_pool(text: str, tmp: Path, php: str | None = None) -> None:
    pool = tmp / "pool.conf"
    pool.write_text(text)
    fpm = tmp / "php-fpm.conf"
    fpm.write_text(f"[global]\npid = {tmp}/fpm.pid\nerror_log = {tmp}/fpm.log\n"
                   f"include = {pool}\n")
    _run([fpm_binary(php), "-t", "-y", str(fpm)])
    assert "listen.mode = 0600" in text and "[www]" not in text


def check_mariadb(text: str, tmp: Path) -> None:
    cnf = tmp / "my.cnf"
    cnf.write_text(text)
    # Unknown or malformed options make mariadbd exit non-zero here.
    _run([_need("mariadbd"), f"--defaults-file={cnf}", "--help", "--verbose"])


def check_sudoers(text: str, tmp: Path) -> None:
    path = tmp / "sudoers"
    path.write_text(text)
    _run([_need("visudo"), "-c", "-q", "-f", str(path)])


def check_apt(text: str, tmp: Path) -> None:
    path = tmp / "apt.conf"
    path.write_text(text)
    _run(["apt-config", "-c", str(path), "dump"])


def check_ini(text: str, tmp: Path, strict: bool = True) -> None:
    parser = configparser.ConfigParser(strict=strict, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    assert parser.sections()


def check_unit(text: str, tmp: Path) -> None:
    check_ini(text, tmp, strict=False)  # systemd allows repeated keys (ExecStart)
    if match := re.search(r"^OnCalendar=(.+)$", text, re.MULTILINE):
        _run(["systemd-analyze", "calendar", match[1]])


def check_shell(text: str, tmp: Path) -> None:
    """Parsed by the shell its first line names (bash for a bash script, else sh)."""
    path = tmp / "script"
    path.write_text(text)
    shell = "bash" if text.startswith("#!/bin/bash") else "sh"
    _run([shell, "-n", str(path)])


def check_ssh_client(text: str, tmp: Path) -> None:
    """Every Host of the file resolves, as ssh reads it, to a backup account and this
    server's own key, checked against pinned host keys only."""
    path = tmp / "ssh_config"
    path.write_text(text)
    hosts = re.findall(r"^Host (\S+)$", text, re.MULTILINE)
    assert hosts
    for alias in hosts:
        done = subprocess.run(["ssh", "-G", "-F", str(path), alias], check=True,
                              capture_output=True, text=True, timeout=60)
        seen = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
        assert seen["user"].startswith("restic-"), alias
        assert seen["identityfile"] == "/etc/koumbit/backup/id_ed25519", alias
        assert seen["stricthostkeychecking"] == "true", alias


def check_authorized_keys(text: str, tmp: Path) -> None:
    """ssh-keygen reads every key of the file, and each one is restricted."""
    path = tmp / "authorized_keys"
    path.write_text(text)
    keys = [line for line in text.splitlines() if line and not line.startswith("#")]
    done = subprocess.run(["ssh-keygen", "-l", "-f", str(path)], check=True,
                          capture_output=True, text=True, timeout=60)
    assert keys and len(done.stdout.splitlines()) == len(keys)
    assert all(line.startswith("restrict ssh-") for line in keys)


def check_lines(text: str, tmp: Path) -> None:
    assert text.strip() and "None" not in text


def check_limits(text: str, tmp: Path) -> None:
    rules = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    assert rules and all(len(r) == 4 and r[1] in {"hard", "soft", "-"} for r in rules)


def check_modprobe(text: str, tmp: Path) -> None:
    rules = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    assert rules and all(r[0] == "install" and len(r) == 3 for r in rules)


def check_sysctl(text: str, tmp: Path) -> None:
    """Every key exists in this (Debian 12) kernel: ``sysctl -N`` names it back."""
    keys = [line.split("=")[0].strip() for line in text.splitlines()
            if line and not line.startswith("#")]
    for key in keys:
        path = Path("/proc/sys") / key.replace(".", "/")
        assert path.exists(), f"{key}: no such sysctl here"


CHECKERS: dict[str, Callable[[str, Path], None]] = {
    "/etc/ssh/sshd_config": check_sshd,
    "/etc/ssh/koumbit-sftp/": check_authorized_keys,
    "/etc/nftables.conf": check_nft,
    "/etc/nginx/": check_nginx,
    "/fpm/conf.d/": check_php_ini,
    "/fpm/pool.d/": check_php_pool,
    "/etc/mysql/": check_mariadb,
    "/etc/sudoers.d/": check_sudoers,
    "/etc/apt/": check_apt,
    "/etc/fail2ban/": check_ini,
    "/etc/systemd/journald": check_ini,
    "/etc/systemd/system/": check_unit,
    "/usr/local/sbin/": check_shell,
    "/etc/letsencrypt/renewal-hooks/": check_shell,
    "/etc/default/": check_shell,
    "/etc/koumbit/backup/ssh_config": check_ssh_client,
    "/etc/koumbit/backup/": check_lines,
    "/etc/issue": check_lines,
    "/etc/security/limits.d/": check_limits,
    "/etc/modprobe.d/": check_modprobe,
    "/etc/sysctl.d/": check_sysctl,
}


def _checker(dest: str) -> Callable[[str, Path], None]:
    for prefix, checker in CHECKERS.items():
        if prefix in dest:
            return with_php_of(dest, checker)
    raise AssertionError(f"no checker for {dest}: add one to CHECKERS")


def with_php_of(dest: str, checker: Callable[..., None]) -> Callable[[str, Path], None]:
    """The checker of a file under ``/etc/php/<version>/``, told that version."""
    if found := re.match(r"/etc/php/(\d+\.\d+)/", dest):
        return functools.partial(checker, php=found[1])
    return checker


@pytest.mark.parametrize(("env", "server", "cfg"), CASES, ids=IDS)
def test_template_renders_and_passes_its_checker(
    env: str, server: str, cfg: ConfigFile, tmp_path: Path
) -> None:
    text = render(cfg.template, **cfg.context)
    assert "None" not in text.replace("NoneType", ""), "a missing value rendered as None"
    assert re.fullmatch(r"[0-7]{3,4}", cfg.mode)
    _checker(cfg.dest)(text, tmp_path)


@pytest.mark.parametrize(("env", "server", "cfg"), CASES[:40], ids=IDS[:40])
def test_rendering_is_stable(env: str, server: str, cfg: ConfigFile) -> None:
    """Same inventory, same bytes: a second deploy must find nothing to change."""
    assert render(cfg.template, **cfg.context) == render(cfg.template, **cfg.context)
