"""Reports fed hostile or broken input: formula names in the CSV, markup in the HTML,
a 20,000-character name in the PDF, a revised month, a ledger changed behind its back."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import sqlite3
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from pdfcheck import pdf_text
from test_report import data, lab

from koumbit_infra.cli import main
from koumbit_infra.cost import Ledger, Month, RecordedUsage, Usage, close_month
from koumbit_infra.cost.ledger.store import LedgerTampered
from koumbit_infra.inventory import Inventory
from koumbit_infra.report import ReportData, render, render_csv, render_html, report_data
from koumbit_infra.report.catalogue import Lang
from koumbit_infra.report.csvcell import FORMULA_STARTS, text_cell
from koumbit_infra.report.html import context
from koumbit_infra.report.pdf import (
    BOTTOM,
    CELL_LINES,
    MARGIN_X,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    Canvas,
    Cell,
    Run,
    Style,
    Table,
    fonts,
    wrap,
)

MAY = Month(2026, 5)
AFTER_MAY = datetime(2026, 6, 2, tzinfo=UTC)
__all__ = ["data", "lab"]  # the lab inventory and its November report, as test_report has them


def renamed(data: ReportData, client: str, name: str, plan_label: str | None = None,
            ) -> ReportData:
    """``data`` with one client's name (and its plan's label) replaced."""
    clients = tuple(dataclasses.replace(c, name=name) if c.client == client else c
                    for c in data.allocation.clients)
    labels = dict(data.plan_labels)
    if plan_label is not None:
        plan = next(c.plan for c in clients if c.client == client)
        labels[plan] = (plan_label, plan_label)
    return dataclasses.replace(
        data, allocation=dataclasses.replace(data.allocation, clients=clients),
        plan_labels=labels)


# --- CSV: formula injection -----------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd", "-x", "@x", "\tx", "\rx",
            "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("name", FORMULAS)
def test_a_name_that_starts_a_formula_is_text_in_the_csv(data: ReportData, name: str) -> None:
    hostile = renamed(data, "theatre-quartier", name, plan_label="@SUM(A1:A9)")
    rows = list(csv.DictReader(io.StringIO(render_csv(hostile, "fr"), newline="")))
    row = next(r for r in rows if r["SubAccountId"] == "theatre-quartier")
    assert row["SubAccountName"] == "'" + name  # shown as text, quote hidden by the sheet
    assert row["x_PlanName"] == "'@SUM(A1:A9)"
    # Amounts are ours and stay numbers: a negative margin is not neutralised.
    assert row["x_Margin"] == "-28.04" and Decimal(row["x_Margin"]) < 0
    for other in rows:
        for column, value in other.items():
            if column not in ("SubAccountName", "x_PlanName", "x_Margin", "x_Subsidy",
                              "x_SubsidyListPrice"):
                assert not value.startswith(FORMULA_STARTS), (column, value)


@pytest.mark.parametrize("name", ["Org\r2026-11-01,2026-12-01,0.00,0.00,0.00,CAD,forged",
                                  "Org\n=1+1", 'Org, "Inc"'])
def test_a_line_break_or_quote_in_a_name_cannot_forge_a_row(data: ReportData, name: str) -> None:
    text = render_csv(renamed(data, "theatre-quartier", name), "fr")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(data.allocation.clients)
    assert next(r for r in rows if r["SubAccountId"] == "theatre-quartier")[
        "SubAccountName"] == name


def test_ordinary_names_are_left_as_they_are(data: ReportData) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(data, "en"))))
    assert {r["SubAccountName"] for r in rows} == {c.name for c in data.allocation.clients}


@given(st.text(max_size=40))
def test_text_cells_never_start_a_formula_and_keep_the_text(value: str) -> None:
    cell = text_cell(value)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell in (value, "'" + value)
    assert (cell != value) == value.startswith(FORMULA_STARTS)


# --- HTML: markup is escaped ----------------------------------------------------------

@pytest.mark.parametrize("name", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
                                  "Tom & Jerry </td></tr></table>"])
def test_html_escapes_a_hostile_name(data: ReportData, name: str) -> None:
    html = render_html(renamed(data, "theatre-quartier", name), "fr")
    assert name not in html
    escaped = (name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
               .replace('"', "&#34;"))
    assert escaped in html
    assert html.count("<table") == html.count("</table>")


# --- PDF: very long names -------------------------------------------------------------

def _words(pdf: Path) -> list[tuple[float, float, float, float, str]]:
    """Every word pdftotext finds, with its box (xMin, yMin, xMax, yMax) in points."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True,
                         capture_output=True, text=True).stdout
    return [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
        out)]


