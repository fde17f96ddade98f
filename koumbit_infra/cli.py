"""The ``koumbit-infra`` command.

Exit status: 0 success (warnings may be printed); 1 unexpected failure, or a step
that failed on a server; 2 invalid inventory or usage (nothing was touched); 3 lab
failure; deploys return pyinfra's own exit status. The status of every failure a
person can act on is its KoumbitError's, set where it is raised (koumbit_infra.errors).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from koumbit_infra.clikit import env_option, inventory_option, open_inventory
from koumbit_infra.envs import load_env
from koumbit_infra.errors import KoumbitError
from koumbit_infra.inventory import InventoryError
from koumbit_infra.summary import render_text, summarise

# Sub-commands live beside their code and are imported only when used, so
# `koumbit-infra check` does not pay for importing pyinfra or prometheus_client.
LAZY_COMMANDS = {
    "lab": "koumbit_infra.lab.cli:lab_group",
    "deploy": "koumbit_infra.deploy_cli:deploy",
    "site": "koumbit_infra.sites.cli:site_group",
    "sites": "koumbit_infra.sites.cli:sites_group",
    "server": "koumbit_infra.recover.cli:server_group",
    "run": "koumbit_infra.sites.cli:run_command",
    "exporter": "koumbit_infra.monitoring.cli:exporter_command",
    "cost": "koumbit_infra.cost.cli:cost_group",
    "report": "koumbit_infra.report.cli:report_command",
    "budget": "koumbit_infra.budget.cli:budget_group",
    "codebases": "koumbit_infra.codebases.cli:codebases_group",
}


class TopGroup(click.Group):
    """The ``koumbit-infra`` group: sub-commands loaded when used, KoumbitError handled here.

    Every failure a person can act on is a KoumbitError raised wherever it is found;
    this is the one place that turns it into its message on stderr and its exit status.
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KoumbitError as exc:
            click.echo(exc.explain(), err=True)
            ctx.exit(exc.exit_code)

    def list_commands(self, ctx: click.Context) -> list[str]:
        found = [name for name in LAZY_COMMANDS if self._module_exists(name)]
        return sorted([*super().list_commands(ctx), *found])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and self._module_exists(cmd_name):
            module_name, attr = LAZY_COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    @staticmethod
    def _module_exists(cmd_name: str) -> bool:
        """Commands whose module is not written yet are simply not offered."""
        from importlib.util import find_spec

        module_name = LAZY_COMMANDS[cmd_name].split(":")[0]
        try:
            return find_spec(module_name) is not None
        except ModuleNotFoundError:
            return False


@click.group(cls=TopGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    click.echo(render_text(summarise(open_inventory(env, inventory_dir))))


@main.command()
def reference() -> None:
    """Print the inventory reference (every file, key, type and meaning) as Markdown."""
    from koumbit_infra.inventory.reference import render_reference

    click.echo(render_reference())
