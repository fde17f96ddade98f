"""A changed copy of an environment's inventory, for lab tests and benchmarks.

Tests and ``bench/sites.py`` change a site's state or add sites without
touching the reviewed inventory: the copy lives in a scratch folder with its
own ``<env>.py`` pyinfra inventory beside it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

Clients = dict[str, dict[str, Any]]

_PYINFRA_FILE = '''"""pyinfra inventory of a scratch copy of an environment (sites.variant)."""

from pathlib import Path

from koumbit_infra.pyinfra_inventory import groups as _groups

globals().update(_groups(Path(__file__).with_suffix("")))
'''


def write_variant(src: Path, base: Path, edit: Callable[[Clients], None]) -> Path:
    """Copy ``src`` (inventory/<env>) to ``base/<env>``, apply ``edit`` to its clients.

    ``edit`` gets every client file as a dict keyed by slug, and may change,
    add or delete them. Answers the ``<env>.py`` file to give pyinfra.
    """
    dest = base / src.name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    clients_dir = dest / "clients"
    clients: Clients = {p.stem: yaml.safe_load(p.read_text()) for p in clients_dir.glob("*.yaml")}
    edit(clients)
    for path in clients_dir.glob("*.yaml"):
        path.unlink()
    for slug, data in clients.items():
        (clients_dir / f"{slug}.yaml").write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    env_file = base / f"{src.name}.py"
    env_file.write_text(_PYINFRA_FILE)
    return env_file


def scratch_client(slug: str, sites: list[dict[str, Any]],
                   plan: str = "essentiel") -> dict[str, Any]:
    """A client file with ``sites``, for scratch inventories."""
    return {"slug": slug, "name": f"Essai {slug}", "plan": plan,
            "monthly_price_paid_cad": "0.00",
            "contact": {"name": "Infra", "email": f"infra@{slug}.test"}, "sites": sites}


def add_admin(env_dir: Path, name: str, full_name: str, public_key: str) -> None:
    """Add an admin with ``public_key`` to the copy ``env_dir`` (made by write_variant).

    The lab's recovery drill makes the lab's own key an admin's, since the real
    admins' private keys are not on the lab host.
    """
    path = env_dir / "servers.yaml"
    data = yaml.safe_load(path.read_text())
    data["admins"] = [a for a in data.get("admins", []) if a.get("name") != name]
    data["admins"].append({"name": name, "full_name": full_name,
                           "ssh_keys": [public_key.strip()]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
