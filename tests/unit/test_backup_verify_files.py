"""What a backup target's verification is told, and how it is written: the lab and
example inventories rendered, names that could reach a shell refused, the schedule.

The script itself runs for real in tests/unit/test_backup_verify_script.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Cms, Role, SiteState
from koumbit_infra.serverconf.backupverify import (
    SCRIPT,
    VerifiedSite,
    verification,
    verify_files,
)
from koumbit_infra.templating import render

ENVS = ("lab", "example")


def rendered(env: str, server: str | None = None) -> dict[str, str]:
    inv = load_env(env)
    target = inv.server(server) if server else inv.servers_with(Role.BACKUP)[0]
    return {f.dest: render(f.template, **f.context) for f in verify_files(inv, target)}


def data_section(script: str, function: str) -> list[str]:
    found = re.search(rf"^{function}\(\) {{\n    cat <<'EOF'\n(.*?)^EOF$", script,
                      re.MULTILINE | re.DOTALL)
    assert found, function
    return found[1].splitlines()


@pytest.mark.parametrize("env", ENVS)
def test_every_present_site_of_every_client_is_proven_on_each_target(env: str) -> None:
    inv = load_env(env)
    for target in inv.servers_with(Role.BACKUP):
        script = rendered(env, target.name)[SCRIPT]
        sites = {tuple(line.split()[:4]) for line in data_section(script, "sites")}
        expected = {(p.site.server, p.site.system_name, p.site.domain, p.site.cms.value)
                    for p in inv.placed_sites() if p.site.state is not SiteState.ABSENT
                    and not inv.server(p.site.server).has(Role.BACKUP)}
        assert sites == expected
        repos = {line.split()[0] for line in data_section(script, "repositories")}
        assert repos == {s.name for s in inv.servers if not s.has(Role.BACKUP)}
        assert f"target='{target.name}'" in script


def test_nothing_is_written_for_a_server_that_holds_no_backups() -> None:
    inv = load_env("lab")
    assert verify_files(inv, inv.server("web1")) == ()
    assert verification(inv, inv.server("web2")) is None
    assert verification(inv, inv.server("mon1")) is not None  # the lab's second target


def test_cms_tables_follow_the_codebase() -> None:
    lab, example = load_env("lab"), load_env("example")
    lab_sites = {s.cms: s.tables for r in verification(lab, lab.server("backup1")).repositories
                 for s in r.sites}
    assert lab_sites[Cms.WORDPRESS] == ("wp_posts", "wp_options", "wp_users")
    # The lab's Drupal is a stand-in that makes one table (see its README).
    assert lab_sites[Cms.DRUPAL] == ("koumbit_wiring",)
    target = example.servers_with(Role.BACKUP)[0]
    found = verification(example, target)
    assert found is not None
    drupal = {s.tables for r in found.repositories for s in r.sites if s.cms is Cms.DRUPAL}
    assert drupal == {("users", "node", "config")}


@pytest.mark.parametrize("env", ENVS)
def test_script_passes_sh_and_shellcheck(env: str, tmp_path: Path) -> None:
    path = tmp_path / "koumbit-backup-verify"
    path.write_text(rendered(env)[SCRIPT])
    done = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (scripts/host-packages.txt)")
    done = subprocess.run(["shellcheck", "-s", "sh", str(path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("env", ENVS)
def test_inventory_strings_appear_only_as_data(env: str) -> None:
    """Every name and domain of the inventory is in the quoted heredocs or target='...'."""
    inv = load_env(env)
    script = rendered(env)[SCRIPT]
    outside = script
    for function in ("repositories", "sites"):
        outside = outside.replace("\n".join(data_section(script, function)), "")
    words = {s.name for s in inv.servers if not s.has(Role.BACKUP)}
    words |= {w for p in inv.placed_sites() for w in (p.site.system_name, p.site.domain)}
    for word in words:
        assert word not in outside, word
    target = inv.servers_with(Role.BACKUP)[0].name
    lines = [line for line in outside.splitlines() if target in line]
    assert f"target='{target}'" in lines
    assert all(line == f"target='{target}'" or line.startswith("#") for line in lines), lines


@pytest.mark.parametrize("hostile", [
    "a b", "x'; rm -rf / #", "$(id)", "`id`", "a\nEOF\nid", "", "-rf", "a\\b", 'a"b', "a;b",
])
def test_a_name_that_could_reach_the_shell_is_refused(hostile: str) -> None:
    inv = load_env("lab")
    found = verification(inv, inv.server("backup1"))
    assert found is not None
    site = found.repositories[0].sites[0]
    for bad in (replace(site, domain=hostile), replace(site, name=hostile),
                replace(site, tables=(hostile,))):
        with pytest.raises(ValueError, match="cannot be written"):
            _ = bad.data_line
    assert isinstance(site, VerifiedSite) and site.data_line


def test_days_and_minute_spread_and_stay_the_same() -> None:
    inv = load_env("example")
    target = inv.servers_with(Role.BACKUP)[0]
    first, second = verification(inv, target), verification(load_env("example"), target)
    assert first == second
    assert first is not None
    slots = [s.slot for r in first.repositories for s in r.sites]
    assert all(0 <= s < 7 for s in slots)
    assert len(set(slots)) >= 4, "sites are not spread over the week"
    assert re.fullmatch(r"\*-\*-\* \*:[0-5]\d:00", first.on_calendar)


def test_the_interval_and_read_share_reach_the_script() -> None:
    inv = load_env("lab")
    settings = inv.settings.model_copy(update={"backup_verify_interval_days": 3,
                                               "backup_check_read_data_percent": 25})
    found = verification(replace(inv, settings=settings), inv.server("backup1"))
    assert found is not None
    assert (found.interval_days, found.read_data_percent) == (3, 25)
    assert all(0 <= s.slot < 3 for r in found.repositories for s in r.sites)


def test_the_service_is_sandboxed_and_the_timer_hourly() -> None:
    files = rendered("lab")
    service = files["/etc/systemd/system/koumbit-backup-verify.service"]
    for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                 "IPAddressDeny=any", "ProtectHome=yes", "Type=oneshot"):
        assert line in service.splitlines(), line
    writable = re.search(r"^ReadWritePaths=(.*)$", service, re.MULTILINE)
    assert writable and set(writable[1].split()) == {
        "-/var/lib/koumbit-backup", "-/srv/restic", "-/var/cache/koumbit-backup",
        "-/var/lib/prometheus/node-exporter"}
    timer = files["/etc/systemd/system/koumbit-backup-verify.timer"]
    assert re.search(r"^OnCalendar=\*-\*-\* \*:\d\d:00$", timer, re.MULTILINE)
