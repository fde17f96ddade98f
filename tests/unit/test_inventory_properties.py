"""Property tests: generated valid inventories load; each known mistake is caught."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koumbit_infra.inventory import InventoryError, load_inventory
from koumbit_infra.inventory.synthetic import Shape, generate

Files = dict[str, Any]


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    clients = draw(st.integers(1, 25))
    return Shape(
        clients=clients,
        sites=draw(st.integers(clients, clients * 3)),
        web_servers=draw(st.integers(1, 4)),
        seed=draw(st.integers(0, 10_000)),
    )


def _write(files: Files, root: Path) -> Path:
    (root / "clients").mkdir(parents=True)
    for rel, data in files.items():
        (root / rel).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return root


def _clients(files: Files) -> list[str]:
    return sorted(k for k in files if k.startswith("clients/"))


def _first_site(files: Files) -> dict[str, Any]:
    return files[_clients(files)[0]]["sites"][0]  # type: ignore[no-any-return]


def dup_domain(f: Files) -> str:
    names = _clients(f)
    f[names[-1]]["sites"].append({**_first_site(f), "aliases": []})
    return "already used at"


def unknown_server(f: Files) -> str:
    _first_site(f)["server"] = "nowhere"
    return "unknown server 'nowhere'"


def unknown_plan(f: Files) -> str:
    f[_clients(f)[0]]["plan"] = "platine"
    return "unknown plan 'platine'"


def negative_price(f: Files) -> str:
    f[_clients(f)[0]]["monthly_price_paid_cad"] = "-1.00"
    return "is negative"


def unknown_key(f: Files) -> str:
    _first_site(f)["colour"] = "red"
    return "unknown key 'colour'"


def solidarity_overpays(f: Files) -> str:
    client = f[_clients(f)[0]]
    client["solidarity"] = {"since": "2025-01-01"}
    client["monthly_price_paid_cad"] = "999.00"
    return "more than the list price"


def quota_above_disk(f: Files) -> str:
    _first_site(f)["disk_quota_gib"] = 10**6
    return "is larger than the disk"


def bad_fiscal_month(f: Files) -> str:
    f["budget.yaml"]["budget"]["start_month"] = 0
    return "start_month"


def site_on_backup_server(f: Files) -> str:
    _first_site(f)["server"] = "backup1"
    return "has no web role"


def slug_mismatch(f: Files) -> str:
    f[_clients(f)[0]]["slug"] = "zz-autre-nom"
    return "differs from the file name"


MUTATIONS: list[Callable[[Files], str]] = [
    dup_domain, unknown_server, unknown_plan, negative_price, unknown_key,
    solidarity_overpays, quota_above_disk, bad_fiscal_month, site_on_backup_server,
    slug_mismatch,
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes())
def test_generated_inventories_load(shape: Shape) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        inv = load_inventory(_write(generate(shape), Path(tmp) / "inv"))
    assert len(inv.clients) == shape.clients
    assert sum(1 for _ in inv.placed_sites()) == shape.sites


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes(), st.sampled_from(MUTATIONS))
def test_each_known_mistake_is_caught(shape: Shape, mutate: Callable[[Files], str]) -> None:
    files = copy.deepcopy(generate(shape))
    expected = mutate(files)
    with tempfile.TemporaryDirectory() as tmp:
        root = _write(files, Path(tmp) / "inv")
        try:
            load_inventory(root)
        except InventoryError as exc:
            messages = [str(p) for p in exc.problems]
        else:
            raise AssertionError(f"{mutate.__name__} was not caught")
    assert any(expected in m for m in messages), (mutate.__name__, messages)
    assert all(":" in m.split(" ")[0] for m in messages)  # every problem names file:line