def _flat(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


@pytest.mark.parametrize(("kind", "name"), [
    ("no space", "W" * 20_000),
    ("words", ("Coopérative " * 1_700)[:20_000]),
    ("narrow", "i" * 20_000),
])
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_20000_character_name_is_cut_visibly_and_the_table_holds(
    data: ReportData, kind: str, name: str, lang: Lang, tmp_path: Path,
) -> None:
    hostile = renamed(data, "journal-alternatif", name)  # a solidarity account: its mark
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(render(hostile, lang, "pdf"))
    text = _flat(pdf_text(pdf))
    pages = pdf_text(pdf).count("\f")
    assert pages <= 4, f"{kind}: {pages} pages"
    # Every word stays on its page, inside the margins: no column was pushed off it.
    # Below the content's bottom there is only the page footer: no row ran over it.
    for x_min, y_min, x_max, y_max, word in _words(pdf):
        assert x_min >= MARGIN_X - 1 and x_max <= PAGE_WIDTH - MARGIN_X + 1, (kind, word)
        assert y_min >= 0 and (y_max <= BOTTOM + 1 or BOTTOM < y_min < PAGE_HEIGHT), (
            kind, word)
    # The other clients' rows are whole, their cells in order.
    ctx = context(hostile, lang)
    for row in ctx["clients"]:
        if row["name"] == name:
            continue
        cells = [row["plan"], row["paid"], row["cost"], row["subsidy"], row["margin"]]
        assert " ".join(_flat(c) for c in cells if c) in text, row["name"]
    mark = "(compte solidaire)" if lang == "fr" else "(solidarity account)"
    assert re.search(r"[Wi]… \(" if kind != "words" else r"Coop\w*… \(", text)
    assert f"… {mark}" in text  # the cut shows, and the mark after it still does
    # The name is given again after the tables, up to 2,000 characters, with its length.
    raw = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                         text=True).stdout
    footer = re.compile(r"^.* — page \d+ (de|of) \d+$", re.MULTILINE)
    whole = re.sub(r"\s", "", footer.sub("", raw))
    assert re.sub(r"\s", "", name[:2_000]) + "…" in whole
    assert ("20 000 caractères en tout" if lang == "fr" else "20,000 characters in all") in text


def test_a_cell_shows_at_most_three_lines_and_keeps_the_whole_text() -> None:
    regular, _ = fonts()
    body = Style(regular, 10)
    name = "Un organisme au nom vraiment très long " * 20
    canvas = Canvas()
    canvas.table(Table([[Cell((Run(name, body),)),
                         Cell((Run("12,00\xa0$", body),), right=True, nowrap=True)],
                        [Cell((Run("Court", body),)),
                         Cell((Run("1,00\xa0$", body),), right=True, nowrap=True)]]), 2)
    assert canvas.cut == [name.strip()]
    shown = [op for op in canvas.pages[0] if " Tj " in op]
    assert len(shown) == CELL_LINES + 3  # three lines of the name, "12,00 $", "Court", "1,00 $"
    assert wrap([Run("x" * 20_000, body)], 100)[-1][1] <= 100  # long words cut in one pass


# --- revised and tampered months ------------------------------------------------------

def heavy_usage(month: Month) -> RecordedUsage:
    seconds = Decimal(month.hours * 3600) * Decimal("1.5")
    return RecordedUsage((Usage("journal-alternatif.test", "web1", Decimal(1), seconds),))


@pytest.fixture
def revised_ledger(lab: Inventory, tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as book:
        close_month(lab, MAY, book, now=AFTER_MAY)
        close_month(lab, MAY, book, source=heavy_usage(MAY), now=AFTER_MAY,
                    reason="usage <tardif> de web1")
    return path


def test_a_month_report_says_it_shows_a_revision_and_why(lab: Inventory,
                                                         revised_ledger: Path) -> None:
    data = report_data(lab, MAY, revised_ledger)
    assert data.record is not None and data.record.version == 2
    html = render_html(data, "fr")
    assert ("Mois clôturé dans le registre : version 2, le 2026-06-02T00:00:00+00:00;"
            " usage : recorded. Révision de la version 1 : usage &lt;tardif&gt; de web1.") in html
    english = render_html(data, "en")
    assert "Revision of version 1: usage &lt;tardif&gt; de web1." in english


def test_a_fiscal_year_report_names_the_revised_months(lab: Inventory, revised_ledger: Path,
                                                        tmp_path: Path) -> None:
    months = [Month(2026, 4), MAY]
    data = report_data(lab, months, revised_ledger, fiscal_year="2026-2027")
    pdf = tmp_path / "year.pdf"
    pdf.write_bytes(render(data, "fr", "pdf"))
    assert ("Versions révisées : mai 2026, version 2 (usage <tardif> de web1)."
            in _flat(pdf_text(pdf)))
    unrevised = report_data(lab, months, None, fiscal_year="2026-2027")
    assert "révisées" not in render_html(unrevised, "fr")


def test_a_report_of_a_tampered_month_is_refused(lab: Inventory, revised_ledger: Path,
                                                 tmp_path: Path) -> None:
    with sqlite3.connect(revised_ledger) as db:
        db.execute("UPDATE cost_client SET name = 'Autre' WHERE client = 'theatre-quartier'"
                   " AND version = 2")
    with pytest.raises(LedgerTampered, match=r"2026-05 \(lab\) version 2 no longer matches"):
        report_data(lab, MAY, revised_ledger)
    out = tmp_path / "report.pdf"
    result = CliRunner().invoke(main, ["report",
        "--month", "2026-05", "--ledger", str(revised_ledger), "--out", str(out)])
    assert result.exit_code == 2
    assert "2026-05 (lab) version 2 no longer matches what was closed" in result.output
    assert not out.exists()
