"""Database bytes per site, in one query per refresh, with the mariadb client."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from koumbit_infra.exporter.config import ExporterConfig
from koumbit_infra.exporter.measurement import SITE_LABELS, Measurement, paged

# One query for every database: never one per site or per table.
SIZES_QUERY = (
    "SELECT table_schema, SUM(data_length + index_length)"
    " FROM information_schema.TABLES GROUP BY table_schema"
)

QueryRunner = Callable[[], str]


class DatabaseError(Exception):
    """The database could not be asked."""


def defaults_file(configured: str) -> Path:
    """The option file holding the exporter's database credentials.

    A relative name is looked up in $CREDENTIALS_DIRECTORY, where systemd's
    LoadCredential= puts a copy of the root-only file for this service alone.
    """
    path = Path(configured)
    if path.is_absolute():
        return path
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise DatabaseError(
            f"defaults_file '{configured}' is relative but CREDENTIALS_DIRECTORY is not set"
            " (run under systemd with LoadCredential=, or give an absolute path)"
        )
    return Path(directory) / path


def run_client(client: str, defaults: str, timeout: float) -> str:
    """Tab-separated rows of SIZES_QUERY; the password stays in the option file."""
    argv = [client, f"--defaults-extra-file={defaults_file(defaults)}", "--batch",
            "--skip-column-names", f"--execute={SIZES_QUERY}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatabaseError(f"{client}: {exc}") from None
    if done.returncode != 0:
        raise DatabaseError(f"{client} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def parse_sizes(output: str) -> dict[str, int]:
    """Bytes per schema from ``--batch --skip-column-names`` output (NULL for views only)."""
    sizes: dict[str, int] = {}
    for line in output.splitlines():
        if not line.strip():
            continue
        schema, _, size = line.partition("\t")
        if not size:
            raise DatabaseError(f"unexpected row from the database: {line!r}")
        sizes[schema] = 0 if size == "NULL" else int(size)
    return sizes


class DatabaseCollector(Measurement):
    """Bytes of data and indexes of each site's database (InnoDB's own estimate).

    # HELP koumbit_site_database_bytes Data and index bytes of the site's database.
    # TYPE koumbit_site_database_bytes gauge
    koumbit_site_database_bytes{client="...",server="web1",site="..."} 4.2e+07
    """

    name = "database"

    def __init__(self, config: ExporterConfig, *, query: QueryRunner | None = None) -> None:
        # Every listed site: this server may hold databases of other web servers' sites.
        self.sites = config.sites
        db = config.database
        self.query = query or (lambda: run_client(db.client, db.defaults_file, db.timeout_seconds))
        self.snapshot: dict[tuple[str, str, str], int] = {}

    def refresh(self) -> list[str]:
        sizes = parse_sizes(self.query())
        # A database with no table yet has no row: it holds 0 bytes of data.
        self.snapshot = {site.labels: sizes.get(site.system_name, 0) for site in self.sites}
        return []

    def collect(self, limit: int | None = None) -> Iterable[Metric]:
        return paged(lambda: GaugeMetricFamily("koumbit_site_database_bytes",
                                               "Data and index bytes of the site's database.",
                                               labels=SITE_LABELS),
                     self.snapshot.items(), limit)
