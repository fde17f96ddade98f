"""The list of affected sites, grouped by advisory, with each site's client and contact:
French first, then English, as text (an e-mail's body), HTML or CSV.

Every string here is hostile: the advisory's title, link and package come from composer's
answer through a site's server, the names and contacts from the inventory. Text keeps
only printable characters (the audit files are parsed so); HTML escapes everything and
links only ``https://`` addresses; CSV cells of text never start a formula
(``koumbit_infra.report.csvcell``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from html import escape

from koumbit_infra.exporter.sitestate import OpenAdvisory
from koumbit_infra.inventory import Client
from koumbit_infra.report.csvcell import csv_writer, text_cell
from koumbit_infra.sites.status import SiteStatus

# What alerts first (critical, then what nobody rated), then the others.
ORDER = ("critical", "unknown", "high", "medium", "low")
SEVERITY_NAMES = {
    "fr": {"critical": "critique", "unknown": "non évaluée", "high": "élevée",
           "medium": "moyenne", "low": "faible"},
    "en": {"critical": "critical", "unknown": "unrated", "high": "high", "medium": "medium",
           "low": "low"},
}
WORDS = {
    "fr": {"title": "Avis de sécurité ouverts sur les sites", "none": "Aucun avis ouvert.",
           "summary": "{advisories} avis, {sites} site(s) touché(s)", "colon": " :",
           "link": "Lien", "since": "Vu depuis le",
           "sites": "Sites touchés", "client": "client", "contact": "contact",
           "server": "serveur", "not_audited": "Sites sans audit lisible",
           "never": "pas encore audité"},
    "en": {"title": "Security advisories open on the sites", "none": "No open advisory.",
           "summary": "{advisories} advisories, {sites} site(s) affected", "colon": ":",
           "link": "Link", "since": "Seen since", "sites": "Affected sites",
           "client": "client", "contact": "contact", "server": "server",
           "not_audited": "Sites without a readable audit", "never": "not audited yet"},
}
LANGS = ("fr", "en")


@dataclass(frozen=True)
class Affected:
    domain: str
    server: str
    client: Client
    first_seen: datetime


@dataclass(frozen=True)
class AdvisoryGroup:
    """One advisory (by id) and every site it is open on."""

    advisory: OpenAdvisory
    sites: tuple[Affected, ...]

    @property
    def first_seen(self) -> datetime:
        return min(s.first_seen for s in self.sites)


def group(statuses: Iterable[SiteStatus]) -> tuple[list[AdvisoryGroup], list[SiteStatus]]:
    """Advisories, most urgent first, each with its sites; and the sites not audited."""
    found: dict[str, tuple[OpenAdvisory, list[Affected]]] = {}
    blind = []
    for status in statuses:
        if status.audit is None or status.problems:
            blind.append(status)
        for a in status.audit.advisories if status.audit else ():
            site = status.site
            entry = found.setdefault(a.id, (a, []))
            entry[1].append(Affected(site.domain, site.placed.site.server,
                                     site.placed.client, a.first_seen))
    groups = [AdvisoryGroup(a, tuple(sorted(s, key=lambda x: x.domain)))
              for a, s in found.values()]
    groups.sort(key=lambda g: (ORDER.index(g.advisory.severity), g.first_seen,
                               g.advisory.package, g.advisory.id))
    return groups, blind


def _contact(client: Client) -> str:
    c = client.contact
    return f"{c.name} <{c.email}>" + (f", {c.phone}" if c.phone else "")


def _text_lang(groups: list[AdvisoryGroup], blind: list[SiteStatus], lang: str,
               day: str) -> list[str]:
    w, names = WORDS[lang], SEVERITY_NAMES[lang]
    c = w["colon"]  # French puts a space before its colons
    sites = {s.domain for g in groups for s in g.sites}
    lines = [f"{w['title']} ({day})", w["summary"].format(advisories=len(groups),
                                                          sites=len(sites)), ""]
    if not groups:
        lines += [w["none"], ""]
    for g in groups:
        a = g.advisory
        cve = f" ({a.cve})" if a.cve else ""
        lines += [f"[{names[a.severity]}] {a.package}{c} {a.title}{cve}",
                  f"  {w['link']}{c} {a.link or '-'}",
                  f"  {w['since']}{c} {g.first_seen:%Y-%m-%d}", f"  {w['sites']}{c}"]
        lines += [f"  - {s.domain} ({w['server']} {s.server}) ; {w['client']}{c}"
                  f" {s.client.name} ; {w['contact']}{c} {_contact(s.client)}"
                  if lang == "fr" else
                  f"  - {s.domain} ({w['server']} {s.server}); {w['client']}{c}"
                  f" {s.client.name}; {w['contact']}{c} {_contact(s.client)}" for s in g.sites]
        lines.append("")
    if blind:
        lines += [f"{w['not_audited']}{c}"] + [
            f"  - {s.site.domain}{c} {'; '.join(s.problems) or w['never']}" for s in blind]
        lines.append("")
    return lines


def render_text(statuses: Iterable[SiteStatus], now: datetime) -> str:
    """The report as plain text, French then English: an e-mail's body."""
    groups, blind = group(statuses)
    day = f"{now:%Y-%m-%d}"
    french = _text_lang(groups, blind, "fr", day)
    english = _text_lang(groups, blind, "en", day)
    return "\n".join([*french, "-" * 72, "", *english]).rstrip("\n") + "\n"


