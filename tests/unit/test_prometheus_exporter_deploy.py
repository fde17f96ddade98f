"""What the monitoring deploy installs for the exporter: bundle, configuration, unit, DB account."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from koumbit_infra.envs import load_env
from koumbit_infra.exporter.config import RefreshSeconds, parse_config
from koumbit_infra.exporter.traffic import log_path
from koumbit_infra.facts.monitoring import ExporterAccount, ExporterAccountState
from koumbit_infra.inventory import Role
from koumbit_infra.monitoring import bundle
from koumbit_infra.monitoring.database import OPTION_FILE
from koumbit_infra.monitoring.exporter import LAB_REFRESH, TEMPLATE, exporter_config, exporter_unit
from koumbit_infra.operations.monitoring import create_commands
from koumbit_infra.sites.files import layouts, site_files
from koumbit_infra.sites.layout import SITE_LOG_ROOT, SITES_ROOT
from koumbit_infra.templating import render


def test_bundle_is_the_same_bytes_on_every_build() -> None:
    assert bundle.bundle_bytes() == bundle.bundle_bytes()


def test_bundle_holds_the_exporter_and_its_libraries_only() -> None:
    with tarfile.open(fileobj=io.BytesIO(bundle.bundle_bytes())) as tar:
        members = tar.getmembers()
    names = {m.name for m in members}
    assert "bin/koumbit-exporter" in names
    assert "lib/koumbit_infra/exporter/__main__.py" in names
    tops = {n.split("/")[1] for n in names if n.startswith("lib/")}
    assert tops == {"koumbit_infra", "prometheus_client"}
    # The rest of koumbit_infra (click, yaml, the inventory) stays on the admin's machine.
    assert {n.split("/")[2] for n in names if n.startswith("lib/koumbit_infra/")} == {
        "__init__.py", "exporter"}
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, 1_700_000_000)}


EXPORTER = Path(bundle.__file__).parents[1] / "exporter"


def foreign_imports(source: str, module: str) -> list[str]:
    """Modules ``source`` (the module ``module``) imports that the bundle does not hold."""
    package = module.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module_name = ".".join(p for p in (base, node.module or "") if p)
            # What is imported may be a module itself (`from koumbit_infra import inventory`).
            names = [f"{module_name}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [name for name in names
                  if name.split(".")[0] not in (*sys.stdlib_module_names, *bundle.LIBRARIES)
                  and name not in ("koumbit_infra", "koumbit_infra.exporter")
                  and not name.startswith("koumbit_infra.exporter.")]
    return found


def test_exporter_imports_nothing_the_bundle_leaves_behind() -> None:
    """Every module under exporter/ imports only itself, the standard library and LIBRARIES."""
    modules = sorted(EXPORTER.rglob("*.py"))
    assert len(modules) > 10
    found = {path.name: foreign_imports(path.read_text(), f"koumbit_infra.exporter.{path.stem}")
             for path in modules}
    assert {name: bad for name, bad in found.items() if bad} == {}


@pytest.mark.parametrize("line", [
    "import click", "from koumbit_infra.inventory import Server", "import yaml",
    "from koumbit_infra import monitoring", "from ..monitoring import bundle",
    "def f():\n    from koumbit_infra.sites.layout import SITES_ROOT",
])
def test_a_controller_import_in_the_exporter_is_found(line: str) -> None:
    assert foreign_imports(line, "koumbit_infra.exporter.app") != []


def test_bundle_holds_no_compiled_file() -> None:
    """Nothing tied to one CPython version: the same archive serves Debian 12 and 13."""
    with tarfile.open(fileobj=io.BytesIO(bundle.bundle_bytes())) as tar:
        names = tar.getnames()
    assert [n for n in names if not n.endswith((".py", ".typed")) and n.startswith("lib/")] == []
    assert [n for n in names if ".cpython-" in n or n.endswith(bundle.COMPILED)] == []


def test_bundle_refuses_a_compiled_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "LIBRARIES", (*bundle.LIBRARIES, "pydantic_core"))
    with pytest.raises(RuntimeError, match=r"pure Python: lib/pydantic_core/_pydantic_core\."):
        bundle.bundle_bytes()


# Run by the host's own python3 (Debian's, as on the servers), not this virtualenv's.
SYSTEM_PYTHON = "/usr/bin/python3"

# Loads the configuration, serves it on a free port, answers one scrape, and
# prints every module it loaded from outside the standard library.
SERVE_ONCE = """\
import json, sys, sysconfig, urllib.request
from dataclasses import replace
sys.path.insert(0, sys.argv[1])
from koumbit_infra.exporter.__main__ import main
assert main(["exporter", "--config", sys.argv[2], "--check"]) == 0
from koumbit_infra.exporter.app import build
from koumbit_infra.exporter.config import load_config
from pathlib import Path
exporter = build(replace(load_config(Path(sys.argv[2])), port=0))
exporter.start()
page = urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/metrics").read().decode()
exporter.stop()
print('koumbit_up{server="web1"} 1.0' in page, page.count("koumbit_site_disk_quota_bytes{"))
stdlib = sysconfig.get_paths()["stdlib"]
print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values())
                         if getattr(m, "__file__", None) and not m.__file__.startswith(stdlib)})))
