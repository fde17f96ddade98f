"""Where environments' inventories live, and loading one by name.

Precedence, first found wins:
1. ``--inventory DIR`` on the command line;
2. the ``KOUMBIT_INVENTORY`` environment variable;
3. ``./inventory`` in the current directory;
4. the ``inventory/`` folder of the source checkout this package runs from.
"""

from __future__ import annotations

import os
from pathlib import Path

from koumbit_infra.inventory import Inventory, load_inventory

DEFAULT_ENV = "lab"
CHECKOUT = Path(__file__).resolve().parent.parent


def inventory_base(explicit: Path | None = None) -> Path:
    """The folder holding one sub-folder per environment."""
    if explicit is not None:
        return explicit
    if env := os.environ.get("KOUMBIT_INVENTORY"):
        return Path(env)
    here = Path("inventory")
    if here.is_dir():
        return here
    return CHECKOUT / "inventory"


def load_env(env: str = DEFAULT_ENV, base: Path | None = None) -> Inventory:
    """Load and validate ``inventory/<env>``; raises InventoryError with every problem."""
    return load_inventory(inventory_base(base) / env)


def pyinfra_file(env: str = DEFAULT_ENV, base: Path | None = None) -> Path:
    """``<inventory folder>/<env>.py``: the environment as pyinfra reads it, same precedence."""
    return inventory_base(base) / f"{env}.py"
