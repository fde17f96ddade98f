"""``koumbit-infra exporter``: run the exporter in the foreground (systemd supervises it)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click

from koumbit_infra.exporter.config import DEFAULT_CONFIG, ConfigError, load_config


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
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"exporter: invalid configuration\n{exc}", err=True)
        sys.exit(ConfigError.exit_code)
    if check:
        click.echo(f"{config_path}: valid, {len(config.sites)} site(s)"
                   f" ({len(config.local_sites)} on {config.server})")
        return
    from koumbit_infra.exporter.app import build

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    exporter = build(config)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        exporter.start()
    except OSError as exc:
        click.echo(f"exporter: cannot listen on {config.listen_address}:{config.port}:"
                   f" {exc.strerror}", err=True)
        sys.exit(ConfigError.exit_code)
    logging.info("serving %d site(s) of %s on http://%s:%d/metrics", len(config.local_sites),
                 config.server, config.listen_address, exporter.port)
    stopped.wait()
    exporter.stop()
