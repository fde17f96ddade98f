"""The lab's private network: one host bridge, static addresses in 10.77.0.0/24.

The lab touches no address outside this network and loopback: no NAT, no
forwarding, no IPv6 (link-local addressing is switched off on both ends).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_network
from pathlib import Path

from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.model import LabServer
from koumbit_infra.lab.procs import run

BRIDGE = "br-koumbit"
# systemd-nspawn(1) --network-bridge: the host end of a container's link is
# "vb-" and the machine name, when that fits a link name (15 characters).
LINK_PREFIX = "vb-"
LINK_NAME_MAX = 15
SYS_NET = Path("/sys/class/net")
NETWORK = IPv4Network("10.77.0.0/24")
HOST_INTERFACE = IPv4Interface("10.77.0.1/24")
HOST_ADDRESS = HOST_INTERFACE.ip
APT_PROXY_PORT = 3142
APT_PROXY_URL = f"http://{HOST_ADDRESS}:{APT_PROXY_PORT}"

# A DNS label: the name becomes the hostname, the nspawn machine name and a
# path component under the state root, so nothing else is allowed.
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def server_problems(servers: Sequence[LabServer]) -> list[str]:
    """Every reason these servers cannot be lab servers (empty when they can)."""
    problems: list[str] = []
    if not servers:
        problems.append("no servers given: the environment declares no server")
    reserved = {
        NETWORK.network_address: "the network address",
        HOST_ADDRESS: "the host's bridge address",
        NETWORK.broadcast_address: "the broadcast address",
    }
    names: dict[str, int] = {}
    addresses: dict[IPv4Address, str] = {}
    for server in servers:
        if not _NAME.match(server.name):
            problems.append(
                f"{server.name!r}: a lab server name must be a DNS label "
                "(lowercase letters, digits and '-', at most 63 characters)"
            )
        names[server.name] = names.get(server.name, 0) + 1
        if server.address not in NETWORK:
            problems.append(
                f"{server.name}: address {server.address} is outside the lab network {NETWORK}"
            )
        elif server.address in reserved:
            problems.append(
                f"{server.name}: address {server.address} is {reserved[server.address]} "
                f"of {NETWORK}; use .2 to .254"
            )
        if server.address in addresses:
            problems.append(
                f"{server.name}: address {server.address} is already used by "
                f"{addresses[server.address]}"
            )
        addresses.setdefault(server.address, server.name)
    problems.extend(f"{name}: declared {n} times" for name, n in names.items() if n > 1)
    return problems


def validate_servers(servers: Sequence[LabServer]) -> None:
    """Raise one LabError listing every problem, before anything is touched."""
    problems = server_problems(servers)
    if problems:
        raise LabError("these servers cannot run in the lab:\n  " + "\n  ".join(problems))


def render_network_file(address: IPv4Address) -> str:
    """systemd-networkd config of a container's ``host0``: static address, no gateway."""
    interface = IPv4Interface(f"{address}/{NETWORK.prefixlen}")
    return (
        "# Written by koumbit-infra lab. Servers reach each other and the host\n"
        "# (apt proxy) on the bridge; there is deliberately no gateway.\n"
        "[Match]\n"
        "Name=host0\n"
        "\n"
        "[Network]\n"
        f"Address={interface.with_prefixlen}\n"
        "LinkLocalAddressing=no\n"
        "IPv6AcceptRA=no\n"
    )


def _ip_json(*args: str) -> list[dict[str, object]]:
    done = run(["ip", "-j", *args], what="reading the host network")
    parsed = json.loads(done.stdout or "[]")
    return parsed if isinstance(parsed, list) else []


def bridge_exists() -> bool:
    return any(link.get("ifname") == BRIDGE for link in _ip_json("link", "show"))


def conflicting_routes(routes: Sequence[dict[str, object]]) -> list[str]:
    """Routes on other interfaces that overlap the lab network (from ``ip -j route``)."""
    found = []
    for route in routes:
        dst, dev = route.get("dst"), route.get("dev")
        if not isinstance(dst, str) or dst == "default" or dev == BRIDGE:
            continue
        try:
            net = ip_network(dst, strict=False)
        except ValueError:
            continue
        if net.version == 4 and net.overlaps(NETWORK):
            found.append(f"{dst} dev {dev}")
    return found


