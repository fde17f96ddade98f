"""``koumbit-infra budget propose``: next fiscal year's Infra budget request."""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path
from typing import cast

import click

from koumbit_infra.clikit import env_option, inventory_option, open_inventory
from koumbit_infra.cost import Ledger, PrometheusUsage
from koumbit_infra.cost.cli import ledger_option_saying
from koumbit_infra.report.catalogue import LANGS, Lang

DEFAULT_DIR = Path("var/reports")
_FISCAL = re.compile(r"^(\d{4})-(\d{4})$")


def _fiscal(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    match = _FISCAL.match(value)
    if not match or int(match[2]) != int(match[1]) + 1:
        raise click.BadParameter(f"'{value}' is not a fiscal year such as 2027-2028")
    return value


@click.group("budget")
def budget_group() -> None:
    """The Infra budget: next year's request to the Conseil de Travail."""


@budget_group.command("propose")
@click.option("--fiscal-year", "fiscal_year", required=True, metavar="YYYY-YYYY",
              callback=_fiscal, help="The fiscal year to ask for (usually the next one).")
@click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="A scenario file (YAML): clients, accounts, prices, servers.")
@env_option
@inventory_option
@ledger_option_saying("Ledger of closed months (run-rates and growth), a SQLite file or a"
                      " postgresql:// URL.")
@click.option("--prometheus", "prometheus_url", metavar="URL", default=None,
              help="Prometheus to measure the servers' growth from.")
@click.option("--prometheus-on", "prometheus_server", metavar="SERVER", default=None,
              help="Measure growth from this monitoring server's Prometheus, through SSH"
                   " ('-' for the env's first monitoring server).")
@click.option("--lang", type=click.Choice(LANGS), default="fr", show_default=True)
@click.option("--format", "fmt", type=click.Choice(("pdf", "html", "csv")), default="pdf",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write (default: var/reports/<env>-budget-<year>-<lang>.<format>).")
def propose_command(
    *, fiscal_year: str, scenario_path: Path | None, env: str, inventory_dir: Path | None,
    ledger_path: Path | str, prometheus_url: str | None, prometheus_server: str | None,
    lang: str, fmt: str, out: Path | None,
) -> None:
    """Write next year's budget request: per line this year's plan, the spending without
    change, the capacity purchases and the proposed allocation with low and high bounds."""
    from koumbit_infra.budget.growth import GrowthSource, PrometheusGrowth
    from koumbit_infra.budget.propose import fiscal_year_span, propose
    from koumbit_infra.budget.render import ProposalFormat, render_proposal
    from koumbit_infra.budget.scenario import NO_CHANGE, load_scenario

    if prometheus_url and prometheus_server:
        raise click.UsageError("give --prometheus or --prometheus-on, not both")
    inv = open_inventory(env, inventory_dir)
    months = fiscal_year_span(inv, fiscal_year)
    scenario = NO_CHANGE
    if scenario_path is not None:
        scenario = load_scenario(scenario_path, inv, months[0].start, months[-1].end)
    with ExitStack() as stack:
        growth: GrowthSource | None = None
        if prometheus_server:
            from koumbit_infra.cost import monitoring_server, prometheus_over_ssh

            server = monitoring_server(
                inv, None if prometheus_server == "-" else prometheus_server)
            growth = PrometheusGrowth(stack.enter_context(
                prometheus_over_ssh(inv, server)))
            click.echo(f"growth: read from the Prometheus on {server} (through SSH)")
        elif prometheus_url:
            growth = PrometheusGrowth(PrometheusUsage(prometheus_url, zone=inv.budget.zone))
        with Ledger.open_existing(ledger_path) as ledger:
            proposal = propose(inv, fiscal_year, ledger, scenario=scenario, growth=growth)
    for warning in proposal.warnings:
        click.echo(f"warning: {warning}", err=True)
    path = out or DEFAULT_DIR / f"{env}-budget-{fiscal_year}-{lang}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_proposal(proposal, cast(Lang, lang), cast(ProposalFormat, fmt)))
    click.echo(f"{fiscal_year}: proposed {proposal.total('proposed')} CAD (low"
               f" {proposal.total('low')}, high {proposal.total('high')}); {path}")
