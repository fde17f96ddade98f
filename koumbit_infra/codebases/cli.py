"""``koumbit-infra codebases``: the sources of the sites' code."""

from __future__ import annotations

from pathlib import Path

import click

from koumbit_infra.codebases.wordpress_mirror import STABLE_CHECK, WORDPRESS_ORG, mirror


@click.group("codebases")
def codebases_group() -> None:
    """Where the sites' code comes from (settings.codebases)."""


@codebases_group.command("wordpress-mirror")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.argument("versions", nargs=-1)
@click.option("--from", "origin", default=WORDPRESS_ORG, show_default=True,
              help="Where the releases and their .sha1 are (https).")
@click.option("--api", default=STABLE_CHECK, show_default=True,
              help="wordpress.org's stable-check: which releases are insecure (https).")
def wordpress_mirror(folder: Path, versions: tuple[str, ...], origin: str, api: str) -> None:
    """Mirror wordpress.org's VERSIONS (default: its latest) into FOLDER, each checked
    against wordpress.org's SHA-1, as settings.codebases.wordpress_source serves them.

    \b
    Exit status: 0 done; 1 a release could not be fetched or did not match its
    checksum (nothing published); 2 a bad version or URL.
    """
    written = mirror(folder, versions, origin, api)
    for name in written:
        click.echo(f"wrote {folder / name}")
    if not written:
        click.echo(f"{folder}: nothing new")
