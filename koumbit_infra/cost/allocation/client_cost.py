"""A client's price, cost and solidarity share for a month, from its allocated sites."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import pairwise

from koumbit_infra.cost.cents import CENT
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.results import ClientCost
from koumbit_infra.inventory import Client, Inventory, Plan


def _cad(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass
class _Sums:
    """Unrounded month fractions and amounts, summed over the month's segments."""

    active: Decimal = Decimal(0)
    solidarity: Decimal = Decimal(0)
    list_price: Decimal = Decimal(0)
    solidarity_list: Decimal = Decimal(0)
    solidarity_paid: Decimal = Decimal(0)
    regular_paid: Decimal = Decimal(0)


def _breakpoints(client: Client, plan: Plan, month: Month) -> list[date]:
    """The days the month is cut at: client start, solidarity start, price changes."""
    inside = {
        d for d in (client.since, client.solidarity.since if client.solidarity else None)
        if d is not None and month.start < d < month.end
    }
    inside |= set(plan.price_changes_within(month.start, month.end))
    inside |= {h.until for h in client.price_history if month.start < h.until < month.end}
    return [month.start, *sorted(inside), month.end]


def _paid_before_solidarity(client: Client, plan: Plan, day: date) -> Decimal:
    """What a solidarity client paid before its account began.

    Its price history says, where it reaches back that far; otherwise the
    client is taken to have paid the plan's list price.
    """
    if client.price_history and day < client.price_history[-1].until:
        return client.paid_on(day)
    return plan.price_on(day)


def _sum_segments(client: Client, plan: Plan, month: Month) -> _Sums:
    sums = _Sums()
    cuts = _breakpoints(client, plan, month)
    # Staging copies are billed on top of the plan, list price and price paid alike.
    staging = plan.staging_monthly_price_cad * client.staging_copies
    for start, end in pairwise(cuts):
        if client.since is not None and start < client.since:
            continue
        fraction = Decimal((end - start).days * 24) / Decimal(month.hours)
        list_price = (plan.price_on(start) + staging) * fraction
        sums.active += fraction
        sums.list_price += list_price
        if client.solidarity is not None and start >= client.solidarity.since:
            sums.solidarity += fraction
            sums.solidarity_list += list_price
            sums.solidarity_paid += (client.paid_on(start) + staging) * fraction
        elif client.solidarity is not None:
            sums.regular_paid += (_paid_before_solidarity(client, plan, start)
                                  + staging) * fraction
        else:
            sums.regular_paid += (client.paid_on(start) + staging) * fraction
    return sums


def client_cost(
    inv: Inventory, client: Client, month: Month, cost_cad: Decimal, full_cost_cad: Decimal
) -> ClientCost:
    """The client's month, given what its sites were charged (already to the cent).

    The month is cut into segments at the client's start, the start of its
    solidarity account, and every change of the plan's list price or of the
    client's price (their ``price_history``); each segment is pro-rated by its
    hours. Each staging copy of its sites adds the plan's staging rate to its list
    price and to what it pays (the copy's own usage is charged like any site's).
    The cost is split between solidarity and regular time in the same proportion.
    Each derived amount is rounded once, here.
    """
    sums = _sum_segments(client, inv.plan(client.plan), month)
    share = sums.solidarity / sums.active if sums.active else Decimal(0)
    solidarity_paid = _cad(sums.solidarity_paid)
    return ClientCost(
        client=client.slug,
        name=client.name,
        plan=client.plan,
        is_solidarity=client.is_solidarity,
        solidarity_share=share,
        list_price_cad=_cad(sums.list_price),
        paid_cad=solidarity_paid + _cad(sums.regular_paid),
        cost_cad=cost_cad,
        full_cost_cad=full_cost_cad,
        solidarity_cost_cad=_cad(cost_cad * share),
        solidarity_list_cad=_cad(sums.solidarity_list),
        solidarity_paid_cad=solidarity_paid,
    )
