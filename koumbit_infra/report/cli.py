"""``koumbit-infra report``: a month's or a fiscal year's costs for the finance committee."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import cast

import click

from koumbit_infra.clikit import env_option, inventory_option, open_inventory
from koumbit_infra.cost import Month, ledger_label, months_between
from koumbit_infra.cost.cli import ledger_option_saying
from koumbit_infra.inventory import Inventory
from koumbit_infra.report import FORMATS, LANGS, Format, Lang, render, report_data

DEFAULT_DIR = Path("var/reports")
_FISCAL = re.compile(r"^(\d{4})-(\d{4})$")


def _month(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Month | None:
    if value is None:
        return None
    try:
        return Month.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def fiscal_year_months(inv: Inventory, label: str, today: date) -> list[Month]:
    """The months of fiscal year ``label`` (started in the budget's start month) up to today."""
    match = _FISCAL.match(label)
    if not match or int(match[2]) != int(match[1]) + 1:
        raise click.BadParameter(f"'{label}' is not a fiscal year such as 2026-2027",
                                 param_hint="--fiscal-year")
    start = date(int(match[1]), inv.budget.start_month, 1)
    end = date(int(match[2]), inv.budget.start_month, 1)
    months = months_between(start, min(end, Month.of(today).next().start))
    if not months:
        raise click.BadParameter(f"fiscal year {label} has not started yet",
                                 param_hint="--fiscal-year")
    return months


@click.command("report")
@click.option("--month", "month", callback=_month, metavar="YYYY-MM", default=None,
              help="The month to report.")
@click.option("--fiscal-year", "fiscal_year", metavar="YYYY-YYYY", default=None,
              help="The fiscal year to report, its months so far (instead of --month).")
@env_option
@inventory_option
@click.option("--lang", type=click.Choice(LANGS), default="fr", show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="pdf", show_default=True,
              help="pdf or html: the report; csv: the committee's table, one row per client;"
                   " focus: the FOCUS 1.0 export for FinOps tools (one row per charge).")
@ledger_option_saying("Ledger of closed months, a SQLite file or a postgresql:// URL (a month"
                      " not closed there is computed, reserved only).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write (default: var/reports/<env>-<period>-<lang>.<format>).")
def report_command(
    *, month: Month | None, fiscal_year: str | None, env: str, inventory_dir: Path | None,
    lang: str, fmt: str, ledger_path: Path | str, out: Path | None,
) -> None:
    """Write the report of a month or a fiscal year: budget, clients, solidarity, servers."""
    if (month is None) == (fiscal_year is None):
        raise click.UsageError("give either --month YYYY-MM or --fiscal-year YYYY-YYYY")
    inv = open_inventory(env, inventory_dir)
    if month is not None:
        data = report_data(inv, month, ledger_path)
        period = str(month)
    else:
        assert fiscal_year is not None
        months = fiscal_year_months(inv, fiscal_year, date.today())
        data = report_data(inv, months, ledger_path, fiscal_year=fiscal_year)
        period = fiscal_year
    if not data.closed:
        click.echo(f"{period} ({env}): {data.closed_count} of {len(data.months)} month(s) closed"
                   f" in {ledger_label(ledger_path)}; the others are computed with reserved"
                   " usage only, and the report says so", err=True)
    suffix = "focus.csv" if fmt == "focus" else fmt
    path = out or DEFAULT_DIR / f"{env}-{period}-{lang}.{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render(data, cast(Lang, lang), cast(Format, fmt)))
    click.echo(str(path))
