"""Next fiscal year's budget request, line by line, every figure with its source.

Per cost line (each server, each shared line of budget.yaml, each server to buy or rent):

- **this year**: what the inventory plans the line to cost over the current fiscal year
  (as ``cost budget`` shows it); the Conseil de Travail's allocation is the total's;
- **without change**: the line's run-rate, the average of its last closed months in the
  ledger (up to 12; a server only over the months it was in service all month), for each
  month of the year, less the amortisation of a purchase once it is paid off. With no
  closed month, the inventory's own monthly cost;
- **purchases**: a server the scenario adds, or the server a web server will need the
  month the trend of its disk, memory or CPU reaches its capacity (the cheapest offer of
  the catalogue with its roles, from that month on);
- **proposed**: without change, plus purchases, with the known changes of shared lines
  (budget.yaml's ``line_changes`` and the scenario's) and the servers the scenario retires;
- **low** and **high**: the proposed amount with the trends' slopes moved down and up by
  their standard error (fixed costs have no spread: low = high = proposed).

Each month's amount is kept unrounded; each line's column is rounded once (half to even)
to the cent, and a column's total is the sum of its lines, so the table adds up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from koumbit_infra.budget.growth import DAY, GrowthSource, ServerUse, Trend, fit
from koumbit_infra.budget.scenario import NO_CHANGE, Scenario
from koumbit_infra.cost import CENT, Allocation, Ledger, Month, months_between, planned_lines
from koumbit_infra.inventory import BudgetLine, Inventory, Role, Server
from koumbit_infra.inventory.models import LineChange, ServerOffer

ZERO = Decimal(0)
BASIS_MONTHS = 12  # run-rates average at most a year of closed months
HISTORY_MONTHS = 24  # growth in clients and accounts is measured over at most two years


def cad(amount: Decimal) -> Decimal:
    """``amount`` rounded once, half to even, to the cent."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Source:
    """Where a figure comes from, in French and English."""

    fr: str
    en: str


@dataclass(frozen=True)
class ProposalLine:
    """One line of the request: the columns the committee reads, to the cent."""

    key: str  # server:<name>, line:<name>, buy:<offer>:<for>
    name: str
    name_en: str
    this_year_cad: Decimal
    without_change_cad: Decimal
    purchases_cad: Decimal
    proposed_cad: Decimal
    low_cad: Decimal
    high_cad: Decimal
    month: Month | None  # the month a purchase is needed (or starts)
    source: Source


@dataclass(frozen=True)
class MonthCounts:
    """One closed month from the ledger: clients, sites, solidarity accounts and subsidy."""

    month: Month
    version: int
    clients: int
    sites: int
    solidarity: int
    subsidy_cad: Decimal  # cost-based: cost minus price paid of the solidarity accounts
    solidarity_cost_cad: Decimal
    paid_cad: Decimal


@dataclass(frozen=True)
class CapacityOutlook:
    """When one resource of a server runs out at its measured trend (and at its bounds)."""

    use: ServerUse
    level: Decimal | None  # at the last measurement, on the trend
    per_month: Decimal | None  # the trend's slope per month
    error_per_month: Decimal | None
    full: Month | None  # None: not within the year (or not measured)
    full_early: Month | None  # slope + its error
    full_late: Month | None  # slope - its error


@dataclass(frozen=True)
class SolidarityOutlook:
    """What the solidarity accounts will cost next year, from the ledger and the scenario."""

    basis: tuple[Month, ...]
    accounts_last: int
    accounts_per_month: Decimal  # trend of the number of accounts
    accounts_average: Decimal  # over next year's months
    subsidy_per_account_cad: Decimal  # average cost-based subsidy per account-month
    cost_per_account_cad: Decimal  # average cost per account-month
    this_year_cad: Decimal  # subsidy over the closed months of the current fiscal year
    this_year_months: int
    added_accounts: int
    added_from: Month | None
    added_cad: Decimal
    removed_cad: Decimal
    projected_cad: Decimal
    low_cad: Decimal
    high_cad: Decimal
    plan_price_change_cad: Decimal  # more (or less) paid by regular clients after a change


