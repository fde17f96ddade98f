"""The ``koumbit-infra`` command.

Exit status: 0 success (warnings may be printed); 1 unexpected failure;
2 invalid inventory or usage (nothing was touched); 3 lab failure;
deploys return pyinfra's own exit status.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from koumbit_infra.envs import DEFAULT_ENV, load_env
from koumbit_infra.inventory import Inventory, InventoryError
from koumbit_infra.summary import render_text, summarise

env_option = click.option(
    "--env", default=DEFAULT_ENV, show_default=True,
    help="Environment: a folder under inventory/ (lab is the embedded default).",
)
inventory_option = click.option(
    "--inventory", "inventory_dir", type=click.Path(file_okay=False, path_type=Path),
    default=None, help="Folder holding the environments (default: ./inventory).",
)


def load_or_exit(env: str, inventory_dir: Path | None = None) -> Inventory:
    """Load an environment; on problems print each as file:line and exit 2."""
    try:
        inv = load_env(env, inventory_dir)
    except InventoryError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        errors = sum(p.severity.value == "error" for p in exc.problems)
        click.echo(f"inventory '{env}' is invalid: {errors} error(s); no server was contacted",
                   err=True)
        sys.exit(InventoryError.exit_code)
    for warning in inv.warnings:
        click.echo(str(warning), err=True)
    return inv


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="koumbit-infra")
def main() -> None:
    """koumbit-infra: inventory, lab, deploys, exporter and costs of the Infra team.

    Exit status: 0 success; 1 unexpected failure; 2 invalid inventory or usage
    (nothing touched); 3 lab failure; deploy returns pyinfra's status.
    """


@main.command()
@env_option
@inventory_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def check(env: str, inventory_dir: Path | None, as_json: bool) -> None:
    """Validate an inventory and print a short summary (exit 2 with file:line if invalid)."""
    if as_json:
        try:
            inv = load_env(env, inventory_dir)
        except InventoryError as exc:
            click.echo(json.dumps({"valid": False,
                                   "problems": [p.as_dict() for p in exc.problems]}, indent=2))
            sys.exit(InventoryError.exit_code)
        click.echo(json.dumps({"valid": True, **summarise(inv)}, indent=2, ensure_ascii=False))
        return
    click.echo(render_text(summarise(load_or_exit(env, inventory_dir))))


@main.command()
def reference() -> None:
    """Print the inventory reference (every file, key, type and meaning) as Markdown."""
    from koumbit_infra.inventory.reference import render_reference

    click.echo(render_reference())
