"""A client's price, cost and solidarity share for a month, from its allocated sites."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from koumbit_infra.cost.apportion import CENT
from koumbit_infra.cost.period import Month
from koumbit_infra.cost.results import ClientCost
from koumbit_infra.inventory import Client, Inventory


def _cad(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def client_cost(
    inv: Inventory, client: Client, month: Month, cost_cad: Decimal, full_cost_cad: Decimal
) -> ClientCost:
    """The client's month, given what its sites were charged (already to the cent).

    Prices are pro-rated from ``client.since``. A client whose solidarity
    account began inside the month is split at ``solidarity.since``: before
    it, the client is taken to have paid the plan's list price (the inventory
    keeps no price history); after it, ``monthly_price_paid_cad``. Its cost is
    split in the same proportion. Each derived amount is rounded once, here.
    """
    list_monthly = inv.plan(client.plan).monthly_price_cad
    active = month.fraction_from(client.since)
    if client.solidarity is None:
        solidarity = Decimal(0)
    else:
        later = max(d for d in (client.since, client.solidarity.since) if d is not None)
        solidarity = month.fraction_from(later)
    regular = active - solidarity
    share = solidarity / active if active else Decimal(0)
    solidarity_cost = _cad(cost_cad * share)
    solidarity_paid = _cad(client.monthly_price_paid_cad * solidarity)
    regular_price = list_monthly if client.is_solidarity else client.monthly_price_paid_cad
    return ClientCost(
        client=client.slug,
        name=client.name,
        plan=client.plan,
        is_solidarity=client.is_solidarity,
        solidarity_share=share,
        list_price_cad=_cad(list_monthly * active),
        paid_cad=solidarity_paid + _cad(regular_price * regular),
        cost_cad=cost_cad,
        full_cost_cad=full_cost_cad,
        solidarity_cost_cad=solidarity_cost,
        solidarity_list_cad=_cad(list_monthly * solidarity),
        solidarity_paid_cad=solidarity_paid,
    )
