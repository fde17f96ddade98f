"""`pyinfra inventory/<env>.py` is built from the validated model, and refuses a broken one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from brokencases import build, load_cases

from koumbit_infra.envs import CHECKOUT
from koumbit_infra.lab import sitedns
from koumbit_infra.pyinfra_inventory import groups

PYINFRA = Path(sys.executable).parent / "pyinfra"


def test_groups_by_role_with_sites_per_host() -> None:
    found = groups(CHECKOUT / "inventory" / "example")
    web = dict(found["web"])
    assert set(web) == {"web1", "web2", "web3", "web4"}
    assert [h for h, _ in found["backup"]] == ["backup1"]
    assert [h for h, _ in found["monitor"]] == ["mon1"]
    data = web["web1"]
    assert data["ssh_hostname"] == "192.0.2.10"
    assert data["roles"] == ["db", "web"]
    assert data["sites"] and all(s["system_name"] for s in data["sites"])
    assert "ssh_key" not in data  # only the lab brings its own key


def test_lab_hosts_use_the_lab_key_and_strict_known_hosts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Not the lab's DNS: a unit test tells no running lab anything.
    monkeypatch.setattr(sitedns, "publish", lambda records: None)
    data = dict(groups(CHECKOUT / "inventory" / "lab")["all_servers"])["web1"]
    assert data["ssh_strict_host_key_checking"] == "yes"
    assert data["ssh_known_hosts_file"].endswith("known_hosts")
    assert data["ssh_key"]


def test_pyinfra_debug_inventory_lists_hosts_roles_and_sites() -> None:
    result = subprocess.run(
        [str(PYINFRA), "inventory/example.py", "debug-inventory", "--json"],
        cwd=CHECKOUT, capture_output=True, text=True, timeout=120, check=True,
    )
    hosts = {h["name"]: h for h in json.loads(result.stdout[result.stdout.index("["):])}
    assert set(hosts) == {"web1", "web2", "web3", "web4", "backup1", "mon1"}
    assert {"web", "db"} <= set(hosts["web2"]["groups"])
    assert len(hosts["web2"]["data"]["sites"]) > 10


def test_pyinfra_refuses_a_broken_inventory_before_connecting(tmp_path: Path) -> None:
    case = next(c for c in load_cases() if c["name"] == "unknown-plan")
    build(case, tmp_path / "broken")
    shutil.copy(CHECKOUT / "inventory" / "example.py", tmp_path / "broken.py")
    result = subprocess.run(
        [str(PYINFRA), "broken.py", "debug-inventory"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2
    assert "broken/clients/comite-parents.yaml:3: unknown plan 'premium'" in result.stderr
    assert "no server was contacted" in result.stderr