def ensure_bridge() -> str | None:
    """Create or repair the bridge; return what was done, None when it was already right."""
    clashes = conflicting_routes(_ip_json("-4", "route", "show"))
    if clashes:
        raise LabError(
            f"the lab network {NETWORK} is already routed elsewhere on this host "
            f"({', '.join(clashes)}); free it before running the lab"
        )
    done: list[str] = []
    links = {str(link.get("ifname")): link for link in _ip_json("-d", "link", "show")}
    if BRIDGE not in links:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"], what="creating the lab bridge")
        # Before the link goes up, so the kernel never gives it an fe80:: address.
        run(["ip", "link", "set", "dev", BRIDGE, "addrgenmode", "none"],
            what="disabling IPv6 on the lab bridge")
        done.append(f"created bridge {BRIDGE}")
    else:
        info = links[BRIDGE].get("linkinfo")
        kind = info.get("info_kind") if isinstance(info, dict) else None
        if kind != "bridge":
            raise LabError(f"{BRIDGE} exists but is a {kind or 'plain'} link, not a bridge")
    link = next(iter(_ip_json("-4", "addr", "show", "dev", BRIDGE)), {})
    if HOST_INTERFACE.with_prefixlen not in bridge_addresses(link):
        run(["ip", "addr", "add", HOST_INTERFACE.with_prefixlen, "dev", BRIDGE],
            what="addressing the lab bridge")
        done.append(f"gave {BRIDGE} address {HOST_INTERFACE}")
    flags = link.get("flags")
    if not isinstance(flags, list) or "UP" not in flags:
        run(["ip", "link", "set", "dev", BRIDGE, "up"], what="bringing the lab bridge up")
        done.append(f"brought {BRIDGE} up")
    return "; ".join(done) or None


def bridge_addresses(link: dict[str, object]) -> set[str]:
    """``ADDRESS/PREFIX`` strings of one link from ``ip -j addr show``."""
    infos = link.get("addr_info")
    if not isinstance(infos, list):
        return set()
    return {f"{a.get('local')}/{a.get('prefixlen')}" for a in infos if isinstance(a, dict)}


def quiet_bridge_ports() -> list[str]:
    """Switch IPv6 off on the host ends of the containers' links (nspawn's ``vb-*``).

    The kernel gives every new link an fe80:: address; the lab uses none, and
    nspawn creates these links itself, so they are quietened after boot.
    """
    quietened = []
    for link in _ip_json("link", "show", "master", BRIDGE):
        name = link.get("ifname")
        if not isinstance(name, str):
            continue
        knob = Path("/proc/sys/net/ipv6/conf") / name / "disable_ipv6"
        if knob.is_file() and knob.read_text().strip() != "1":
            knob.write_text("1\n")
            quietened.append(name)
    return quietened


def remove_bridge() -> bool:
    if not bridge_exists():
        return False
    run(["ip", "link", "del", BRIDGE], what="removing the lab bridge")
    return True


def container_link(name: str) -> str | None:
    """The host end of a server's link, as nspawn names it; None when nspawn would shorten it."""
    link = LINK_PREFIX + name
    return link if len(link) <= LINK_NAME_MAX else None


def _delete_link(link: str) -> None:
    # Its failure is judged below by whether the link went (it may vanish on its own).
    subprocess.run(["ip", "link", "del", link], capture_output=True, check=False,
                   stdin=subprocess.DEVNULL)


def clear_stale_link(
    name: str,
    timeout: float = 10.0,
    sys_net: Path = SYS_NET,
    delete: Callable[[str], None] = _delete_link,
) -> str | None:
    """Remove a link left by an earlier boot of a server that does not run now.

    The kernel ends a container's link when its network namespace goes, which
    can lag behind the container (systemd#2173); a link that outlived it makes
    nspawn refuse to boot ("Failed to add new veth interfaces ... File exists").
    Only call this for a server whose container is not running.
    """
    link = container_link(name)
    if link is None or not (sys_net / link).exists():
        return None
    delete(link)
    deadline = time.monotonic() + timeout
    while (sys_net / link).exists():
        if time.monotonic() > deadline:
            raise LabError(
                f"{name}: the link {link} of an earlier boot is still on the host and could"
                f" not be removed; remove it with `ip link del {link}`, then run `lab up` again"
            )
        time.sleep(0.1)
    return f"{name}: removed the link {link} left by an earlier boot"
