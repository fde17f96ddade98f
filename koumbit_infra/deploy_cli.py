"""``koumbit-infra deploy``: every server concern (deploys/all.py) through pyinfra.

The inventory is validated first (exit 2, nothing contacted, if invalid), from the
folder --inventory, KOUMBIT_INVENTORY or the defaults choose, as every command does;
then pyinfra runs from the venv this program runs from, and its exit status
is returned as is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from koumbit_infra.clikit import (
    env_option,
    inventory_option,
    open_inventory,
    pyinfra_inventory_file,
)
from koumbit_infra.envs import CHECKOUT

DEPLOY_FILE = CHECKOUT / "deploys" / "all.py"


def pyinfra_argv(env_file: Path, deploy_file: Path, limit: str | tuple[str, ...] | None,
                 dry: bool, json_output: bool) -> list[str]:
    """The pyinfra command line this deploy runs (``limit``: one host or group, or several)."""
    pyinfra = Path(sys.executable).with_name("pyinfra")
    # -y skips pyinfra's change detection, which is all a dry run is for.
    argv = [str(pyinfra), *([] if dry else ["-y"]), str(env_file), str(deploy_file)]
    for one in (limit,) if isinstance(limit, str) else (limit or ()):
        argv += ["--limit", one]
    if dry:
        argv.append("--dry")
    if json_output:
        argv.append("--json")
    return argv


@click.command()
@env_option
@inventory_option
@click.option("--limit", multiple=True,
              help="Only this host or group (pyinfra --limit); repeat it for several.")
@click.option("--dry", is_flag=True, help="Show what would change; change nothing.")
@click.option("--json", "json_output", is_flag=True,
              help="pyinfra's JSON results on stdout (used by tests and bench).")
@click.option("--deploy-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEPLOY_FILE, show_default=True, help="Deploy file to run.")
def deploy(*, env: str, inventory_dir: Path | None, limit: tuple[str, ...], dry: bool,
           json_output: bool, deploy_file: Path) -> None:
    """Converge the servers of ENV to the inventory (pyinfra's exit status).

    pyinfra reads <inventory folder>/<env>.py, from the same folder as the
    inventory that was checked.
    """
    open_inventory(env, inventory_dir)  # exit 2 with every problem, before any host is contacted
    env_file = pyinfra_inventory_file(env, inventory_dir)
    sys.exit(run_pyinfra(pyinfra_argv(env_file, deploy_file.resolve(), limit, dry, json_output)))


def run_pyinfra(argv: list[str]) -> int:
    """Run a pyinfra command line, its output on this terminal; answers its exit status."""
    # pyinfra imports deploys/ from its working directory: the checkout.
    done = subprocess.run(argv, cwd=CHECKOUT, check=False,
                          env={**os.environ, "PYTHONPATH": str(CHECKOUT)})
    return done.returncode