@dataclass(frozen=True)
class Proposal:
    """The request for ``fiscal_year``: its lines, the growth behind them, the solidarity."""

    env: str
    fiscal_year: str
    months: tuple[Month, ...]
    current_year: str
    allocated_cad: Decimal  # this year's allocation by the Conseil de Travail
    lines: tuple[ProposalLine, ...]
    history: tuple[MonthCounts, ...]
    basis: tuple[Month, ...]  # the closed months run-rates average
    capacity: tuple[CapacityOutlook, ...]
    solidarity: SolidarityOutlook
    scenario: str
    growth_source: str  # "" when no Prometheus was read
    warnings: tuple[str, ...] = field(default=())

    def total(self, column: str) -> Decimal:
        """The sum of a column's lines (``this_year``, ``proposed`` ...), to the cent."""
        return sum((getattr(line, f"{column}_cad") for line in self.lines), Decimal("0.00"))


def fiscal_year_span(inv: Inventory, label: str) -> tuple[Month, ...]:
    """The twelve months of fiscal year ``label`` ('2027-2028'), from the budget's start month."""
    first = int(label[:4])
    start = date(first, inv.budget.start_month, 1)
    return tuple(months_between(start, date(first + 1, inv.budget.start_month, 1)))


def propose(
    inv: Inventory,
    fiscal_year: str,
    ledger: Ledger,
    *,
    scenario: Scenario = NO_CHANGE,
    growth: GrowthSource | None = None,
    now: datetime | None = None,
) -> Proposal:
    """The request for ``fiscal_year`` from ``inv``, the months closed in ``ledger``, the
    scenario and, when given, the servers' growth."""
    months = fiscal_year_span(inv, fiscal_year)
    closed = {m: r for m, r in ledger.closed_months(inv.env).items() if m < months[0]}
    history_months = sorted(closed)[-HISTORY_MONTHS:]
    allocations = {m: ledger.allocation(inv.env, m) for m in history_months}
    history = tuple(_counts(m, closed[m].version, a) for m, a in allocations.items()
                    if a is not None)
    basis = tuple(history_months[-BASIS_MONTHS:])
    amounts = {m: allocations[m].budget_lines() for m in basis  # type: ignore[union-attr]
               if allocations[m] is not None}
    warnings: list[str] = []
    if not basis:
        warnings.append("no closed month before the year: run-rates are the inventory's plan")
    year = _Year(inv, months, basis, amounts, planned_lines(inv), scenario)
    lines = [_server_line(year, s) for s in inv.servers]
    lines += [_budget_line(year, b) for b in inv.budget.lines]
    lines += [_scenario_server(inv, new.offer, new.since, months)
              for new in scenario.add_servers]
    capacity: list[CapacityOutlook] = []
    growth_label = ""
    if growth is not None:
        growth_label = growth.label
        uses = growth.server_use(inv, now or datetime.now(UTC))
        capacity = [_outlook(year, use) for use in uses]
        lines += _capacity_purchases(inv, capacity, months, scenario, warnings)
    return Proposal(
        env=inv.env, fiscal_year=fiscal_year, months=months,
        current_year=inv.budget.fiscal_year, allocated_cad=inv.budget.allocated_cad,
        lines=tuple(lines), history=history, basis=basis, capacity=tuple(capacity),
        solidarity=_solidarity(inv, history, basis, months, scenario),
        scenario=scenario.name, growth_source=growth_label, warnings=tuple(warnings),
    )


def _counts(month: Month, version: int, allocation: Allocation) -> MonthCounts:
    solidarity = [c for c in allocation.clients if c.solidarity_share > 0]
    return MonthCounts(
        month=month, version=version, clients=len(allocation.clients),
        sites=len(allocation.sites), solidarity=len(solidarity),
        subsidy_cad=sum((c.subsidy_cost_cad for c in solidarity), Decimal("0.00")),
        solidarity_cost_cad=sum((c.solidarity_cost_cad for c in solidarity), Decimal("0.00")),
        paid_cad=sum((c.paid_cad for c in allocation.clients), Decimal("0.00")),
    )


def _span(basis: Sequence[Month]) -> str:
    return f"{basis[0]}..{basis[-1]}" if basis else ""


def _before(month: Month, day: date | None) -> Decimal:
    """Share of ``month`` before ``day`` (all of it when ``day`` is None)."""
    return Decimal(1) if day is None else 1 - month.fraction_from(day)


