"""``python3 -m koumbit_infra.exporter``: the exporter without the rest of koumbit-infra.

On a server the exporter runs from /opt/koumbit-exporter with Debian's
python3 and only the library it needs at run time (prometheus_client, pure
Python, shipped beside it by the monitoring deploy); click, yaml and the
inventory stay on the admin's machine. Same options and exit statuses as
``koumbit-infra exporter``; a leading ``exporter`` word is accepted so the
systemd unit's command line is the same for both.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from koumbit_infra.exporter.config import DEFAULT_CONFIG, ConfigError, load_config
from koumbit_infra.exporter.memory import tune_malloc


def main(argv: Sequence[str] | None = None) -> int:
    """Run the exporter until SIGTERM/SIGINT; the exit status the unit acts on."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["exporter"]:
        args = args[1:]
    parser = argparse.ArgumentParser(prog="koumbit-exporter",
                                     description="Serve capacity and per-site usage metrics.")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help=f"the exporter's TOML configuration (default {DEFAULT_CONFIG})")
    parser.add_argument("--check", action="store_true",
                        help="validate the configuration and exit")
    options = parser.parse_args(args)
    tune_malloc()  # before loading 10,000 sites' configuration, and before any thread
    try:
        config = load_config(options.config)
    except ConfigError as exc:
        print(f"exporter: invalid configuration\n{exc}", file=sys.stderr)
        return ConfigError.exit_code
    if options.check:
        print(f"{options.config}: valid, {len(config.sites)} site(s)"
              f" ({len(config.local_sites)} on {config.server})")
        return 0
    from koumbit_infra.exporter.app import build

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    exporter = build(config)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        exporter.start()
    except OSError as exc:
        print(f"exporter: cannot listen on {config.listen_address}:{config.port}:"
              f" {exc.strerror}", file=sys.stderr)
        return ConfigError.exit_code
    logging.info("serving %d site(s) of %s on http://%s:%d/metrics", len(config.local_sites),
                 config.server, config.listen_address, exporter.port)
    stopped.wait()
    exporter.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
