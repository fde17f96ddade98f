"""``koumbit-infra server recover NAME``: rebuild a lost server and bring its sites back.

Exit status: 0 every site restored (or, with --dry, every site has a snapshot);
1 a step failed or a site was not restored (each is named); 2 refused before anything
was touched (bad usage, a server that is not a backup client, one that was not lost).
SSH settings are the other commands' (``koumbit_infra.remote``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import click
from fabric import Connection

from koumbit_infra.clikit import (
    env_option,
    inventory_option,
    open_inventory,
    pyinfra_inventory_file,
)
from koumbit_infra.recover.errors import RecoverError


@click.group("server")
def server_group() -> None:
    """Act on a whole server: recover one that was lost."""


@server_group.command("recover")
@env_option
@inventory_option
@click.argument("name")
@click.option("--dry", is_flag=True,
              help="Only list, from the backup target, what would be restored; touch nothing.")
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="An admin's private SSH key (default ~/.ssh/id_ed25519, then ~/.ssh/id_rsa).")
@click.option("--from", "source", default=None,
              help="The backup target to use (default: the first that answers).")
def recover_command(*, env: str, inventory_dir: Path | None, name: str, dry: bool,
                    identity: Path | None, source: str | None) -> None:
    """Rebuild server NAME, lost or re-installed empty, and restore every site it holds.

    Uses only the escrow on a backup target and an admin's SSH key: NAME's repository
    password is decrypted here with `age`, put on NAME, NAME and the targets are
    deployed, then each site comes back from its newest snapshot (older ones if a
    restore fails). Prints per site the snapshot used and its age. Run it with --dry
    first. Safe to run again after an interruption.
    """
    from koumbit_infra.deploy_cli import DEPLOY_FILE, pyinfra_argv, run_pyinfra
    from koumbit_infra.recover import escrow
    from koumbit_infra.recover.steps import Seams, recover
    from koumbit_infra.remote import connect

    inv = open_inventory(env, inventory_dir)
    key = escrow.identity_file(identity, Path.home())
    env_file = pyinfra_inventory_file(env, inventory_dir)

    def reach(server: str) -> AbstractContextManager[Connection]:
        return connect(inv, server)  # type: ignore[no-any-return]

    def deploy(limits: tuple[str, ...]) -> int:
        return run_pyinfra(pyinfra_argv(env_file, DEPLOY_FILE, limits, False, False))

    seams = Seams(reach, deploy, click.echo, lambda: datetime.now(UTC))
    outcomes = recover(inv, name, identity=key, source=source, dry=dry, seams=seams)
    failed = [o.domain for o in outcomes if not o.restored]
    if failed:
        raise RecoverError(f"{name}: {len(failed)} site(s) NOT restored: {', '.join(failed)};"
                           " see above why, then run recover again or restore each with"
                           " koumbit-infra site restore DOMAIN --list")
    if not dry:
        click.echo(f"{name}: recovered, {len(outcomes)} site(s) restored")