"""


def test_bundle_runs_on_the_system_python_alone(tmp_path: Path) -> None:
    """Unpacked, it checks and serves a lab configuration under the host's ``python3 -I -S``:
    no virtualenv, no site-packages, nothing on sys.path but the bundle."""
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip(f"{SYSTEM_PYTHON} is not installed")
    with tarfile.open(fileobj=io.BytesIO(bundle.bundle_bytes())) as tar:
        tar.extractall(tmp_path, filter="data")
    inv = load_env("lab")
    config = tmp_path / "exporter.toml"
    config.write_text(exporter_config(inv, inv.server("web1")).replace(
        str(inv.server("web1").address), "127.0.0.1"))
    lib = tmp_path / "lib"
    done = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", SERVE_ONCE, str(lib), str(config)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    checked, served, loaded = done.stdout.splitlines()
    assert checked.startswith(f"{config}: valid, ")
    local_sites = len(inv.sites_on("web1"))
    assert served.split() == ["True", str(local_sites)] and local_sites > 1
    outside = [f for f in json.loads(loaded) if not f.startswith(f"{lib}/")]
    assert outside == []
    assert sys.prefix not in done.stdout  # nothing came from this virtualenv
    launcher = (tmp_path / "bin/koumbit-exporter").read_text()
    assert launcher.startswith("#!/usr/bin/python3 -IS\n")
    assert f'sys.path.insert(0, "{bundle.LIB_DIR}")' in launcher
    # The launcher itself, as systemd and the deploy's --check run it (lib/ moved here).
    (tmp_path / "bin/here").write_text(launcher.replace(bundle.LIB_DIR, str(lib)))
    ran = subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(tmp_path / "bin/here"), "--config",
                          str(config), "--check"], capture_output=True, text=True, check=False,
                         timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith(f"{config}: valid, ")


def test_standalone_entry_point_refuses_a_bad_config(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from koumbit_infra.exporter.__main__ import main

    bad = tmp_path / "exporter.toml"
    bad.write_text('server = "web1"\nport = "x"\n')
    assert main(["--config", str(bad), "--check"]) == 2
    assert "invalid configuration" in capsys.readouterr().err


@pytest.mark.parametrize("env", ["lab", "example"])
def test_config_of_every_server_is_valid(env: str) -> None:
    inv = load_env(env)
    for server in inv.servers:
        config = parse_config(exporter_config(inv, server), f"{env}/{server.name}")
        assert config.server == server.name
        assert config.listen_address == str(server.address)
        assert config.database.enabled == server.has(Role.DB)
        expected = LAB_REFRESH if env == "lab" else RefreshSeconds()
        assert config.refresh_seconds == expected


def test_exporter_reads_where_the_site_deploys_write() -> None:
    """Each path the exporter opens for a site is the one sites/layout.py gives that site."""
    inv = load_env("lab")
    server = inv.server("web1")
    paths = parse_config(exporter_config(inv, server), "web1").paths
    sites = layouts(inv, server)
    pools = 0
    for site in sites:
        assert paths.sites_root / site.name == Path(site.root)
        assert log_path(paths.log_root, site.name) == site.access_log
        assert paths.php_status_socket.format(system_name=site.name) == site.fpm_status_socket
        for pool in (f.content for f in site_files(site) if f.dest == site.pool_file):
            assert f"pm.status_listen = {site.fpm_status_socket}\n" in pool
            assert f"pm.status_path = {paths.php_status_path}\n" in pool
            pools += 1
    assert len(sites) > 1 and pools > 1


def test_lab_only_refreshes_disk_often() -> None:
    assert LAB_REFRESH.disk == 15
    assert RefreshSeconds().disk == 300  # production keeps the documented interval


def test_unit_per_role() -> None:
    inv = load_env("lab")
    web1 = render(str(TEMPLATE), exporter=exporter_unit(inv, inv.server("web1")))
    mon1 = render(str(TEMPLATE), exporter=exporter_unit(inv, inv.server("mon1")))
    assert f"ExecStart={bundle.LAUNCHER} exporter --config /etc/koumbit/exporter.toml" in web1
    assert f"LoadCredential=mariadb.cnf:{OPTION_FILE}" in web1
    assert f"ReadOnlyPaths={SITES_ROOT} {SITE_LOG_ROOT}" in web1
    assert "LoadCredential" not in mon1
    # No site trees off the web role: optional, or systemd refuses to start the unit.
    assert f"ReadOnlyPaths=-{SITES_ROOT} -{SITE_LOG_ROOT}" in mon1
    monitors = " ".join(str(s.address) for s in inv.servers_with(Role.MONITOR))
    assert f"IPAddressAllow=localhost {monitors}" in web1


def test_db_account_password_never_on_a_command_line() -> None:
    make_file, make_user = create_commands(OPTION_FILE)
    assert make_file.startswith("umask 077 && ")
    assert "/dev/urandom" in make_file and f"mv {OPTION_FILE}.new {OPTION_FILE}" in make_file
    # The password flows file -> pipe -> mariadb's stdin; mariadb gets no -p / -e with it.
    assert make_user.endswith("| mariadb --batch --skip-column-names")
    assert f"sed -n 's/^password=//p' {OPTION_FILE}" in make_user
    assert "GRANT SHOW VIEW ON *.* TO 'koumbit_exporter'@'localhost'" in make_user


def test_db_account_fact() -> None:
    fact = ExporterAccount()
    assert fact.process(["file=1", "user=1"]) == ExporterAccountState(True, True)
    assert fact.process(["file=0", "user=0"]) == ExporterAccountState(False, False)
    assert fact.process(["file=1", "user="]) == ExporterAccountState(True, False)


def test_unpack_is_stamped_with_the_archive_it_came_from() -> None:
    from koumbit_infra.facts.monitoring import BundleUnpacked
    from koumbit_infra.operations.monitoring import unpack_command

    command = unpack_command("/opt/koumbit-exporter/bundle.tar.gz")
    assert command.startswith("cd /opt/koumbit-exporter && rm -rf bin lib .unpacked")
    assert command.endswith("sha256sum bundle.tar.gz > .unpacked")  # last: only once complete
    fact = BundleUnpacked()
    assert "sha256sum --status -c .unpacked" in fact.command("/opt/koumbit-exporter/x.tar.gz")
    assert fact.process(["yes"]) is True
    assert fact.process(["no"]) is False
    assert fact.process([]) is False
