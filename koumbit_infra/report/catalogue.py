"""Every label of the report, French first then English, in one place."""

from __future__ import annotations

from typing import Literal

Lang = Literal["fr", "en"]
LANGS: tuple[Lang, ...] = ("fr", "en")
LOCALES: dict[Lang, str] = {"fr": "fr_CA", "en": "en_CA"}

# key: (français, English)
CATALOGUE: dict[str, tuple[str, str]] = {
    "title": ("Coûts de l'hébergement", "Hosting costs"),
    "env": ("Environnement :", "Environment:"),
    "closed": (
        "Mois clôturé dans le registre : version {version}, le {closed_at}; usage : {usage}.",
        "Month closed in the ledger: version {version}, on {closed_at}; usage: {usage}.",
    ),
    "revised": (
        "Révision de la version {previous} : {reason}.",
        "Revision of version {previous}: {reason}.",
    ),
    "period_revised": ("Versions révisées : {months}.", "Revised versions: {months}."),
    "month_version": ("{month}, version {version}", "{month}, version {version}"),
    "not_closed": (
        "Mois non clôturé : calculé ici avec l'usage réservé seulement (chaque site paie sa"
        " réservation). Les chiffres changeront à la clôture.",
        "Month not closed: computed here with reserved usage only (each site is charged its"
        " reservation). The figures will change when the month is closed.",
    ),
    "fiscal_period": (
        "année financière {year} ({first} à {last})",
        "fiscal year {year} ({first} to {last})",
    ),
    "period_closed": (
        "{closed} mois sur {months} clôturés dans le registre.",
        "{closed} of {months} months closed in the ledger.",
    ),
    "period_not_closed": (
        "Les mois non clôturés sont calculés ici avec l'usage réservé seulement.",
        "Months not closed are computed here with reserved usage only.",
    ),
    "period_total": ("Coût total de la période", "Total cost of the period"),
    "summary": ("Sommaire", "Summary"),
    "budget": ("Budget de l'année financière {year}", "Budget of fiscal year {year}"),
    "budget_months": (
        "{closed} mois clôturés sur {months}.",
        "{closed} of {months} months closed.",
    ),
    "allocated": ("Alloué par le Conseil de Travail", "Allocated by the Conseil de Travail"),
    "spent": ("Dépensé à ce jour", "Spent to date"),
    "projected": ("Projeté à la fin de l'année", "Projected to year end"),
    "variance": ("Écart (alloué − projeté)", "Variance (allocated − projected)"),
    "over": (
        "La projection dépasse l'allocation du Conseil de Travail.",
        "The projection exceeds the Conseil de Travail's allocation.",
    ),
    "within": (
        "La projection reste dans l'allocation du Conseil de Travail.",
        "The projection stays within the Conseil de Travail's allocation.",
    ),
    "chart": ("Budget : alloué, dépensé, projeté", "Budget: allocated, spent, projected"),
    "month_total": ("Coût total du mois", "Total cost of the month"),
    "month_idle": ("dont capacité inutilisée", "of which unused capacity"),
    "month_paid": ("Payé par les clients", "Paid by clients"),
    "clients": ("Coût par client", "Cost per client"),
    "client": ("Organisme", "Organisation"),
    "plan": ("Forfait", "Plan"),
    "paid": ("Prix payé", "Price paid"),
    "cost": ("Coût", "Cost"),
    "subsidy": ("Subvention", "Subsidy"),
    "margin": ("Marge", "Margin"),
    "solidarity_mark": ("compte solidaire", "solidarity account"),
    "total": ("Total", "Total"),
    "solidarity": ("Comptes solidaires", "Solidarity accounts"),
    "solidarity_intro": (
        "Ce que la mission coûte ce mois-ci, à côté de la marge des clients réguliers.",
        "What the mission costs this month, beside the margin of regular clients.",
    ),
    "solidarity_count": ("Comptes solidaires", "Solidarity accounts"),
    "subsidy_cost": (
        "Subvention selon le coût (coût − prix payé)",
        "Subsidy by cost (cost − price paid)",
    ),
    "subsidy_list": (
        "Subvention selon le prix catalogue (prix catalogue − prix payé)",
        "Subsidy by list price (list price − price paid)",
    ),
    "regular_margin": ("Marge des clients réguliers", "Margin of regular clients"),
    "servers": ("Coût par serveur", "Cost per server"),
    "server": ("Serveur", "Server"),
    "sites": ("Sites", "Sites"),
    "charged": ("Imputé aux sites", "Charged to sites"),
    "idle": ("Inutilisé", "Unused"),
    "quota_committed": ("Quota promis / disque (Gio)", "Quota promised / disk (GiB)"),
    "memory_committed": ("Mémoire PHP promise / RAM (Gio)", "PHP memory promised / RAM (GiB)"),
    "shared_lines": ("Coûts partagés", "Shared costs"),
    "line": ("Poste", "Cost line"),
    "amount": ("Montant", "Amount"),
    "cut_texts": ("Textes coupés dans les tableaux", "Text cut short in the tables"),
    "cut_texts_intro": (
        "Ces textes étaient trop longs pour leur case (coupés par « … ») ; les voici en"
        " entier, jusqu'à {chars} caractères. Le CSV et le HTML les donnent toujours en entier.",
        "These texts were too long for their cell (cut with \"…\"); here they are whole, up to"
        " {chars} characters. The CSV and the HTML always give them whole.",
    ),
    "cut_text_length": ("({chars} caractères en tout)", "({chars} characters in all)"),
    "page": ("{title} — {period} — page {page} de {pages}",
             "{title} — {period} — page {page} of {pages}"),
    "footer": (
        "Montants en dollars canadiens, arrondis au cent; tirés du registre et de l'inventaire.",
        "Amounts in Canadian dollars, rounded to the cent; from the ledger and the inventory.",
    ),
}


def label(key: str, lang: Lang, **values: object) -> str:
    """The label ``key`` in ``lang``, with ``{name}`` fields filled from ``values``."""
    text = CATALOGUE[key][LANGS.index(lang)]
    return text.format(**values) if values else text
