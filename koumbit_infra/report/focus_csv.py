"""The period as CSV with FOCUS-like columns, one row per client; amounts with a dot.

SubAccountId, SubAccountName and x_PlanName come from the inventory, written by people:
they pass through ``text_cell`` (a leading ' when they would start a formula). Every
other column is ours: dates, amounts (which stay numbers, "-12.34" included), constants.
"""

from __future__ import annotations

import io

from koumbit_infra.report.catalogue import Lang
from koumbit_infra.report.csvcell import csv_writer, text_cell
from koumbit_infra.report.data import ReportData

COLUMNS = (
    "ChargePeriodStart", "ChargePeriodEnd", "BilledCost", "EffectiveCost", "ListCost",
    "BillingCurrency", "SubAccountId", "SubAccountName", "ChargeCategory",
    "x_PlanName", "x_FullCost", "x_Solidarity", "x_Subsidy", "x_SubsidyListPrice", "x_Margin",
)


def render_csv(data: ReportData, lang: Lang) -> str:
    """BilledCost is the price paid, EffectiveCost the cost charged (idle left out),
    ListCost the plan's list price; the period end is exclusive, as in FOCUS."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(COLUMNS)
    start, end = data.month.start.isoformat(), data.last_month.end.isoformat()
    for c in sorted(data.allocation.clients, key=lambda c: c.client):
        fr, en = data.plan_labels.get(c.plan, (c.plan, c.plan))
        writer.writerow((
            start, end, f"{c.paid_cad:f}", f"{c.cost_cad:f}", f"{c.list_price_cad:f}", "CAD",
            text_cell(c.client), text_cell(c.name), "Usage", text_cell(fr if lang == "fr" else en),
            f"{c.full_cost_cad:f}", "true" if c.solidarity_share > 0 else "false",
            f"{c.subsidy_cost_cad:f}", f"{c.subsidy_list_cad:f}", f"{c.margin_cad:f}",
        ))
    return out.getvalue()
