"""What every ``koumbit-infra`` command shares: the --env and --inventory options, and
loading the chosen inventory.

Sub-command modules import this, never ``koumbit_infra.cli`` (which imports them).
Where inventories are found is ``koumbit_infra.envs``' precedence: --inventory,
then KOUMBIT_INVENTORY, then ./inventory, then the checkout's inventory/.
"""

from __future__ import annotations

from pathlib import Path

import click

from koumbit_infra.envs import DEFAULT_ENV, load_env, pyinfra_file
from koumbit_infra.errors import KoumbitError
from koumbit_infra.inventory import Inventory
from koumbit_infra.inventory.text import escaped

env_option = click.option(
    "--env", default=DEFAULT_ENV, show_default=True,
    help="Environment: a folder under the inventory folder (lab is the embedded default).",
)
inventory_option = click.option(
    "--inventory", "inventory_dir", type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding the environments (default: $KOUMBIT_INVENTORY, else ./inventory).",
)


def open_inventory(env: str, inventory_dir: Path | None) -> Inventory:
    """The environment's validated inventory, its warnings printed on stderr.

    An invalid one raises InventoryError (every problem as file:line, exit 2),
    before anything is contacted.
    """
    inv = load_env(env, inventory_dir)
    for warning in inv.warnings:
        click.echo(str(warning), err=True)
    return inv


def pyinfra_inventory_file(env: str, inventory_dir: Path | None) -> Path:
    """``<env>.py`` beside the environment's folder, resolved; exit 2 if there is none."""
    path = pyinfra_file(env, inventory_dir)
    if not path.is_file():
        raise KoumbitError(f"no pyinfra inventory file {escaped(str(path))}; write one beside"
                           f" {escaped(env)}/"
                           " (see inventory/lab.py)", 2)
    return path.resolve()
