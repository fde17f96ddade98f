"""The FOCUS 1.0 export: the period's costs as the FinOps Foundation's open billing format.

Any FinOps tool that reads FOCUS reads this file; the committee's simple table
(one row per client) stays in ``focus_csv.py``. How the collective maps onto FOCUS:

- the provider, the publisher and the invoice issuer are the collective;
- the billing account is the client (its invoices go to it); so is the sub-account;
- a resource is a site (``ResourceType`` Site, its domain as id) or a server (idle);
- a SKU is a plan (``SkuId`` the plan, ``SkuPriceId`` the plan at the price paid);
- ``BilledCost`` is what the client paid: one ``Purchase`` row per client and month
  (its plan, recurring; ``ListCost`` the plan's list price);
- ``EffectiveCost`` is the allocated cost: per site and server its CPU, memory and disk
  (``Usage``, usage-based), per site its share of the shared lines (``Usage``,
  recurring), and per server the capacity no site used (idle), billed to the Infra
  team's own account, which bears it.

So the ``BilledCost`` column adds up to what clients paid and ``EffectiveCost`` to the
period's total cost, to the cent (tested). The subsidy, the solidarity flag, the server,
the environment and the ledger version of each month are ``x_`` columns.

Times are UTC instants (FOCUS asks for them): a month runs from its first midnight in the
budget's time zone to the next month's, as the ledger closes it. The resource id is written
twice, as FOCUS 1.0 spells it (``ResourceId``) and as the FinOps Foundation's validator
1.0.0 checks it (``ResourceID``, a typo in its rule files), and the charge category twice,
as ``ChargeCategory`` and as ``ChargeType`` (its pre-1.0 name, which the validator's
SkuPriceId rule still reads), so the file passes both.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC
from decimal import Decimal
from zoneinfo import ZoneInfo

from koumbit_infra.cost import Allocation, CloseRecord, Month
from koumbit_infra.report.catalogue import Lang
from koumbit_infra.report.csvcell import text_cell
from koumbit_infra.report.data import ReportData

PROVIDER = "Koumbit"
INFRA_ACCOUNT = "infra"  # the Infra team's own account: it bears idle capacity

COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeType", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName",
    "CommitmentDiscountStatus", "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit",
    "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuer", "ListCost",
    "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit", "Provider",
    "Publisher", "RegionId", "RegionName", "ResourceId", "ResourceID", "ResourceName",
    "ResourceType", "ServiceCategory", "ServiceName", "SkuId", "SkuPriceId", "SubAccountId",
    "SubAccountName", "Tags",
    "x_Environment", "x_Server", "x_Solidarity", "x_SubsidyCost", "x_SubsidyListPrice",
    "x_LedgerVersion",
)

ZERO = "0.00"
Row = dict[str, str]


def render_focus(data: ReportData, lang: Lang) -> str:
    """The period as FOCUS 1.0 CSV: a header, then one row per charge (see the module)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\r\n")  # as csvcell.csv_writer
    writer.writeheader()
    zone = ZoneInfo(data.timezone)
    for month, allocation, record in zip(data.months, data.per_month, data.records,
                                         strict=True):
        writer.writerows(focus_rows(allocation, month, zone, data, lang, record=record))
    return out.getvalue()


