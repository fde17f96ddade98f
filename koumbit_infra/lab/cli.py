"""``koumbit-infra lab``: bring the lab's servers up, look at them, stop or remove them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from koumbit_infra.clikit import env_option, inventory_option, open_inventory
from koumbit_infra.lab import lifecycle
from koumbit_infra.lab.errors import LabError
from koumbit_infra.lab.model import LabServer, LabStatus, lab_servers
from koumbit_infra.lab.ssh import ssh_argv


def _progress(message: str) -> None:
    click.echo(f"lab: {message}", err=True)


def _servers(env: str, inventory_dir: Path | None) -> tuple[LabServer, ...]:
    inv = open_inventory(env, inventory_dir)
    if not inv.settings.lab:
        raise LabError(
            f"environment {env!r} is not a lab (its settings have lab: false); "
            "the lab only boots servers of a lab environment"
        )
    return lab_servers(inv.servers)


def render_table(lab: LabStatus) -> str:
    """One line per server: the same columns in the same order on every run."""
    rows = [("NAME", "ADDRESS", "RUNNING", "SSH", "SYSTEM")]
    rows += [
        (s.name, str(s.address), "yes" if s.running else "no", "yes" if s.ssh else "no",
         s.system_state or "-")
        for s in lab.servers
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _report(lab: LabStatus, verb: str) -> None:
    click.echo(render_table(lab))
    for change in lab.changes:
        click.echo(f"lab: changed: {change}", err=True)
    for note in lab.notes:
        click.echo(f"lab: note: {note}", err=True)
    summary = f"{len(lab.changes)} change(s)" if lab.changed else "nothing changed"
    click.echo(f"lab: {verb} in {lab.elapsed_s:.1f} s, {summary}", err=True)


@click.group("lab", context_settings={"help_option_names": ["-h", "--help"]})
def lab_group() -> None:
    """Real Debian 12 and 13 servers on this machine (systemd-nspawn), to try deploys on.

    \b
    Needs root. Servers come from the environment (--env, default lab) and live on
    bridge br-koumbit, 10.77.0.0/24 (host 10.77.0.1, apt proxy 10.77.0.1:3142, ACME
    server Pebble https://10.77.0.1:14000/dir, the sites' code https://10.77.0.1:14443).
    State: /var/lib/koumbit-lab, or $KOUMBIT_LAB_ROOT.
    Exit status: 0 success; 2 invalid inventory or usage; 3 lab failure (reason on stderr).
    """


@lab_group.command()
@env_option
@inventory_option
@click.option("--timeout", default=lifecycle.BOOT_TIMEOUT_S, show_default=True,
              help="Seconds to wait for the servers to boot.")
def up(env: str, inventory_dir: Path | None, timeout: float) -> None:
    """Create, repair or start every server until all answer SSH (quick when already up)."""
    servers = _servers(env, inventory_dir)
    _report(lifecycle.up(servers, progress=_progress, boot_timeout=timeout), "up")


@lab_group.command()
@env_option
@inventory_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(env: str, inventory_dir: Path | None, as_json: bool) -> None:
    """Show each server: running, address, SSH, and `systemctl is-system-running`."""
    lab = lifecycle.status(_servers(env, inventory_dir))
    if as_json:
        click.echo(json.dumps(lab.as_dict(), indent=2, sort_keys=True))
    else:
        click.echo(render_table(lab))


@lab_group.command()
@env_option
@inventory_option
def down(env: str, inventory_dir: Path | None) -> None:
    """Shut the servers down cleanly, keeping their disks (`up` boots them again)."""
    _report(lifecycle.down(_servers(env, inventory_dir), progress=_progress), "down")


@lab_group.command()
@env_option
@inventory_option
@click.option("--purge", is_flag=True,
              help="Also remove the base image, the apt cache and the lab SSH key.")
def destroy(env: str, inventory_dir: Path | None, purge: bool) -> None:
    """Stop everything; remove the servers' disks, the bridge and the apt proxy.

    The base image and the apt cache are kept so the next `up` takes seconds;
    --purge removes them too.
    """
    servers = _servers(env, inventory_dir)
    _report(lifecycle.destroy(servers, purge=purge, progress=_progress), "destroyed")


@lab_group.command()
@env_option
@inventory_option
@click.argument("names", nargs=-1, required=True)
@click.option("--timeout", default=lifecycle.BOOT_TIMEOUT_S, show_default=True,
              help="Seconds to wait for the servers to boot.")
def recreate(env: str, inventory_dir: Path | None, names: tuple[str, ...],
             timeout: float) -> None:
    """Throw server(s) NAMES away and make them anew from the empty base (a lost server).

    Everything on their disks is lost; they come back with new host keys and nothing
    deployed. The other servers are left alone.
    """
    servers = _servers(env, inventory_dir)
    _report(lifecycle.recreate(servers, names, progress=_progress, boot_timeout=timeout),
            "recreated")


@lab_group.command(context_settings={"ignore_unknown_options": True})
@env_option
@inventory_option
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh(env: str, inventory_dir: Path | None, name: str, command: tuple[str, ...]) -> None:
    """Open a root shell on server NAME, or run COMMAND there (after `--`)."""
    servers = {s.name: s for s in _servers(env, inventory_dir)}
    if name not in servers:
        raise click.BadParameter(
            f"no server {name!r} in {env}; servers: {', '.join(sorted(servers))}",
            param_hint="NAME",
        )
    argv = ssh_argv(servers[name], command=command)
    # Replace this process so the terminal, signals and exit status are ssh's own.
    os.execvp(argv[0], argv)  # noqa: S606
