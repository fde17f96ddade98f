"""``koumbit-infra cost``: close a month into the ledger, show it, follow the budget."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

import click
from click.decorators import FC

from koumbit_infra.clikit import env_option, inventory_option, open_inventory
from koumbit_infra.cost.ledger.budget_projection import project_budget
from koumbit_infra.cost.ledger.closing import close_month
from koumbit_infra.cost.ledger.store import (
    DEFAULT_LEDGER,
    CloseRecord,
    CloseResult,
    Ledger,
    ledger_exists,
    ledger_label,
    ledger_location,
)
from koumbit_infra.cost.ledger.trust import revise_reason
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.results import Allocation
from koumbit_infra.cost.usage.prometheus import PrometheusUsage
from koumbit_infra.cost.usage.records import ReservedOnly, UsageSource
from koumbit_infra.errors import KoumbitError
from koumbit_infra.inventory import Inventory

USAGE_ERROR = 2

def ledger_option_saying(help_text: str) -> Callable[[FC], FC]:
    """``--ledger``: a SQLite file (the default) or a postgresql:// URL, with ``help_text``."""
    return click.option(
        "--ledger", "ledger_path", default=str(DEFAULT_LEDGER), show_default=True,
        callback=lambda _ctx, _param, value: ledger_location(value), help=help_text,
    )


ledger_option = ledger_option_saying(
    "Ledger of closed months: a SQLite file, or a postgresql:// URL.")


def _month(_ctx: click.Context, _param: click.Parameter, value: str) -> Month:
    try:
        return Month.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


month_argument = click.argument("month", callback=_month, metavar="YYYY-MM")


