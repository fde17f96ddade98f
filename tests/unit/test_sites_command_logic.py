"""The pure parts of the site commands: selection, snapshot choice, command lines,
what a copy leaves alone, scratch inventories, SSH policy."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paramiko
import pytest

from koumbit_infra.inventory import load_inventory
from koumbit_infra.remote import connect
from koumbit_infra.sites.backups import Snapshot, choose
from koumbit_infra.sites.copy import _links, moved
from koumbit_infra.sites.errors import SiteCommandError
from koumbit_infra.sites.runner import site_command
from koumbit_infra.sites.selection import one, select
from koumbit_infra.sites.variant import scratch_client, write_variant

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory" / "lab")


def _domains(selector: str) -> set[str]:
    return {s.domain for s in select(INV, selector)}


def test_selectors() -> None:
    assert _domains("cms:drupal") == {"centre-femmes.test", "logiciel-libre.test",
                                      "theatre-quartier.test"}
    assert _domains("client:banque-alimentaire") == {"banque-rosemont.test",
                                                     "benevoles.banque-rosemont.test"}
    assert _domains("state:disabled") == {"droits-humains.test"}
    assert _domains("www.erables.test") == {"erables.test"}  # an alias selects its site
    assert "erables.test" in _domains("server:web1,cms:drupal")
    assert len(_domains("all")) == len(_domains("*.test"))
    with pytest.raises(SiteCommandError) as err:
        select(INV, "cms:joomla")
    assert err.value.exit_code == 2
    with pytest.raises(SiteCommandError):
        one(INV, "unknown.test")


def test_snapshot_choice() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    snaps = [Snapshot(f"{i:x}" * 8, t0 + timedelta(days=i)) for i in range(1, 4)]
    assert choose(snaps, None, None) is snaps[-1]
    assert choose(snaps, "2222", None) is snaps[1]
    assert choose(snaps, None, t0 + timedelta(days=2, hours=5)) is snaps[1]
    with pytest.raises(SiteCommandError):
        choose(snaps, None, t0)  # nothing that old
    with pytest.raises(SiteCommandError):
        choose([], None, None)


def test_run_goes_through_the_site_user_and_quotes_the_command() -> None:
    site = one(INV, "erables.test")
    line = site_command(site, "echo 'a b'; id")
    # Outside: the site's lock; inside it, the site's user; inside that, the command.
    words = shlex.split(line)
    assert words[words.index("flock") + 5] == site.lock_file
    locked = words[words.index("sh") + 2]
    inner = shlex.split(locked)
    assert inner[:4] == ["runuser", "-u", site.name, "--"]
    assert f"PHP_INI_SCAN_DIR={site.php_cli_env}" in inner
    assert inner[-3:] == ["-c", f"umask 022 && cd {site.web} && echo 'a b'; id", "sh"]


def test_a_copy_leaves_the_targets_own_wiring_alone() -> None:
    # The configuration lives in root's folder, outside the copied code; only the
    # site's links into its own wiring are left out of the code's archive.
    assert _links(one(INV, "erables.test")) == ["./wp-content/uploads"]
    assert _links(one(INV, "centre-femmes.test")) == ["./web/sites/default"]


def test_scratch_inventory_is_valid_and_moved(tmp_path: Path) -> None:
    def edit(clients: dict[str, dict[str, object]]) -> None:
        moved("erables.test", "web2", "disabled")(clients)  # type: ignore[arg-type]
        clients["x"] = scratch_client("x", [{"domain": "x.test", "cms": "drupal",
                                             "server": "web1"}])
    env_file = write_variant(ROOT / "inventory" / "lab", tmp_path, edit)
    inv = load_inventory(env_file.with_suffix(""))
    placed = inv.site("erables.test").site
    assert (placed.server, placed.state.value) == ("web2", "disabled")
    assert inv.site("x.test").site.server == "web1"
    assert "groups(Path(__file__).with_suffix" in env_file.read_text()


def test_fabric_refuses_unknown_host_keys() -> None:
    example = load_inventory(ROOT / "inventory" / "example")
    conn = connect(example, "web1")  # nothing is contacted until a command runs
    policy = conn.client._policy  # paramiko keeps no public accessor
    assert isinstance(policy, paramiko.RejectPolicy)
    assert conn.host == str(example.server("web1").address)
