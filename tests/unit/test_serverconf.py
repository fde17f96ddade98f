"""Values derived from the inventory for the server deploys: sizes, openings, backups."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from koumbit_infra.inventory import Inventory, Role, load_inventory
from koumbit_infra.serverconf import backup, database, firewall, tuning
from koumbit_infra.serverconf.files import database_files
from koumbit_infra.templating import render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab() -> Inventory:
    return load_inventory(ROOT / "inventory" / "lab")


@pytest.fixture(scope="module")
def split(lab: Inventory) -> Inventory:
    """The lab, but web2 keeps its sites' databases on web1."""
    servers = tuple(
        s.model_copy(update={"database_server": "web1", "roles": frozenset({Role.WEB})})
        if s.name == "web2" else s
        for s in lab.servers
    )
    return dataclasses.replace(lab, servers=servers)


def test_lab_openings_are_exactly_the_issue_s(lab: Inventory) -> None:
    web1 = firewall.openings(lab, lab.server("web1"))
    assert [(o.ports, o.sources) for o in web1] == [
        ((22,), ()),
        ((80, 443), ()),
        ((9100, firewall.KOUMBIT_EXPORTER_PORT), ("10.77.0.31",)),
    ]
    backup1 = firewall.openings(lab, lab.server("backup1"))
    assert [o.ports for o in backup1] == [(22,), (9100, firewall.KOUMBIT_EXPORTER_PORT)]
    # The monitoring server does not open its exporters to itself.
    assert [o.ports for o in firewall.openings(lab, lab.server("mon1"))] == [(22,)]


def test_database_port_opens_only_to_the_web_servers_using_it(split: Inventory) -> None:
    web1 = {o.ports: o.sources for o in firewall.openings(split, split.server("web1"))}
    assert web1[(3306,)] == ("10.77.0.12",)
    assert database.bind_address(split, split.server("web1")) == "10.77.0.11"
    assert (3306,) not in {o.ports for o in firewall.openings(split, split.server("web2"))}


def test_lab_databases_listen_on_loopback(lab: Inventory) -> None:
    assert database.bind_address(lab, lab.server("web1")) == "127.0.0.1"


def test_nft_ruleset_renders_sources_as_sets(split: Inventory) -> None:
    text = render("etc/nftables.conf.j2", server=split.server("web1"),
                  openings=firewall.openings(split, split.server("web1")))
    assert "ip saddr 10.77.0.12 tcp dport 3306 accept" in text
    assert "tcp dport { 80, 443 } accept" in text


@pytest.mark.parametrize(("gib", "opcache", "pool"), [
    (1, 128, 256), (4, 128, 1024), (8, 245, 2048), (32, 512, 8192), (256, 512, 65536),
])
def test_memory_budgets(lab: Inventory, gib: int, opcache: int, pool: int) -> None:
    server = lab.server("web1")
    sized = server.model_copy(update={"size": server.size.model_copy(update={"memory_gib": gib})})
    assert tuning.opcache_memory_mib(sized) == opcache
    assert tuning.innodb_buffer_pool_mib(sized) == pool
    assert tuning.innodb_buffer_pool_mib(sized) % 128 == 0


def test_database_only_server_gives_innodb_half_its_memory(lab: Inventory) -> None:
    server = lab.server("web1").model_copy(update={"roles": frozenset({Role.DB})})
    assert tuning.innodb_buffer_pool_mib(server) == 2048


def test_journal_is_bounded_by_disk(lab: Inventory) -> None:
    assert tuning.journald_max_use_mib(lab.server("web1")) == 819
    assert tuning.journald_max_use_mib(lab.server("backup1")) == 2048


def test_backup_clients_are_every_server_but_the_backup_servers(lab: Inventory) -> None:
    """One pair per client and backup server (mon1 is the lab's second backup server)."""
    clients = backup.backup_clients(lab)
    assert [(c.server.name, c.target.name) for c in clients] == [
        ("web1", "backup1"), ("web1", "mon1"), ("web2", "backup1"), ("web2", "mon1")]
    assert clients[0].repo_user == "restic-web1"
    assert clients[0].chroot == "/srv/restic/web1"


def test_retention_is_the_longest_promised_on_the_server(lab: Inventory) -> None:
    for client in backup.backup_clients(lab):
        sites = lab.sites_on(client.server.name)
        if not sites:
            assert client.retention == backup.Retention(7, 4, 3)
            continue
        plans = [lab.plan(p.client.plan) for p in sites if p.site.state.value != "absent"]
        assert client.retention.weekly == max(p.backups_kept_weekly for p in plans)
        assert client.retention.monthly == max(p.backups_kept_monthly for p in plans)
        assert client.retention.daily >= max(p.backups_kept_daily for p in plans)


def test_backup_times_are_stable_and_spread(lab: Inventory) -> None:
    times = [backup.clients_of(lab, s)[0].on_calendar for s in lab.servers
             if backup.clients_of(lab, s)]
    assert times == [backup.clients_of(lab, s)[0].on_calendar for s in lab.servers
                     if backup.clients_of(lab, s)]
    for t in times:
        hour = int(t.split()[1][:2])
        assert 1 <= hour < 5
    assert len(set(times)) == len(times)


def test_long_server_names_still_give_a_valid_unix_user(lab: Inventory) -> None:
    server = lab.server("web1").model_copy(update={"name": "a" * 31})
    client = backup.BackupClient(server, lab.server("backup1"), backup.Retention(7, 4, 3))
    assert len(client.repo_user) <= 32


@pytest.mark.skipif(shutil.which("mariadbd") is None, reason="needs mariadbd")
@pytest.mark.parametrize("env", ["lab", "example"])
def test_mariadb_reads_read_committed_from_the_rendered_file(env: str, tmp_path: Path) -> None:
    """Drupal's isolation level, as mariadbd itself reads it from each database server's
    file (a misspelt option would fail here, a missing one would read REPEATABLE-READ)."""
    inv = load_inventory(ROOT / "inventory" / env)
    files = [f for s in inv.servers for f in database_files(inv, s)]
    assert files
    for f in files:
        cnf = tmp_path / "my.cnf"
        cnf.write_text(render(f.template, **f.context))
        done = subprocess.run(["mariadbd", f"--defaults-file={cnf}", "--help", "--verbose"],
                              capture_output=True, text=True, check=True, timeout=60)
        values = dict(line.split(None, 1) for line in done.stdout.splitlines()
                      if line.startswith("transaction-isolation "))
        assert values == {"transaction-isolation": "READ-COMMITTED"}, f.dest
