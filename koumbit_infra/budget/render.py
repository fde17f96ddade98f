"""The budget request as the committee reads it: HTML, PDF (the same content) and CSV, fr/en.

``context`` translates and formats once; the HTML template (autoescaped) and the PDF both
draw from it, and the CSV writes the same lines with amounts as plain decimals.
"""

from __future__ import annotations

import io
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from jinja2 import Environment, PackageLoader

from koumbit_infra.budget.propose import Proposal, ProposalLine
from koumbit_infra.report.catalogue import Lang
from koumbit_infra.report.csvcell import csv_writer, text_cell
from koumbit_infra.report.money import money, month_name

ProposalFormat = Literal["pdf", "html", "csv"]

# key: (français, English)
TEXT: dict[str, tuple[str, str]] = {
    "title": ("Demande de budget Infra", "Infra budget request"),
    "env": ("Environnement :", "Environment:"),
    "scenario": ("Scénario :", "Scenario:"),
    "no_scenario": ("aucun changement", "no change"),
    "basis": ("Taux mensuels tirés de {count} mois clôturés dans le registre ({first} à {last}).",
              "Monthly rates from {count} months closed in the ledger ({first} to {last})."),
    "no_basis": ("Aucun mois clôturé : les montants sont ceux de l'inventaire.",
                 "No closed month: the amounts are the inventory's."),
    "growth": ("Croissance des serveurs mesurée par {source}.",
               "Servers' growth measured by {source}."),
    "no_growth": ("Croissance des serveurs non mesurée (aucun Prometheus lu) : aucun achat"
                  " de capacité n'est calculé.",
                  "Servers' growth not measured (no Prometheus read): no capacity purchase"
                  " is worked out."),
    "lines": ("Postes", "Lines"),
    "line": ("Poste", "Line"),
    "this_year": ("Cette année ({year})", "This year ({year})"),
    "without_change": ("Sans changement", "Without change"),
    "purchases": ("Achats de capacité", "Capacity purchases"),
    "month": ("Mois", "Month"),
    "proposed": ("Proposé", "Proposed"),
    "low": ("Bas", "Low"),
    "high": ("Haut", "High"),
    "total": ("Total", "Total"),
    "allocated": ("Alloué cette année par le Conseil de Travail : {amount}.",
                  "Allocated this year by the Conseil de Travail: {amount}."),
    "request": ("Allocation demandée pour {year} : {amount} (entre {low} et {high}).",
                "Allocation requested for {year}: {amount} (between {low} and {high})."),
    "solidarity": ("Comptes solidaires", "Solidarity accounts"),
    "solidarity_words": (
        "Les comptes solidaires coûteraient {projected} en {year} (entre {low} et {high}"
        " selon l'écart de la tendance) : {average} comptes en moyenne, à {per_account}"
        " par compte et par mois, soit le coût moins le prix payé en moyenne sur les mois"
        " clôturés. Le nombre de comptes varie de {slope} par mois ({last} au dernier mois"
        " clôturé). Sur les {months} mois clôturés de {current}, ils ont coûté {this_year}.",
        "The solidarity accounts would cost {projected} in {year} (between {low} and {high}"
        " by the trend's spread): {average} accounts on average, at {per_account} per"
        " account and month, the cost less the price paid on average over the closed"
        " months. The number of accounts changes by {slope} a month ({last} in the last"
        " closed month). Over the {months} closed months of {current}, they cost"
        " {this_year}.",
    ),
    "solidarity_added": (
        "Le scénario ajoute {count} comptes solidaires dès {month}, à {cost} par compte et"
        " par mois moins le prix qu'ils paient : {amount} sur l'année, compris ci-dessus.",
        "The scenario adds {count} solidarity accounts from {month}, at {cost} per account"
        " and month less the price they pay: {amount} over the year, included above.",
    ),
    "price_change": (
        "Les changements de prix des forfaits du scénario changent ce que paient les"
        " clients réguliers de {amount} sur l'année.",
        "The scenario's plan price changes change what regular clients pay by {amount}"
        " over the year.",
    ),
    "growth_title": ("Croissance", "Growth"),
    "history": ("Mois clôturés : clients, sites, comptes solidaires",
                "Closed months: clients, sites, solidarity accounts"),
    "closed_month": ("Mois (version)", "Month (version)"),
    "clients": ("Clients", "Clients"),
    "sites": ("Sites", "Sites"),
    "accounts": ("Comptes solidaires", "Solidarity accounts"),
    "subsidy": ("Subvention", "Subsidy"),
    "capacity": ("Capacité des serveurs", "Servers' capacity"),
    "server": ("Serveur", "Server"),
    "resource": ("Ressource", "Resource"),
    "level": ("Utilisé / capacité", "Used / capacity"),
    "per_month": ("Par mois", "Per month"),
    "full": ("Plein en", "Full in"),
    "not_measured": ("non mesuré", "not measured"),
    "not_this_year": ("pas cette année", "not this year"),
    "sources": ("Sources", "Sources"),
    "footer": ("Montants en dollars canadiens, arrondis une fois au cent par poste; les"
               " totaux sont les sommes des postes.",
               "Amounts in Canadian dollars, each line rounded once to the cent; totals are"
               " the sums of the lines."),
    "page": ("{title} — {year} — page {page} de {pages}",
             "{title} — {year} — page {page} of {pages}"),
    "disk": ("disque", "disk"),
    "memory": ("mémoire", "memory"),
    "cpu": ("processeur", "CPU"),
}


def text(key: str, lang: Lang, **values: object) -> str:
    value = TEXT[key][0 if lang == "fr" else 1]
    return value.format(**values) if values else value