def focus_rows(
    allocation: Allocation, month: Month, zone: ZoneInfo, data: ReportData, lang: Lang, *,
    record: CloseRecord | None,
) -> Iterator[Row]:
    """One month's rows: per client its purchase, per site its usage and shared share,
    per server its idle capacity."""
    start = month.start_time(zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = month.end_time(zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    common = {
        "BillingCurrency": "CAD", "BillingPeriodStart": start, "BillingPeriodEnd": end,
        "ChargePeriodStart": start, "ChargePeriodEnd": end, "InvoiceIssuer": PROVIDER,
        "Provider": PROVIDER, "Publisher": PROVIDER, "x_Environment": data.env,
        "x_LedgerVersion": str(record.version) if record else "",
    }
    t = _labels(lang)
    clients = {c.client: c for c in allocation.clients}
    sites: dict[str, list[str]] = {}
    for site in allocation.sites:
        sites.setdefault(site.client, []).append(site.site)
    site_rows = {(r.site, r.server): r for r in allocation.site_servers}
    by_site = {s.site: s for s in allocation.sites}
    for slug in sorted(clients):
        client = clients[slug]
        fr, en = data.plan_labels.get(client.plan, (client.plan, client.plan))
        account = {
            "BillingAccountId": slug, "BillingAccountName": text_cell(client.name),
            "SubAccountId": slug, "SubAccountName": text_cell(client.name),
            "x_Solidarity": "true" if client.solidarity_share > 0 else "false",
            "SkuId": client.plan, "SkuPriceId": f"{client.plan}/{client.paid_cad:f}",
        }
        yield _row(common, account, {
            "ChargeCategory": "Purchase", "ChargeFrequency": "Recurring",
            "ChargeDescription": text_cell(t["plan"].format(plan=fr if lang == "fr" else en)),
            "BilledCost": _amount(client.paid_cad), "EffectiveCost": ZERO,
            "ListCost": _amount(client.list_price_cad),
            "ListUnitPrice": _amount(client.list_price_cad),
            "ContractedCost": _amount(client.paid_cad),
            "ContractedUnitPrice": _amount(client.paid_cad),
            "PricingCategory": "Standard", "PricingQuantity": "1.0", "PricingUnit": "Month",
            "ServiceCategory": "Web", "ServiceName": t["service"],
            "Tags": _tags({"plan": client.plan}),
            "x_SubsidyCost": _amount(client.subsidy_cost_cad),
            "x_SubsidyListPrice": _amount(client.subsidy_list_cad),
        })
        for domain in sorted(sites.get(slug, ())):
            site = by_site[domain]
            resource = {"ResourceId": domain, "ResourceID": domain, "ResourceName": domain,
                        "ResourceType": "Site"}
            for server in site.servers:
                direct = site_rows[(domain, server)]
                yield _row(common, account, resource, _cost(direct.direct_cad), {
                    "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based",
                    "ChargeDescription": t["usage"].format(site=domain, server=server),
                    "ServiceCategory": "Web", "ServiceName": t["service"],
                    "Tags": _tags({"plan": client.plan, "server": server}),
                    "x_Server": server,
                })
            yield _row(common, account, resource, _cost(site.shared_cad), {
                "ChargeCategory": "Usage", "ChargeFrequency": "Recurring",
                "ChargeDescription": t["shared"].format(site=domain),
                "ServiceCategory": "Other", "ServiceName": t["shared_service"],
                "Tags": _tags({"plan": client.plan}),
            })
    for idle in sorted(allocation.idle, key=lambda i: i.server):
        server = idle.server
        yield _row(common, _cost(idle.amount_cad), {
            "BillingAccountId": INFRA_ACCOUNT, "BillingAccountName": t["infra"],
            "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based",
            "ChargeDescription": (t["idle"].format(server=server) if server
                                  else t["idle_shared"]),
            "ResourceId": server, "ResourceID": server, "ResourceName": server,
            "ResourceType": "Server" if server else "",
            "ServiceCategory": "Compute" if server else "Other",
            "ServiceName": t["idle_service"], "Tags": _tags({"idle": "true"}),
            "SkuId": "capacity", "SkuPriceId": f"capacity/{server or 'shared'}",
            "x_Server": server,
        })


def _row(*parts: Row) -> Row:
    row = dict.fromkeys(COLUMNS, "")
    for part in parts:
        row.update(part)
    row["ChargeType"] = row["ChargeCategory"]
    return row


def _cost(effective: Decimal) -> Row:
    """An allocated cost: nothing billed for it, no list or contracted price."""
    return {"BilledCost": ZERO, "EffectiveCost": _amount(effective), "ListCost": ZERO,
            "ContractedCost": ZERO}


def _amount(value: Decimal) -> str:
    # Always with a decimal point: readers (pandas among them) then see a decimal column.
    return f"{value:.2f}"


def _tags(values: dict[str, str]) -> str:
    return json.dumps(values, sort_keys=True, ensure_ascii=False)


_TEXT: dict[str, tuple[str, str]] = {
    "plan": ("Forfait {plan}, un mois", "{plan} plan, one month"),
    "usage": ("Processeur, mémoire et disque de {site} sur {server}",
              "CPU, memory and disk of {site} on {server}"),
    "shared": ("Part des coûts partagés de {site}", "Share of the shared costs of {site}"),
    "idle": ("Capacité inutilisée de {server}", "Unused capacity of {server}"),
    "idle_shared": ("Coûts partagés sans site pour les porter",
                    "Shared costs with no site to bear them"),
    "service": ("Hébergement web", "Web hosting"),
    "shared_service": ("Coûts partagés", "Shared costs"),
    "idle_service": ("Capacité inutilisée", "Unused capacity"),
    "infra": ("Équipe Infra (non imputé)", "Infra team (not charged)"),
}


def _labels(lang: Lang) -> dict[str, str]:
    index = 0 if lang == "fr" else 1
    return {key: pair[index] for key, pair in _TEXT.items()}


def column_sums(text: str, columns: Iterable[str] = ("BilledCost", "EffectiveCost")
                ) -> dict[str, Decimal]:
    """The sum of each money column of a FOCUS export (to check it against the ledger)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    return {c: sum((Decimal(r[c]) for r in rows if r[c]), Decimal("0.00")) for c in columns}


__all__ = ["COLUMNS", "column_sums", "focus_rows", "render_focus"]
