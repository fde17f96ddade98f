"""Lab network rules: which servers may run in the lab, and the files that give them addresses."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from koumbit_infra.lab import LabError, LabServer, validate_servers
from koumbit_infra.lab.network import (
    bridge_addresses,
    conflicting_routes,
    render_network_file,
    server_problems,
)


def srv(name: str, address: str) -> LabServer:
    return LabServer(name, IPv4Address(address))


LAB = [srv("web1", "10.77.0.11"), srv("web2", "10.77.0.12"), srv("backup1", "10.77.0.21"),
       srv("mon1", "10.77.0.31")]


def test_the_lab_inventory_is_valid() -> None:
    validate_servers(LAB)


@given(st.integers(min_value=2, max_value=254))
def test_any_host_address_of_the_lab_network_but_the_bridge_is_accepted(last: int) -> None:
    assert server_problems([srv("web1", f"10.77.0.{last}")]) == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.77.0.1", "the host's bridge address"),
        ("10.77.0.0", "the network address"),
        ("10.77.0.255", "the broadcast address"),
        ("10.77.1.5", "outside the lab network 10.77.0.0/24"),
        ("192.0.2.10", "outside the lab network"),
        ("127.0.0.1", "outside the lab network"),
    ],
)
def test_addresses_outside_or_reserved_are_refused(address: str, why: str) -> None:
    with pytest.raises(LabError) as caught:
        validate_servers([srv("web1", address)])
    assert why in caught.value.message
    assert f"web1: address {address}" in caught.value.message


def test_every_problem_is_reported_at_once() -> None:
    problems = server_problems([
        srv("web1", "10.77.0.11"), srv("web1", "10.77.0.12"), srv("web3", "10.77.0.11"),
        srv("Bad_Name", "10.77.0.40"), srv("../etc", "10.77.0.41"), srv("db1", "10.0.0.1"),
    ])
    text = "\n".join(problems)
    assert "web1: declared 2 times" in text
    assert "web3: address 10.77.0.11 is already used by web1" in text
    assert "'Bad_Name': a lab server name must be a DNS label" in text
    assert "'../etc'" in text
    assert "db1: address 10.0.0.1 is outside" in text
    assert len(problems) == 5


def test_no_servers_is_an_error() -> None:
    with pytest.raises(LabError, match="no servers"):
        validate_servers([])


def test_network_file_gives_host0_a_static_address_and_no_gateway() -> None:
    text = render_network_file(IPv4Address("10.77.0.12"))
    assert "[Match]\nName=host0\n" in text
    assert "Address=10.77.0.12/24\n" in text
    assert "LinkLocalAddressing=no" in text
    assert "Gateway" not in text.replace("no gateway", "")
    assert "DHCP" not in text


def test_routes_overlapping_the_lab_network_on_other_links_conflict() -> None:
    routes: list[dict[str, object]] = [
        {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
        {"dst": "192.0.2.0/24", "dev": "eth0"},
        {"dst": "10.77.0.0/24", "dev": "br-koumbit"},
        {"dst": "10.0.0.0/8", "dev": "tun0"},
        {"dst": "10.77.0.128/25", "dev": "eth1"},
    ]
    assert conflicting_routes(routes) == ["10.0.0.0/8 dev tun0", "10.77.0.128/25 dev eth1"]


def test_bridge_addresses_from_ip_json() -> None:
    link: dict[str, object] = {
        "ifname": "br-koumbit",
        "flags": ["BROADCAST", "UP"],
        "addr_info": [{"family": "inet", "local": "10.77.0.1", "prefixlen": 24}],
    }
    assert bridge_addresses(link) == {"10.77.0.1/24"}
    assert bridge_addresses({"ifname": "br-koumbit"}) == set()