def _number(value: Decimal, lang: Lang) -> str:
    shown = f"{value:.2f}"
    return shown.replace(".", ",") if lang == "fr" else shown


def line_name(line: ProposalLine, lang: Lang) -> str:
    return line.name if lang == "fr" else line.name_en


def context(p: Proposal, lang: Lang) -> dict[str, Any]:
    """Everything the request shows, translated and formatted."""

    def t(key: str, **values: object) -> str:
        return text(key, lang, **values)

    def m(amount: Decimal) -> str:
        return money(amount, lang)

    s = p.solidarity
    notes = [t("basis", count=len(p.basis), first=month_name(p.basis[0], lang),
               last=month_name(p.basis[-1], lang)) if p.basis else t("no_basis")]
    notes.append(t("growth", source=p.growth_source) if p.growth_source else t("no_growth"))
    words = [t("solidarity_words", projected=m(s.projected_cad), year=p.fiscal_year,
               low=m(s.low_cad), high=m(s.high_cad), average=_number(s.accounts_average, lang),
               per_account=m(s.subsidy_per_account_cad),
               slope=_number(s.accounts_per_month, lang), last=s.accounts_last,
               months=s.this_year_months, current=p.current_year,
               this_year=m(s.this_year_cad))]
    if s.added_accounts and s.added_from:
        words.append(t("solidarity_added", count=s.added_accounts,
                       month=month_name(s.added_from, lang), cost=m(s.cost_per_account_cad),
                       amount=m(s.added_cad)))
    if s.plan_price_change_cad:
        words.append(t("price_change", amount=m(s.plan_price_change_cad)))
    return {
        "lang": lang, "t": t,
        "title": t("title"), "year": p.fiscal_year, "env": p.env,
        "scenario": p.scenario or t("no_scenario"),
        "notes": notes,
        "header": [t("line"), t("this_year", year=p.current_year), t("without_change"),
                   t("purchases"), t("month"), t("proposed"), t("low"), t("high")],
        "rows": [
            [line_name(line, lang), m(line.this_year_cad), m(line.without_change_cad),
             m(line.purchases_cad), str(line.month or ""), m(line.proposed_cad),
             m(line.low_cad), m(line.high_cad)]
            for line in p.lines],
        "totals": [t("total"), m(p.total("this_year")), m(p.total("without_change")),
                   m(p.total("purchases")), "", m(p.total("proposed")), m(p.total("low")),
                   m(p.total("high"))],
        "summary": [t("allocated", amount=m(p.allocated_cad)),
                    t("request", year=p.fiscal_year, amount=m(p.total("proposed")),
                      low=m(p.total("low")), high=m(p.total("high")))],
        "solidarity": words,
        "history_header": [t("closed_month"), t("clients"), t("sites"), t("accounts"),
                           t("subsidy")],
        "history": [[f"{c.month} (v{c.version})", str(c.clients), str(c.sites),
                     str(c.solidarity), m(c.subsidy_cad)] for c in p.history],
        "capacity_header": [t("server"), t("resource"), t("level"), t("per_month"),
                            t("full")],
        "capacity": [_capacity_row(o, lang) for o in p.capacity],
        "sources": [f"{line_name(line, lang)} : {line.source.fr}" if lang == "fr"
                    else f"{line.name_en}: {line.source.en}" for line in p.lines],
        "warnings": list(p.warnings),
    }


def _capacity_row(outlook: Any, lang: Lang) -> list[str]:
    use = outlook.use
    name = text(use.resource, lang)
    if outlook.level is None:
        return [use.server, name, text("not_measured", lang), "", ""]
    unit = use.unit
    full = str(outlook.full) if outlook.full else text("not_this_year", lang)
    bounds = f" ({outlook.full_early or '—'} … {outlook.full_late or '—'})"
    return [use.server, name,
            f"{_number(outlook.level, lang)} / {_number(use.capacity, lang)} {unit}",
            f"{_number(outlook.per_month, lang)} ± {_number(outlook.error_per_month, lang)}",
            full + bounds]


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("koumbit_infra.budget", "templates"),
                       autoescape=True, trim_blocks=True, lstrip_blocks=True)


def render_html(p: Proposal, lang: Lang) -> str:
    """The request as one HTML page; every text from the inventory or scenario is escaped."""
    return _environment().get_template("proposal.html.j2").render(context(p, lang))


def render_csv(p: Proposal, lang: Lang) -> str:
    """One row per line, amounts as plain decimals with a dot, then the total; names are
    neutralised so a spreadsheet never runs them as formulas."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(("key", "line", "this_year_cad", "without_change_cad", "purchases_cad",
                     "purchase_month", "proposed_cad", "low_cad", "high_cad", "source"))
    for line in p.lines:
        writer.writerow((text_cell(line.key), text_cell(line_name(line, lang)),
                         line.this_year_cad, line.without_change_cad, line.purchases_cad,
                         str(line.month or ""), line.proposed_cad, line.low_cad,
                         line.high_cad,
                         text_cell(line.source.fr if lang == "fr" else line.source.en)))
    writer.writerow(("total", text("total", lang), p.total("this_year"),
                     p.total("without_change"), p.total("purchases"), "",
                     p.total("proposed"), p.total("low"), p.total("high"), ""))
    return out.getvalue()


def render_proposal(p: Proposal, lang: Lang, fmt: ProposalFormat) -> bytes:
    """The request in ``lang`` as ``fmt``, encoded (UTF-8 for text formats)."""
    if fmt == "csv":
        return render_csv(p, lang).encode()
    if fmt == "html":
        return render_html(p, lang).encode()
    from koumbit_infra.budget.pdf import render_pdf

    return render_pdf(p, lang)