def _add_months(day: date, count: int) -> date:
    index = day.year * 12 + day.month - 1 + count
    return date(index // 12, index % 12 + 1, min(day.day, 28))


def amortisation_end(server: Server) -> date | None:
    """The day a purchased server is paid off (None: rented, or no ``since`` to count from)."""
    cost = server.cost
    if cost.purchase_cad is None or cost.amortisation_months is None or server.since is None:
        return None
    return _add_months(server.since, cost.amortisation_months)


@dataclass(frozen=True)
class _Year:
    """What every line of the request is worked out from."""

    inv: Inventory
    months: Sequence[Month]
    basis: Sequence[Month]
    amounts: dict[Month, dict[str, Decimal]]  # per closed month of the basis, per line
    planned: dict[str, tuple[str, str, Decimal]]  # this year's plan per line
    scenario: Scenario


def _server_line(year: _Year, server: Server) -> ProposalLine:
    months, basis, amounts = year.months, year.basis, year.amounts
    planned, scenario = year.planned, year.scenario
    key = f"server:{server.name}"
    full = [m for m in basis if server.since is None or server.since <= m.start]
    if full and all(key in amounts[m] for m in full):
        rate = sum((amounts[m][key] for m in full), ZERO) / len(full)
        source = Source(f"registre : moyenne de {len(full)} mois ({_span(full)})",
                        f"ledger: average of {len(full)} months ({_span(full)})")
    else:
        rate = server.cost.per_month_cad
        source = Source(f"inventaire : servers.yaml, {server.name}",
                        f"inventory: servers.yaml, {server.name}")
    end = amortisation_end(server)
    paid_off = ZERO
    if end is not None and end < months[-1].end:
        assert server.cost.purchase_cad is not None and server.cost.amortisation_months
        paid_off = server.cost.purchase_cad / server.cost.amortisation_months
        source = Source(f"{source.fr}; amortissement terminé le {end}",
                        f"{source.en}; amortisation ends on {end}")
    retired = next((r.since for r in scenario.retire_servers if r.server == server.name), None)
    without = ZERO
    proposed = ZERO
    for m in months:
        base = rate * m.fraction_from(server.since)
        if end is not None:
            base = max(base - paid_off * m.fraction_from(end), ZERO)
        without += base
        proposed += base * _before(m, retired)
    if retired is not None:
        source = Source(f"{source.fr}; retiré le {retired} (scénario)",
                        f"{source.en}; retired on {retired} (scenario)")
    value = cad(proposed)
    return ProposalLine(key, server.name, server.name, cad(planned[key][2]), cad(without),
                        Decimal("0.00"), value, value, value, None, source)


def _line_amount(line: BudgetLine, changes: Iterable[LineChange]) -> list[tuple[date, Decimal]]:
    """Each change's day and the line's monthly amount from then on (changes add up)."""
    hours, rate = line.hours_per_month, line.hourly_rate_cad
    found = []
    for change in sorted(changes, key=lambda c: c.since):
        if hours is not None and rate is not None:
            hours = change.hours_per_month if change.hours_per_month is not None else hours
            rate = change.hourly_rate_cad if change.hourly_rate_cad is not None else rate
            found.append((change.since, hours * rate))
        elif change.monthly_cad is not None:
            found.append((change.since, change.monthly_cad))
        elif change.yearly_cad is not None:
            found.append((change.since, change.yearly_cad / 12))
    return found


def _budget_line(year: _Year, line: BudgetLine) -> ProposalLine:
    inv, months, basis, amounts = year.inv, year.months, year.basis, year.amounts
    planned, scenario = year.planned, year.scenario
    key = f"line:{line.name}"
    if basis:
        rate = sum((amounts[m].get(key, ZERO) for m in basis), ZERO) / len(basis)
        source = Source(f"registre : moyenne de {len(basis)} mois ({_span(basis)})",
                        f"ledger: average of {len(basis)} months ({_span(basis)})")
    else:
        rate = line.per_month_cad
        source = Source("inventaire : budget.yaml", "inventory: budget.yaml")
    known = [c for c in inv.line_changes if c.line == line.name]
    planned_changes = [c for c in scenario.line_changes if c.line == line.name]
    steps = _line_amount(line, [*known, *planned_changes])
    without = rate * len(months)
    proposed = ZERO
    bounds: list[date | None] = [None, *(day for day, _ in steps)]
    values = [rate, *(amount for _, amount in steps)]
    for m in months:
        for i, value in enumerate(values):
            # The share of the month from this amount's first day to the next one's.
            after = m.fraction_from(bounds[i + 1]) if i + 1 < len(bounds) else ZERO
            proposed += value * (m.fraction_from(bounds[i]) - after)
    for change in (*known, *planned_changes):
        origin = "budget.yaml" if change in known else "scénario"
        origin_en = "budget.yaml" if change in known else "scenario"
        why = f" ({change.why})" if change.why else ""
        source = Source(f"{source.fr}; changement dès le {change.since}, {origin}{why}",
                        f"{source.en}; change from {change.since}, {origin_en}{why}")
    value = cad(proposed)
    return ProposalLine(key, line.name, line.name_en or line.name, cad(planned[key][2]),
                        cad(without), Decimal("0.00"), value, value, value, None, source)


def _offer_cost(offer: ServerOffer, since: date, months: Sequence[Month]) -> Decimal:
    return sum((offer.cost.per_month_cad * m.fraction_from(since) for m in months), ZERO)


def _scenario_server(
    inv: Inventory, name: str, since: date, months: Sequence[Month]
) -> ProposalLine:
    offer = next(o for o in inv.catalogue if o.name == name)
    value = cad(_offer_cost(offer, since, months))
    return ProposalLine(
        f"buy:{offer.name}:{since}", offer.label_fr, offer.label_en, Decimal("0.00"),
        Decimal("0.00"), value, value, value, value, Month.of(since),
        Source(f"scénario : ajout dès le {since}; catalogue de budget.yaml, {offer.name}",
               f"scenario: added from {since}; budget.yaml catalogue, {offer.name}"))


def _site_count(inv: Inventory, server: str) -> int:
    return sum(1 for p in inv.placed_sites() if p.site.server == server
               and p.site.state.value != "absent")


def _added(inv: Inventory, server: str, scenario: Scenario, month: Month) -> int:
    """Sites the scenario brings to (or takes from) ``server`` by the end of ``month``."""
    count = sum(a.count * a.sites_each for a in scenario.add_clients
                if a.server == server and a.since < month.end)
    clients = {c.slug: c for c in inv.clients}
    for gone in scenario.remove_clients:
        if gone.since < month.end:
            count -= sum(1 for s in clients[gone.client].sites if s.server == server)
    return count


def _x(month: Month) -> Decimal:
    """A month's end as the trends' x (days since the Unix epoch, UTC)."""
    return Decimal(int(datetime.combine(month.end, datetime.min.time(), UTC).timestamp())) / DAY


def _full_month(year: _Year, use: ServerUse, trend: Trend, slope: Decimal,
                per_site: Decimal) -> Month | None:
    """The first month of the year at whose end the level reaches the capacity."""
    for m in year.months:
        level = trend.at(_x(m), slope) + per_site * _added(year.inv, use.server, year.scenario,
                                                           m)
        if level >= use.capacity:
            return m
    return None


def _outlook(year: _Year, use: ServerUse) -> CapacityOutlook:
    trend = use.trend
    if trend is None:
        return CapacityOutlook(use, None, None, None, None, None, None)
    level = trend.at(trend.last_x)
    sites = _site_count(year.inv, use.server)
    per_site = level / sites if sites else ZERO
    return CapacityOutlook(
        use, level, trend.per_month(trend.slope), trend.per_month(trend.slope_error),
        _full_month(year, use, trend, trend.slope, per_site),
        _full_month(year, use, trend, trend.slope + trend.slope_error, per_site),
        _full_month(year, use, trend, trend.slope - trend.slope_error, per_site),
    )


def _capacity_purchases(
    inv: Inventory, outlooks: Sequence[CapacityOutlook], months: Sequence[Month],
    scenario: Scenario, warnings: list[str],
) -> list[ProposalLine]:
    """One server to buy or rent for each web server that runs out within the year."""
    found = []
    for server in inv.servers_with(Role.WEB):
        mine = [o for o in outlooks if o.use.server == server.name]
        early = min((o.full_early for o in mine if o.full_early), default=None)
        if early is None:
            continue
        offers = [o for o in inv.catalogue if server.roles <= o.roles]
        if not offers:
            warnings.append(f"{server.name} runs out in {early} at the high bound, and no"
                            " offer of budget.yaml's catalogue has its roles")
            continue
        offer = min(offers, key=lambda o: (o.cost.per_month_cad, o.name))
        central = min((o.full for o in mine if o.full), default=None)
        late = min((o.full_late for o in mine if o.full_late), default=None)
        which = min((o for o in mine if o.full_early), key=lambda o: o.full_early or early)
        value = cad(_offer_cost(offer, central.start, months)) if central else Decimal("0.00")
        found.append(ProposalLine(
            f"buy:{offer.name}:{server.name}",
            f"{offer.label_fr}, pour {server.name}", f"{offer.label_en}, for {server.name}",
            Decimal("0.00"), Decimal("0.00"), value, value,
            cad(_offer_cost(offer, late.start, months)) if late else Decimal("0.00"),
            cad(_offer_cost(offer, early.start, months)), central,
            Source(f"mesure : {which.use.resource} de {server.name} plein en"
                   f" {central or 'dehors de l’année'} à la tendance ({which.use.source});"
                   f" catalogue de budget.yaml, {offer.name}",
                   f"measured: {which.use.resource} of {server.name} full in"
                   f" {central or 'none of the year'} at the trend ({which.use.source});"
                   f" budget.yaml catalogue, {offer.name}")))
    return found


def _solidarity(
    inv: Inventory, history: Sequence[MonthCounts], basis: Sequence[Month],
    months: Sequence[Month], scenario: Scenario,
) -> SolidarityOutlook:
    used = [c for c in history if c.month in basis]
    account_months = sum(c.solidarity for c in used)
    per_account = (sum((c.subsidy_cad for c in used), ZERO) / account_months
                   if account_months else ZERO)
    cost_per_account = (sum((c.solidarity_cost_cad for c in used), ZERO) / account_months
                        if account_months else ZERO)
    trend = fit([(Decimal(i), Decimal(c.solidarity)) for i, c in enumerate(history)])
    last = history[-1].solidarity if history else sum(1 for c in inv.clients
                                                      if c.is_solidarity)
    slope = trend.slope if trend else ZERO
    error = trend.slope_error if trend else ZERO
    last_x = Decimal(len(history) - 1)
    last_month = history[-1].month if history else months[0]

    def accounts(m: Month, with_slope: Decimal) -> Decimal:
        ahead = Decimal(len(months_between(last_month.start, m.start)))
        level = trend.at(last_x + ahead, with_slope) if trend else Decimal(last)
        return max(level, ZERO)

    plans = {p.name: p for p in inv.plans}
    added = ZERO
    added_count = 0
    added_from: Month | None = None
    for new in scenario.add_clients:
        if not new.solidarity:
            continue
        paid = (new.monthly_price_paid_cad if new.monthly_price_paid_cad is not None
                else plans[new.plan].monthly_price_cad)
        added_count += new.count
        added_from = min(added_from or Month.of(new.since), Month.of(new.since))
        added += sum(((cost_per_account - paid) * new.count * m.fraction_from(new.since)
                      for m in months), ZERO)
    clients = {c.slug: c for c in inv.clients}
    removed = sum((per_account * m.fraction_from(gone.since) for gone in scenario.remove_clients
                   if clients[gone.client].is_solidarity for m in months), ZERO)
    change = ZERO
    for price in scenario.plan_prices:
        regular = [c for c in inv.clients if c.plan == price.plan and not c.is_solidarity
                   and c.monthly_price_paid_cad == plans[price.plan].monthly_price_cad]
        delta = price.monthly_price_cad - plans[price.plan].monthly_price_cad
        change += sum((delta * len(regular) * m.fraction_from(price.since) for m in months),
                      ZERO)

    def total(with_slope: Decimal) -> Decimal:
        return sum((accounts(m, with_slope) * per_account for m in months), ZERO) \
            + added - removed

    this_year = [c for c in history if c.month.start >= inv.budget.start]
    return SolidarityOutlook(
        basis=tuple(basis), accounts_last=last,
        accounts_per_month=cad(slope), accounts_average=cad(
            sum((accounts(m, slope) for m in months), ZERO) / len(months)),
        subsidy_per_account_cad=cad(per_account), cost_per_account_cad=cad(cost_per_account),
        this_year_cad=sum((c.subsidy_cad for c in this_year), Decimal("0.00")),
        this_year_months=len(this_year), added_accounts=added_count, added_from=added_from,
        added_cad=cad(added), removed_cad=cad(removed), projected_cad=cad(total(slope)),
        low_cad=cad(total(slope - error)), high_cad=cad(total(slope + error)),
        plan_price_change_cad=cad(change),
    )
