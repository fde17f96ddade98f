"""``koumbit-infra exporter``: run the exporter in the foreground (systemd supervises it).

The work is done by ``koumbit_infra.exporter.__main__`` (what servers run,
without click); this command only gives it koumbit-infra's CLI and help, so it
lives here, on the controller's side, and is not shipped to servers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from koumbit_infra.exporter.__main__ import main
from koumbit_infra.exporter.config import DEFAULT_CONFIG


@click.command("exporter")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG, show_default=True, help="The exporter's TOML configuration.",
)
@click.option("--check", is_flag=True, help="Validate the configuration and exit.")
def exporter_command(config_path: Path, check: bool) -> None:
    """Serve capacity and per-site usage metrics for Prometheus.

    Exit status: 0 stopped by a signal (or --check passed); 2 invalid configuration.
    """
    status = main(["--config", str(config_path), *(["--check"] if check else [])])
    sys.exit(status)
