"""The lab's promises, checked on its real servers: systemd, SSH, apt, network, idempotence."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from koumbit_infra.lab import down, network, nspawn, status, up
from koumbit_infra.lab.procs import children
from koumbit_infra.lab.ssh import remote
from koumbit_infra.operations.packages import APT_IDLE

if TYPE_CHECKING:
    from conftest import Lab  # tests/lab/conftest.py; only for annotations

Done = subprocess.CompletedProcess[str]

pytestmark = pytest.mark.lab


def pyinfra(lab: Lab, known_hosts: Path, *command: str) -> Done:
    hosts = ",".join(str(s.address) for s in lab.servers)
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", hosts, "--user", "root", "--key", str(lab.paths.ssh_key),
         "--data", f"ssh_known_hosts_file={known_hosts}",
         "--data", "ssh_strict_host_key_checking=yes",
         "-y", "exec", "--", *command],
        capture_output=True, text=True, timeout=120, check=False,
    )


def on_all(lab: Lab, command: str, timeout: float = 300) -> dict[str, Done]:
    with ThreadPoolExecutor(len(lab.servers)) as pool:
        done = pool.map(lambda s: remote(s, lab.paths, command, timeout=timeout), lab.servers)
        return {s.name: result for s, result in zip(lab.servers, done, strict=True)}


def test_every_server_answers_running_through_pyinfra(lab: Lab) -> None:
    result = pyinfra(lab, lab.paths.known_hosts, "systemctl", "is-system-running")
    output = result.stdout + result.stderr  # pyinfra logs command output on stderr
    assert result.returncode == 0, output
    for server in lab.servers:
        assert f"[{server.address}] running" in output, output


def test_host_keys_are_checked_strictly(lab: Lab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    result = pyinfra(lab, empty, "true")
    assert result.returncode != 0
    assert "No host key" in result.stdout + result.stderr
    pinned = lab.paths.known_hosts.read_text()
    for server in lab.servers:
        assert f"{server.address} ssh-ed25519 " in pinned


def test_each_server_has_its_own_identity(lab: Lab) -> None:
    answers = on_all(lab, "hostname; cat /etc/machine-id; "
                          "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
    for name, result in answers.items():
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == name
    assert len({r.stdout.splitlines()[1] for r in answers.values()}) == len(lab.servers)
    assert len({r.stdout.splitlines()[2] for r in answers.values()}) == len(lab.servers)


def test_apt_installs_a_package_through_the_proxy(lab: Lab) -> None:
    answers = on_all(
        lab,
        # As the deploys do: after the daily apt jobs a newly booted server runs.
        f"{APT_IDLE}; export DEBIAN_FRONTEND=noninteractive; apt-get purge -y -q hello"
        " >/dev/null 2>&1; apt-get clean && apt-get update -q >/dev/null && apt-get install -y"
        " -q hello >/dev/null && hello",
    )
    for name, result in answers.items():
        assert result.returncode == 0, f"{name}: {result.stdout}\n{result.stderr}"
        assert "Hello, world!" in result.stdout
    # The package came from apt-cacher-ng, to each server's own address.
    log = (lab.paths.apt_proxy_dir / "log" / "apt-cacher.log").read_text()
    for server in lab.servers:
        assert any(f"|{server.address}|" in line and "/hello_" in line
                   for line in log.splitlines()), server.name


def test_servers_reach_each_other_by_address(lab: Lab) -> None:
    probe = (
        "python3 -c 'import socket, sys\n"
        "for a in sys.argv[1:]:\n"
        "    with socket.create_connection((a, 22), 3) as c: print(a, c.recv(7).decode())' "
        + " ".join(str(s.address) for s in lab.servers)
    )
    for name, result in on_all(lab, probe).items():
        assert result.returncode == 0, f"{name}: {result.stderr}"
        for server in lab.servers:
            assert f"{server.address} SSH-2.0" in result.stdout, f"{name} -> {server.name}"


def test_servers_have_no_route_out_of_the_lab(lab: Lab) -> None:
    probe = ("python3 -c 'import socket\n"
             "try: socket.create_connection((\"192.0.2.1\", 80), 3)\n"
             "except OSError as e: print(e.errno)'")
    for name, result in on_all(lab, probe).items():
        # 101 is ENETUNREACH: refused inside the container, nothing left it.
        assert result.stdout.strip() == "101", f"{name}: {result.stdout} {result.stderr}"


def test_up_again_is_a_no_op(lab: Lab) -> None:
    # How quick it is, bench/lab.py measures (timings do not belong in tests).
    again = up(lab.servers)
    assert not again.changed, again.changes
    assert all(s.running and s.ssh for s in again.servers), again.as_dict()


def test_a_stopped_server_is_started_again_by_up(lab: Lab) -> None:
    victim = lab.servers[-1]
    stopped = down([victim])
    assert stopped.changes == (f"{victim.name}: stopped",)
    after = status(lab.servers)
    assert not after.server(victim.name).running
    assert all(s.running for s in after.servers if s.name != victim.name)
    # A link of an earlier boot that outlived its container (the kernel ends it
    # late, systemd#2173) made nspawn refuse the next boot: "File exists".
    # Right after `down` the old link is often still there (seen in this very test);
    # it is replaced by one that surely stays, so `up` must deal with it every time.
    link = network.container_link(victim.name)
    assert link is not None
    subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
    # A veth pair, as nspawn makes (the lab host has no dummy links); its other end goes with it.
    subprocess.run(["ip", "link", "add", link, "type", "veth", "peer", "name", "kl-stale-peer"],
                   check=True)
    again = up(lab.servers)
    assert any(c.startswith(f"{victim.name}: booted") for c in again.changes), again.changes
    assert all(s.running and s.ssh for s in again.servers), again.as_dict()
    port = subprocess.run(["ip", "-j", "link", "show", link], capture_output=True, text=True,
                          check=True)
    assert f'"master":"{network.BRIDGE}"' in port.stdout.replace(" ", ""), port.stdout



def test_each_server_has_its_own_host_cgroup(lab: Lab) -> None:
    # Regression: all containers once shared the host cgroup /payload, so one
    # server's systemd tore down the unit cgroups of the others (219/CGROUP).
    for server in lab.servers:
        leader = nspawn.leader_pid(lab.paths, server.name)
        assert leader is not None
        (init,) = children(leader)
        cgroup = Path(f"/proc/{init}/cgroup").read_text()
        assert f"name=systemd:/koumbit-lab/{server.name}/payload/" in cgroup, cgroup


def test_stopping_a_unit_on_one_server_leaves_the_same_unit_on_another_alone(lab: Lab) -> None:
    one, two = lab.servers[0], lab.servers[1]
    unit = "koumbit-probe"
    start = f"systemctl stop {unit} 2>/dev/null; systemd-run -q --unit={unit} sleep 600"
    for server in (one, two):
        assert remote(server, lab.paths, start).returncode == 0
    assert remote(one, lab.paths, f"systemctl stop {unit}").returncode == 0
    still = remote(two, lab.paths, f"systemctl is-active {unit}; systemctl stop {unit}")
    assert still.stdout.strip() == "active"
