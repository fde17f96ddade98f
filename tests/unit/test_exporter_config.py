"""The exporter's configuration: the example parses, bad keys are named, the inventory renders."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.exporter.fakes import config_text

from koumbit_infra.envs import load_env
from koumbit_infra.exporter.config import EXAMPLE, ConfigError, load_config, parse_config
from koumbit_infra.monitoring.cli import exporter_command
from koumbit_infra.monitoring.exporter import render_config


def test_example_is_valid() -> None:
    config = parse_config(EXAMPLE, "example")
    assert config.port == 19100
    assert config.local_sites[0].labels == ("web1", "centre-femmes.test", "centre-femmes")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("port = 19100", "port = 0"), "/etc/x.toml: port:"),
        (("php_workers = 6", 'php_workers = "six"'),
         "/etc/x.toml: sites[0].php_workers (centre-femmes.test):"),
        (('listen_address = "10.77.0.11"', 'listen_address = "10.77.0"'),
         "/etc/x.toml: listen_address:"),
        (("disk = 300", "disk = -1"), "/etc/x.toml: refresh_seconds.disk:"),
        (('method = "scan"', 'method = "du"'), "/etc/x.toml: disk.method:"),
        (("[capacity]", "[capacity]\ncpus = 2"), "/etc/x.toml: capacity.cpus: unknown key"),
        (("port = 19100", "port = 19100\nlisten = 3"),
         "/etc/x.toml: listen: unknown key (top-level keys: server, listen_address, port,"),
        (("php_workers = 6", "php_workers = 6\ncolour = 3"),
         "sites[0].colour (centre-femmes.test): unknown key (a site's keys: domain,"),
        (('system_name = "centre_femmes_test_d33127a7"', 'system_name = "Centre"'),
         "sites[0].system_name (centre-femmes.test)"),
        # A name that only a line-anchored pattern would accept.
        (('system_name = "centre_femmes_test_d33127a7"', 'system_name = "centre\\n"'),
         "sites[0].system_name (centre-femmes.test): "),
        (("port = 19100", "port = true"), "/etc x.toml: port: must be a whole number"),
        (("disk_bytes = 85899345920", "disk_bytes = 8.5"), "capacity.disk_bytes: must be a whole"),
        (("[capacity]", "[size]"), "/etc x.toml: capacity: missing (this key is required)"),
        (("memory_bytes = 4294967296", ""), "capacity.memory_bytes: missing"),
        (('proc_root = "/proc"', 'proc_root = "proc"'), "paths.proc_root: must be an absolute"),
        (('proc_root = "/proc"', 'proc_root = "/proc"\nroot = "/"'),
         "paths.root: unknown key (keys of [paths]: sites_root, log_root,"),
        (('php_status_path = "/fpm-status"', 'php_status_path = "/status?x=1"'),
         "paths.php_status_path: \"/status?x=1\" is not a path"),
        (('php_status_socket = "/run/php/{system_name}.status.sock"',
          'php_status_socket = "/run/php/status.sock"'), "paths.php_status_socket: "),
        (("solidarity = false", 'solidarity = "no"'),
         "sites[0].solidarity (centre-femmes.test): must be true or false"),
        (('method = "scan"', 'method = "project_quota"'),
         "sites[0].project_id (centre-femmes.test): missing: disk.method project_quota"),
    ],
)
def test_bad_key_is_named(change: tuple[str, str], message: str) -> None:
    assert change[0] in EXAMPLE
    source = "/etc x.toml" if message.startswith("/etc x.toml") else "/etc/x.toml"
    with pytest.raises(ConfigError) as caught:
        parse_config(EXAMPLE.replace(*change), source)
    assert message in str(caught.value)


def test_a_value_where_a_table_belongs_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('server = "web1"\ncapacity = 3\nsites = [1]\ndisk = "scan"\n', "x.toml")
    assert str(caught.value).splitlines() == [
        "x.toml: capacity: must be a table, not 3",
        "x.toml: paths: missing (this key is required)",
        "x.toml: disk: must be a table, not \"scan\"",
        "x.toml: sites[0] (?): must be a table, not 1",
    ]


def test_every_problem_is_reported_at_once() -> None:
    text = EXAMPLE.replace("port = 19100", "port = 0").replace("php_workers = 6", "php_workers = 0")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "x.toml")
    assert len(str(caught.value).splitlines()) == 2


def test_duplicate_system_name_is_an_error(tmp_path: Path) -> None:
    duplicate = config_text(tmp_path).split("[[sites]]")[1]
    with pytest.raises(ConfigError, match="two sites share domain"):
        parse_config(config_text(tmp_path, extra_sites="[[sites]]" + duplicate), "x.toml")


def test_not_toml_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"^/etc/x.toml: not valid TOML"):
        parse_config("server = ", "/etc/x.toml")


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read"):
        load_config(tmp_path / "missing.toml")


def test_cli_exits_2_with_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "exporter.toml"
    path.write_text(EXAMPLE.replace("port = 19100", "port = 99999"))
    result = CliRunner().invoke(exporter_command, ["--config", str(path)])
    assert result.exit_code == 2
    assert f"{path}: port:" in result.output


def test_cli_check_accepts_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "exporter.toml"
    path.write_text(EXAMPLE)
    result = CliRunner().invoke(exporter_command, ["--config", str(path), "--check"])
    assert result.exit_code == 0, result.output
    assert "valid, 1 site(s)" in result.output


def test_lab_inventory_renders_a_valid_config_for_each_server() -> None:
    inventory = load_env("lab")
    for server in inventory.servers:
        text = render_config(inventory, server.name)
        config = parse_config(text, server.name)
        expected = [p.site.domain for p in inventory.sites_on(server.name)]
        assert [s.domain for s in config.local_sites] == expected
        assert config.capacity.disk_bytes == server.disk_bytes
        assert render_config(inventory, server.name) == text  # same text on every run


def test_example_paths_are_the_deployed_ones() -> None:
    """EXAMPLE documents the format; its [paths] may not drift from sites/layout.py's."""
    rendered = parse_config(render_config(load_env("lab"), "web1"), "web1").paths
    assert parse_config(EXAMPLE, "example").paths == rendered


def test_rendered_site_carries_plan_values() -> None:
    inventory = load_env("lab")
    config = parse_config(render_config(inventory, "web1"), "web1")
    for entry in config.sites:
        placed = inventory.site(entry.domain)
        plan = inventory.plan(placed.client.plan)
        assert entry.system_name == placed.site.system_name
        assert entry.solidarity == placed.client.is_solidarity
        assert entry.disk_quota_bytes == inventory.disk_quota_gib(placed) * 1024**3
        assert entry.php_memory_committed_bytes == plan.memory_reserved_bytes


def test_disabled_site_is_measured_but_its_stopped_pool_is_not_asked() -> None:
    from koumbit_infra.exporter.phpfpm import PhpFpmCollector

    inventory = load_env("lab")
    config = parse_config(render_config(inventory, "web1"), "web1")
    by_domain = {s.domain: s for s in config.sites}
    assert by_domain["droits-humains.test"].php_pool is False  # state: disabled
    assert by_domain["erables.test"].php_pool is True
    asked: list[str] = []

    def fetch(socket_path: str, status_path: str) -> bytes:
        asked.append(socket_path)
        raise ConnectionRefusedError(111, "refused")

    PhpFpmCollector(config, fetch=fetch).refresh()
    disabled = by_domain["droits-humains.test"].system_name
    assert asked and not any(disabled in path for path in asked)
