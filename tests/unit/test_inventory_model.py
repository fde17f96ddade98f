"""The inventory model: derived names, money, summaries, the shipped environments."""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from brokencases import BASE
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from koumbit_infra.cli import main
from koumbit_infra.envs import load_env
from koumbit_infra.inventory import InventoryError, Role, SiteState, load_inventory
from koumbit_infra.inventory.names import SYSTEM_NAME_RE, system_name

LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
DOMAINS = st.lists(LABEL, min_size=2, max_size=6).map(".".join)


@given(DOMAINS)
def test_system_name_is_valid_stable_and_short(domain: str) -> None:
    name = system_name(domain)
    assert SYSTEM_NAME_RE.fullmatch(name), name
    assert len(name) <= 32
    assert system_name(domain) == name


def test_system_name_distinguishes_lookalike_domains() -> None:
    # Same letters once dots and dashes are folded: the hash keeps them apart.
    assert system_name("a-b.example") != system_name("a.b.example")
    long_a = "tres-long-nom-de-comite-de-quartier-numero-un.example"
    long_b = "tres-long-nom-de-comite-de-quartier-numero-deux.example"
    assert system_name(long_a) != system_name(long_b)
    assert system_name("123.example").startswith("s")


def test_lab_inventory_loads_with_derived_values() -> None:
    inv = load_env("lab")
    assert {s.name for s in inv.servers} == {"web1", "web2", "backup1", "mon1"}
    assert len(inv.clients) == 8
    assert sum(c.is_solidarity for c in inv.clients) == 4
    placed = inv.site("www.journal-alternatif.test")
    assert placed.client.slug == "journal-alternatif"
    site = placed.site
    assert site.unix_user == site.db_name == site.db_user == site.pool_name
    assert inv.php_version(site) == "8.2"
    assert inv.disk_quota_gib(placed) == 5
    assert inv.server("web2").cost.per_month_cad == Decimal(3600) / 48 + 35
    assert inv.budget.start.isoformat() == "2026-04-01"
    assert inv.budget.end.isoformat() == "2027-04-01"
    assert inv.server("web1").database_host == "web1"
    assert [p.site.domain for p in inv.sites_on("web1")] == sorted(
        p.site.domain for p in inv.sites_on("web1")
    )
    assert inv.warnings == ()


def test_models_are_frozen() -> None:
    inv = load_env("lab")
    with pytest.raises(Exception, match="frozen"):
        inv.servers[0].name = "other"  # type: ignore[misc]


def test_example_inventory_is_production_shaped() -> None:
    inv = load_env("example")
    placed = list(inv.placed_sites())
    assert len(inv.servers) >= 5
    assert len(inv.clients) >= 60
    assert len(placed) >= 120
    assert all(d.endswith(".example") for p in placed for d in p.site.all_domains)
    assert {p.site.cms.value for p in placed} == {"wordpress", "drupal"}
    assert any(c.is_solidarity for c in inv.clients)
    assert any(not c.is_solidarity for c in inv.clients)
    assert inv.servers_with(Role.BACKUP) and inv.servers_with(Role.MONITOR)


def test_overcommitted_quota_is_a_warning_not_an_error(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    shutil.copytree(BASE, root)
    servers = root / "servers.yaml"
    servers.write_text(servers.read_text().replace("disk_gib: 80}", "disk_gib: 25}"))
    inv = load_inventory(root, display_base=tmp_path)
    assert [str(w).split(": warning: ")[0] for w in inv.warnings] == [
        "lab/servers.yaml:25", "lab/servers.yaml:33",
    ]
    assert "promised 30 GiB of quota, more than its 25 GiB disk" in str(inv.warnings[0])
    result = CliRunner().invoke(main, ["check", "--inventory", str(tmp_path), "--env", "lab"])
    assert result.exit_code == 0
    assert "warning:" in result.output


def test_absent_sites_do_not_count_against_quota(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    shutil.copytree(BASE, root)
    client = root / "clients" / "theatre-quartier.yaml"
    client.write_text(client.read_text() + "    state: absent\n")
    inv = load_inventory(root)
    assert inv.site("theatre-quartier.test").site.state is SiteState.ABSENT
    assert inv.committed_quota_gib("web2") == load_inventory(BASE).committed_quota_gib("web2") - 20


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="inventory folder not found"):
        load_inventory(tmp_path / "nope")


def test_check_summary_text_and_json() -> None:
    runner = CliRunner()
    text = runner.invoke(main, ["check", "--env", "lab"])
    assert text.exit_code == 0, text.output
    assert "inventory 'lab' is valid" in text.output
    assert re.search(r"web1\s+4 sites\s+30 / 80 GiB", text.output)
    data = json.loads(runner.invoke(main, ["check", "--env", "example", "--json"]).output)
    assert data["valid"] is True
    assert data["clients"] >= 60
    assert sum(data["sites_by_cms"].values()) == data["sites"]


def test_every_command_has_help() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    commands = re.findall(r"^  (\w[\w-]*)\s", top.output.split("Commands:")[1], re.M)
    assert "check" in commands
    for command in commands:
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output


def test_reference_documents_every_file() -> None:
    result = CliRunner().invoke(main, ["reference"])
    assert result.exit_code == 0
    for heading in ("servers.yaml", "plans.yaml", "clients/<slug>.yaml", "budget.yaml"):
        assert f"## `{heading}`" in result.output
    assert "| `monthly_price_paid_cad` | CAD amount" in result.output


def test_committed_reference_is_up_to_date() -> None:
    committed = Path(__file__).parents[2] / "docs" / "inventory-reference.md"
    result = CliRunner().invoke(main, ["reference"])
    assert committed.read_text(encoding="utf-8") == result.output, (
        "regenerate: koumbit-infra reference > docs/inventory-reference.md"
    )


def test_site_lookup_takes_any_spelling_of_a_domain() -> None:
    inv = load_env("lab")
    assert inv.site("WWW.Journal-Alternatif.test.").client.slug == "journal-alternatif"