def _reason(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    try:
        return None if value is None else revise_reason(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group("cost")
def cost_group() -> None:
    """Costs per site and client, closed monthly into a ledger, and the Infra budget."""


@cost_group.command("close")
@month_argument
@env_option
@inventory_option
@click.option("--prometheus", "prometheus_url", metavar="URL", default=None,
              help="Prometheus to read usage from (default: none, charge reservations only).")
@click.option("--prometheus-on", "prometheus_server", metavar="SERVER", default=None,
              help="Read usage from the Prometheus of this monitoring server, through SSH"
                   " ('-' for the env's first monitoring server).")
@ledger_option
@click.option("--revise", "reason", metavar="REASON", default=None, callback=_reason,
              help="Replace a month closed after it ended with different figures, saying why"
                   " (kept with the new version).")
def close_command(
    *, month: Month, env: str, inventory_dir: Path | None, prometheus_url: str | None,
    prometheus_server: str | None, ledger_path: Path | str, reason: str | None,
) -> None:
    """Allocate MONTH's costs and record them in the ledger (again: nothing changes).

    While MONTH runs, a close with different figures (usage grew) adds a version. Once
    MONTH was closed after it ended, different figures need --revise "why": without it
    the command says what changed, writes nothing and exits 2.
    """
    inv = open_inventory(env, inventory_dir)
    if prometheus_url and prometheus_server:
        raise click.UsageError("give --prometheus or --prometheus-on, not both")
    if prometheus_server:
        from koumbit_infra.cost.usage import prometheus_ssh

        server = prometheus_ssh.monitoring_server(inv, None if prometheus_server == "-"
                                                  else prometheus_server)
        with prometheus_ssh.prometheus_over_ssh(inv, server) as source:
            click.echo(f"usage: read from the Prometheus on {server} (through SSH)")
            result = _close(inv, month, ledger_path, source, reason)
    elif prometheus_url:
        click.echo(f"usage: read from {prometheus_url}")
        result = _close(inv, month, ledger_path,
                        PrometheusUsage(prometheus_url, zone=inv.budget.zone), reason)
    else:
        click.echo("usage: reserved only (no --prometheus): every site is charged its"
                   " reservation")
        result = _close(inv, month, ledger_path, ReservedOnly(), reason)
    record = result.record
    for warning in record.warnings:
        click.echo(f"warning: {warning}", err=True)
    what = "closed as version" if result.changed else "unchanged: already closed as version"
    click.echo(
        f"{month} ({env}) {what} {record.version}: total {record.total_cad} CAD,"
        f" idle {record.idle_cad} CAD; inventory {record.inventory_revision or 'not in git'};"
        f" ledger {ledger_label(ledger_path)}"
    )
    if result.changed and record.reason:
        click.echo(f"revision of version {record.version - 1}: {record.reason}")
    elif reason and not result.changed:
        click.echo("--revise not used: the figures are the same, nothing was written")


def _close(
    inv: Inventory, month: Month, ledger_path: Path | str, source: UsageSource,
    reason: str | None,
) -> CloseResult:
    with Ledger.open(ledger_path) as ledger:
        return close_month(inv, month, ledger, source=source, reason=reason)


@cost_group.command("show")
@month_argument
@env_option
@ledger_option
@click.option("--version", "version", type=int, default=None,
              help="A given version of the month (default: the latest).")
def show_command(month: Month, env: str, ledger_path: Path | str, version: int | None) -> None:
    """Print MONTH's per-client table from the ledger: price, cost, subsidy or margin."""
    if not ledger_exists(ledger_path):
        _not_closed(month, env, ledger_path)
    with Ledger.open(ledger_path) as ledger:
        found = ledger.read(env, month, version)
        count = len(ledger.versions(env, month))
    if found is None:
        if version is not None and count:
            raise KoumbitError(f"{month} ({env}) has no version {version}: its versions are"
                               f" 1 to {count}", USAGE_ERROR)
        _not_closed(month, env, ledger_path)
    click.echo(version_line(found.record, count))
    click.echo(render_clients(found.allocation))


def version_line(record: CloseRecord, count: int) -> str:
    """"2026-05 (lab): version 2 of 2 (latest), closed ...; usage: ...; revision: why"."""
    which = "latest" if record.version == count else f"latest is {count}"
    line = (f"{record.month} ({record.env}): version {record.version} of {count} ({which}),"
            f" closed {record.closed_at}; usage: {record.usage_source}")
    return line + (f"\nrevision of version {record.version - 1}: {record.reason}"
                   if record.reason else "")


def _not_closed(month: Month, env: str, ledger_path: Path | str) -> NoReturn:
    raise KoumbitError(f"{month} ({env}) is not closed in {ledger_label(ledger_path)};"
                       f" run: koumbit-infra cost close {month} --env {env}", USAGE_ERROR)


def render_clients(allocation: Allocation) -> str:
    """The per-client table of a month, in CAD, with totals and idle."""
    head = ("client", "plan", "list", "paid", "cost", "full cost", "subsidy", "subs.list",
            "margin")
    rows = [f"{head[0]:<40} {head[1]:<10}" + "".join(f" {h:>10}" for h in head[2:])]
    for c in sorted(allocation.clients, key=lambda c: (not c.solidarity_share, c.name)):
        name = ("* " if c.solidarity_share else "  ") + c.name
        amounts = (c.list_price_cad, c.paid_cad, c.cost_cad, c.full_cost_cad,
                   c.subsidy_cost_cad, c.subsidy_list_cad, c.margin_cad)
        rows.append(f"{name[:40]:<40} {c.plan[:10]:<10}" + _amounts(amounts))
    subsidy, subsidy_list = allocation.solidarity_totals()
    margin = sum((c.margin_cad for c in allocation.clients), Decimal("0.00"))
    rows += [
        "* compte solidaire (this month) / solidarity account",
        f"solidarity subsidy: {subsidy} CAD (cost-based), {subsidy_list} CAD (list price)",
        f"margin of regular clients: {margin} CAD",
        f"charged to sites: {allocation.allocated_cad} CAD   idle: {allocation.idle_cad} CAD"
        f"   total: {allocation.total_cad} CAD",
    ]
    return "\n".join(rows)


def _amounts(amounts: tuple[Decimal, ...]) -> str:
    return "".join(f" {a:>10}" for a in amounts)


@cost_group.command("budget")
@env_option
@inventory_option
@ledger_option
def budget_command(env: str, inventory_dir: Path | None, ledger_path: Path | str) -> None:
    """Print the fiscal year: allocated, spent, run-rate, projection and variance per line."""
    inv = open_inventory(env, inventory_dir)
    with Ledger.open(ledger_path) as ledger:
        projection = project_budget(inv, ledger)
    click.echo(f"fiscal year {projection.fiscal_year}: {len(projection.closed)} of"
               f" {len(projection.months)} months closed")
    click.echo(f"{'line':<40}" + "".join(
        f" {h:>11}" for h in ("planned", "spent", "per month", "projected", "variance")))
    for line in projection.lines:
        click.echo(f"{line.name[:40]:<40}" + "".join(f" {a:>11}" for a in (
            line.planned_cad, line.spent_cad, line.run_rate_per_month_cad,
            line.projected_cad, line.variance_cad)))
    click.echo(f"allocated {projection.allocated_cad} CAD, projected {projection.projected_cad}"
               f" CAD, variance {projection.variance_cad} CAD")
    if projection.over_allocation:
        click.echo("ALERT: the projection exceeds the allocation of the Conseil de Travail",
                   err=True)


@cost_group.command("publish")
@env_option
@inventory_option
@ledger_option
@click.option("--on", "server", metavar="SERVER", default="-", show_default=True,
              help="Monitoring server to publish on ('-' for the env's first one).")
def publish_command(
    env: str, inventory_dir: Path | None, ledger_path: Path | str, server: str
) -> None:
    """Publish the ledger's cost and budget metrics to the monitoring server's Prometheus.

    Written as node_exporter's textfile there (koumbit_cost.prom); run it after
    each close. The same figures published again change nothing.
    """
    from koumbit_infra.cost.publishing.textfile import cost_exposition, publish
    from koumbit_infra.cost.usage import prometheus_ssh

    inv = open_inventory(env, inventory_dir)
    target = prometheus_ssh.monitoring_server(inv, None if server == "-" else server)
    done = publish(inv, target, cost_exposition(inv, ledger_path))
    what = "published" if done.changed else "unchanged"
    click.echo(f"cost metrics {what}: {done.server}:{done.path} ({done.size} bytes),"
               " scraped by its Prometheus with the node metrics")


@cost_group.command("metrics")
@env_option
@inventory_option
@ledger_option
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=19101, show_default=True, type=click.IntRange(1, 65535),
              help="Port (beside the koumbit exporter's 19100).")
def metrics_command(
    env: str, inventory_dir: Path | None, ledger_path: Path | str, listen: str, port: int
) -> None:
    """Serve per-client cost and budget metrics from the ledger, for Prometheus."""
    import signal

    from prometheus_client import start_http_server
    from prometheus_client.registry import CollectorRegistry

    from koumbit_infra.cost.publishing.metrics import CostCollector

    inv = open_inventory(env, inventory_dir)
    if not ledger_exists(ledger_path):
        raise KoumbitError(f"{ledger_label(ledger_path)}: no ledger yet; close a month first"
                           " (koumbit-infra cost close YYYY-MM)", USAGE_ERROR)
    registry = CollectorRegistry()
    registry.register(CostCollector(inv, ledger_path))
    # Blocked before the server thread starts, so only sigwait below receives them.
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    start_http_server(port, addr=listen, registry=registry)
    click.echo(f"cost metrics on http://{listen}:{port}/metrics", err=True)
    signal.sigwait(stop)
