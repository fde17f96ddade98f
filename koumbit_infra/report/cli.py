"""``koumbit-infra report``: one month's costs for the finance committee, fr or en."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from koumbit_infra.cli import env_option, inventory_option, load_or_exit
from koumbit_infra.cost import DEFAULT_LEDGER, Month
from koumbit_infra.report import FORMATS, LANGS, Format, Lang, gather, render

DEFAULT_DIR = Path("var/reports")


def _month(_ctx: click.Context, _param: click.Parameter, value: str) -> Month:
    try:
        return Month.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("report")
@click.option("--month", "month", required=True, callback=_month, metavar="YYYY-MM",
              help="The month to report.")
@env_option
@inventory_option
@click.option("--lang", type=click.Choice(LANGS), default="fr", show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="pdf", show_default=True)
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_LEDGER, show_default=True,
              help="Ledger of closed months (a month not closed there is computed, reserved only).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write (default: var/reports/<env>-<month>-<lang>.<format>).")
def report_command(
    *, month: Month, env: str, inventory_dir: Path | None, lang: str, fmt: str,
    ledger_path: Path, out: Path | None,
) -> None:
    """Write MONTH's report: budget summary with chart, clients, solidarity, servers."""
    inv = load_or_exit(env, inventory_dir)
    data = gather(inv, month, ledger_path)
    if not data.closed:
        click.echo(f"{month} ({env}) is not closed in {ledger_path}: computed with reserved"
                   " usage only, and the report says so", err=True)
    path = out or DEFAULT_DIR / f"{env}-{month}-{lang}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render(data, cast(Lang, lang), cast(Format, fmt)))
    click.echo(str(path))
