"""The report as one HTML page (jinja2, autoescaped); ``context`` also feeds the PDF (pdf.py)."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

from babel.numbers import format_decimal
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from koumbit_infra.cost import ClientCost, LineKind
from koumbit_infra.report.catalogue import LOCALES, Lang, label
from koumbit_infra.report.chart import bar_chart
from koumbit_infra.report.data import ZERO, ReportData
from koumbit_infra.report.money import money, month_name


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("koumbit_infra.report", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
    )


def render_html(data: ReportData, lang: Lang) -> str:
    """The whole report in ``lang``: summary with chart, clients, solidarity, servers."""
    return _environment().get_template("report.html.j2").render(context(data, lang))


def context(data: ReportData, lang: Lang) -> dict[str, Any]:
    """Everything the template shows, already translated and formatted."""

    def m(amount: Decimal) -> str:
        return money(amount, lang)

    def t(key: str, **values: object) -> str:
        return label(key, lang, **values)

    budget = data.budget
    alloc = data.allocation
    subsidy_cost, subsidy_list = alloc.solidarity_totals()
    clients = sorted(alloc.clients, key=lambda c: c.name.casefold())
    bars = [(t(key), amount, m(amount)) for key, amount in (
        ("allocated", budget.allocated_cad), ("spent", budget.spent_cad),
        ("projected", budget.projected_cad))]
    return {
        "lang": lang,
        "t": t,
        "title": t("title"),
        "period": period_name(data, lang),
        "env": data.env,
        "provenance": _provenance(data, lang),
        "closed": data.closed,
        "budget_title": t("budget", year=budget.fiscal_year),
        "budget_months": t("budget_months", closed=len(budget.closed),
                           months=len(budget.months)),
        "budget_rows": [
            (t("allocated"), m(budget.allocated_cad)),
            (t("spent"), m(budget.spent_cad)),
            (t("projected"), m(budget.projected_cad)),
            (t("variance"), m(budget.variance_cad)),
        ],
        "over": budget.over_allocation,
        "chart_title": t("chart"),
        "chart_bars": bars,
        "chart": Markup(bar_chart(t("chart"), bars)),  # noqa: S704 - escape() in chart.py
        "month_rows": [
            (t("month_total" if len(data.months) == 1 else "period_total"), m(alloc.total_cad)),
            (t("month_idle"), m(alloc.idle_cad)),
            (t("month_paid"), m(data.paid_cad)),
        ],
        "clients": [_client_row(c, data, lang) for c in clients],
        "client_totals": (
            m(data.paid_cad), m(sum((c.cost_cad for c in clients), ZERO)),
            m(subsidy_cost), m(data.regular_margin_cad),
        ),
        "solidarity_rows": [
            (t("solidarity_count"), str(data.solidarity_count)),
            (t("subsidy_cost"), m(subsidy_cost)),
            (t("subsidy_list"), m(subsidy_list)),
            (t("regular_margin"), m(data.regular_margin_cad)),
        ],
        "servers": [
            (s.server, str(s.sites), m(s.cost_cad), m(s.charged_cad), m(s.idle_cad),
             *_capacity(data, s.server, lang))
            for s in alloc.servers()
        ],
        "shared_lines": [
            (line.name if lang == "fr" else line.name_en or line.name, m(line.amount_cad))
            for line in alloc.lines if line.kind is LineKind.BUDGET_LINE
        ],
    }


def _capacity(data: ReportData, server: str, lang: Lang) -> tuple[str, str]:
    """"30 / 80" GiB of quota and "13,8 / 4" GiB of PHP memory promised; "" off the web."""
    if server not in data.capacity:
        return "", ""
    quota, disk, memory, physical = data.capacity[server]
    locale = LOCALES[lang]
    return (f"{format_decimal(quota, locale=locale)} / {format_decimal(disk, locale=locale)}",
            f"{format_decimal(memory, format='#,##0.0', locale=locale)}"
            f" / {format_decimal(physical, locale=locale)}")


def period_name(data: ReportData, lang: Lang) -> str:
    """"novembre 2026", or "année financière 2026-2027 (avril à novembre 2026)"."""
    if data.fiscal_year is None and len(data.months) == 1:
        return month_name(data.month, lang)
    return label("fiscal_period", lang, year=data.fiscal_year or "",
                 first=month_name(data.month, lang), last=month_name(data.last_month, lang))


def _provenance(data: ReportData, lang: Lang) -> str:
    """Where the figures come from: which version of each month, and why it was revised."""
    record = data.record
    if record is not None:
        note = label("closed", lang, version=record.version, closed_at=record.closed_at,
                     usage=record.usage_source)
        if record.reason:
            note += " " + label("revised", lang, previous=record.version - 1,
                                reason=record.reason)
        return note
    if len(data.months) == 1:
        return label("not_closed", lang)
    note = label("period_closed", lang, closed=data.closed_count, months=len(data.months))
    if data.revised:
        note += " " + label("period_revised", lang, months="; ".join(
            label("month_version", lang, month=month_name(r.month, lang), version=r.version)
            + (f" ({r.reason})" if r.reason else "") for r in data.revised))
    return note if data.closed else f"{note} {label('period_not_closed', lang)}"


def _client_row(client: ClientCost, data: ReportData, lang: Lang) -> dict[str, Any]:
    fr, en = data.plan_labels.get(client.plan, (client.plan, client.plan))
    return {
        "name": client.name,
        "solidarity": client.solidarity_share > 0,
        "plan": fr if lang == "fr" else en,
        "paid": money(client.paid_cad, lang),
        "cost": money(client.cost_cad, lang),
        "subsidy": money(client.subsidy_cost_cad, lang) if client.solidarity_share > 0 else "",
        "margin": money(client.margin_cad, lang) if client.solidarity_share < 1 else "",
    }
