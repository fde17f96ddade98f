"""Pure parts of running the lab: paths, nspawn and ssh command lines, status parsing."""

from __future__ import annotations

import subprocess
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from koumbit_infra.lab import LabError, LabServer, LabStatus, ServerStatus, lab_paths, ssh_argv
from koumbit_infra.lab.cgroups import hierarchy_mounts, remove_tree
from koumbit_infra.lab.nspawn import clean_console, nspawn_argv
from koumbit_infra.lab.paths import DEFAULT_ROOT, LabPaths
from koumbit_infra.lab.procs import pid_alive
from koumbit_infra.lab.ssh import parse_system_state, system_state_command
from koumbit_infra.releases import Debian

WEB1 = LabServer("web1", IPv4Address("10.77.0.11"))


def test_default_state_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOUMBIT_LAB_ROOT", raising=False)
    paths = lab_paths()
    assert paths.root == DEFAULT_ROOT == Path("/var/lib/koumbit-lab")
    assert paths.ssh_key == Path("/var/lib/koumbit-lab/ssh/id_ed25519")
    assert paths.known_hosts == Path("/var/lib/koumbit-lab/ssh/known_hosts")
    assert paths.base_dir(Debian.BOOKWORM) == Path("/var/lib/koumbit-lab/base")
    assert paths.machine_dir("web1") == Path("/var/lib/koumbit-lab/machines/web1")
    assert paths.console_log("web1") == Path("/var/lib/koumbit-lab/console/web1.log")


def test_state_root_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOUMBIT_LAB_ROOT", "/srv/lab/state/")
    assert lab_paths().machines_dir == Path("/srv/lab/state/machines")


@pytest.mark.parametrize("root", ["relative/dir", "/", "/srv"])
def test_state_root_that_could_be_a_system_dir_is_refused(
    monkeypatch: pytest.MonkeyPatch, root: str
) -> None:
    monkeypatch.setenv("KOUMBIT_LAB_ROOT", root)
    with pytest.raises(LabError, match="KOUMBIT_LAB_ROOT"):
        lab_paths()


def test_ssh_argv_pins_key_and_known_hosts_strictly() -> None:
    argv = ssh_argv(WEB1, paths=LabPaths(Path("/x/lab")), command=["systemctl", "status"])
    assert argv[0] == "ssh"
    assert argv[-3:] == ["root@10.77.0.11", "systemctl", "status"]
    joined = " ".join(argv)
    assert "-i /x/lab/ssh/id_ed25519" in joined
    assert "UserKnownHostsFile=/x/lab/ssh/known_hosts" in joined
    assert "StrictHostKeyChecking=yes" in joined
    assert "IdentitiesOnly=yes" in joined
    assert "-F /dev/null" in joined


def test_nspawn_argv_boots_detached_from_host_systemd() -> None:
    argv = nspawn_argv(Path("/x/lab/machines/web1"), "web1")
    assert argv[:3] == ["systemd-nspawn", "-D", "/x/lab/machines/web1"]
    for flag in ("--boot", "--register=no", "--keep-unit", "--network-bridge=br-koumbit",
                 "--link-journal=no", "--resolv-conf=off"):
        assert flag in argv
    assert argv[argv.index("-M") + 1] == "web1"


def test_console_tail_drops_terminal_escapes_and_blank_lines() -> None:
    text = ("\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39mssh.service\x1b[0m.\r\n\r\n"
            "one\r\ntwo\r\nthree\r\n")
    assert clean_console(text, 3) == "one\ntwo\nthree"
    assert clean_console(text, 10).splitlines()[0] == "  OK  ] Started ssh.service."


@pytest.mark.parametrize(
    ("output", "state", "failed"),
    [
        ("running\n--- failed units ---\n", "running", ()),
        ("degraded\n--- failed units ---\nnvme-cli.service loaded failed failed NVMe\n"
         "openipmi.service loaded failed failed IPMI\n",
         "degraded", ("nvme-cli.service", "openipmi.service")),
        ("starting\n--- failed units ---\n", "starting", ()),
        ("", None, ()),
    ],
)
def test_system_state_parsing(output: str, state: str | None, failed: tuple[str, ...]) -> None:
    parsed = parse_system_state(output)
    assert parsed.state == state
    assert parsed.failed_units == failed


def test_system_state_command_waits_only_when_asked() -> None:
    assert "is-system-running --wait;" in system_state_command(wait=True)
    assert "is-system-running;" in system_state_command(wait=False)


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while pid_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_alive(child.pid)  # exited but not yet reaped: a zombie
    child.wait()


def test_status_as_dict_is_json_ready() -> None:
    ok = ServerStatus("web1", WEB1.address, True, 42, True, "running")
    bad = ServerStatus("mon1", IPv4Address("10.77.0.31"), True, 43, True, "degraded",
                       ("x.service",))
    lab = LabStatus((ok, bad), changes=("web1: booted",))
    data = lab.as_dict()
    assert data["ready"] is False
    assert data["changed"] is True
    assert data["servers"] == [ok.as_dict(), bad.as_dict()]
    assert ok.as_dict()["address"] == "10.77.0.11"
    assert lab.server("mon1").failed_units == ("x.service",)


MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
"""


def test_servers_get_cgroups_in_the_hierarchies_systemd_uses() -> None:
    assert hierarchy_mounts(MOUNTINFO) == [Path("/sys/fs/cgroup/systemd"),
                                           Path("/sys/fs/cgroup/unified")]
    pure_v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    assert hierarchy_mounts(pure_v2) == [Path("/sys/fs/cgroup")]


def test_cgroup_trees_are_removed_deepest_first_and_busy_ones_kept(tmp_path: Path) -> None:
    group = tmp_path / "koumbit-lab" / "web1"
    (group / "payload" / "system.slice" / "nginx.service").mkdir(parents=True)
    (group / "supervisor").mkdir()
    busy = tmp_path / "koumbit-lab" / "web2" / "payload"
    busy.mkdir(parents=True)
    (busy / "cgroup.procs").write_text("42\n")  # stands for a cgroup that still has processes
    remove_tree(tmp_path / "koumbit-lab")
    assert not group.exists()
    assert busy.is_dir()