def _link(url: str) -> str:
    """An address as a link only when it is https; any other as escaped text."""
    if url.startswith("https://") and not any(c in url for c in "\"'<> \\"):
        return f'<a href="{escape(url)}">{escape(url)}</a>'
    return escape(url or "-")


def render_html(statuses: Iterable[SiteStatus], now: datetime) -> str:
    """The report as one HTML page, French then English, everything escaped."""
    groups, blind = group(statuses)
    parts = ['<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
             f"<title>{escape(WORDS['fr']['title'])} / {escape(WORDS['en']['title'])}"
             "</title></head><body>"]
    for lang in LANGS:
        w, names = WORDS[lang], SEVERITY_NAMES[lang]
        sites = {s.domain for g in groups for s in g.sites}
        summary = w["summary"].format(advisories=len(groups), sites=len(sites))
        parts.append(f'<section lang="{lang}"><h1>{escape(w["title"])} ({now:%Y-%m-%d})</h1>'
                     f"<p>{escape(summary)}</p>")
        if not groups:
            parts.append(f"<p>{escape(w['none'])}</p>")
        for g in groups:
            a = g.advisory
            parts.append(
                f"<h2>[{escape(names[a.severity])}] {escape(a.package)}: {escape(a.title)}"
                + (f" ({escape(a.cve)})" if a.cve else "") + "</h2>"
                f"<p>{escape(w['link'])}: {_link(a.link)}<br>"
                f"{escape(w['since'])}: {g.first_seen:%Y-%m-%d}</p><ul>")
            parts += [f"<li>{escape(s.domain)} ({escape(w['server'])} {escape(s.server)});"
                      f" {escape(w['client'])}: {escape(s.client.name)};"
                      f" {escape(w['contact'])}: {escape(_contact(s.client))}</li>"
                      for s in g.sites]
            parts.append("</ul>")
        if blind:
            parts.append(f"<h2>{escape(w['not_audited'])}</h2><ul>")
            parts += [f"<li>{escape(s.site.domain)}:"
                      f" {escape('; '.join(s.problems) or w['never'])}"
                      "</li>" for s in blind]
            parts.append("</ul>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


CSV_HEADER = ("avis_id/advisory_id", "gravité/severity", "paquet/package", "titre/title",
              "cve", "lien/link", "vu_depuis/first_seen", "site", "serveur/server",
              "client", "contact", "courriel/email", "téléphone/phone")


def render_csv(statuses: Iterable[SiteStatus], now: datetime) -> str:
    """One row per advisory and site; bilingual headers; no cell starts a formula."""
    groups, _blind = group(statuses)
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(CSV_HEADER)
    for g in groups:
        a = g.advisory
        for s in g.sites:
            c = s.client.contact
            writer.writerow([text_cell(v) for v in (
                a.id, a.severity, a.package, a.title, a.cve, a.link,
                f"{s.first_seen:%Y-%m-%d}", s.domain, s.server, s.client.name, c.name,
                str(c.email), c.phone or "")])
    return out.getvalue()


RENDERERS = {"text": render_text, "html": render_html, "csv": render_csv}
