"""The PDF report: its text holds the client table, its first page is not blank."""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from pdfcheck import first_page_dark_share, pdf_text, pdf_title, png_pixels

from koumbit_infra.cost import Month
from koumbit_infra.cost.usage.synthetic import generated_inventory
from koumbit_infra.envs import load_env
from koumbit_infra.report import ReportData, render, report_data
from koumbit_infra.report.catalogue import Lang
from koumbit_infra.report.html import context
from koumbit_infra.report.pdf import (
    CONTENT_WIDTH,
    Canvas,
    Cell,
    FontMissing,
    Run,
    Style,
    Table,
    column_widths,
    font_path,
    fonts,
    wrap,
    write_pdf,
)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_pdf_has_the_client_table_and_a_first_page_not_blank(lang: Lang, tmp_path: Path) -> None:
    inv = load_env("lab")
    data = report_data(inv, Month.parse("2026-11"), None)
    pdf = tmp_path / f"report-{lang}.pdf"
    pdf.write_bytes(render(data, lang, "pdf"))
    text = pdf_text(pdf)
    assert ("Coût par client" if lang == "fr" else "Cost per client") in text
    assert "Banque alimentaire de Rosemont" in text and "Théâtre de quartier Hochelaga" in text
    assert ("216,10\xa0$" if lang == "fr" else "$216.10") in text.replace(" $", "\xa0$")
    width, height, dark = first_page_dark_share(pdf, tmp_path)
    assert width > 300 and height > 400  # a letter page at 50 dpi is 425 x 550
    assert dark > 0.02, f"first page nearly blank: {dark:.1%} dark pixels"


def test_png_reader_on_a_tiny_image() -> None:
    # 2x1 grey image, one black and one white pixel, rows filtered with Sub (1)
    raw = bytes([1, 0, 255])
    ihdr = struct.pack(">IIBBBBB", 2, 1, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
           + chunk(b"IEND", b""))
    assert png_pixels(png) == (2, 1, 1, bytes([0, 255]))


# The PDF is drawn from the report's context (koumbit_infra/report/pdf.py), not printed from the
# HTML: these tests hold it to the same content as the HTML, row by row.

def _flat(text: str) -> str:
    """pdftotext's text with every run of spaces (no-break ones too) made one space."""
    return " ".join(text.replace("\xa0", " ").split())


def _shown(value: str) -> str:
    return " ".join(value.replace("\xa0", " ").split())


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_pdf_shows_everything_the_html_shows(lang: Lang, tmp_path: Path) -> None:
    data = report_data(load_env("lab"), Month.parse("2026-11"), None)
    ctx = context(data, lang)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render(data, lang, "pdf"))
    text = _flat(pdf_text(pdf))
    raw = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                         text=True).stdout
    assert _shown(f"{ctx['title']} — {ctx['period']}") in text
    assert _shown(ctx["provenance"]).split(" (")[0] in _flat(raw)
    for name, amount in (ctx["budget_rows"] + ctx["month_rows"] + ctx["solidarity_rows"]
                         + ctx["shared_lines"]):
        assert f"{_shown(name)} {_shown(amount)}" in text, name
    for name, _, shown in ctx["chart_bars"]:  # the chart's labels and figures are text too
        assert f"{_shown(name)} {_shown(shown)}" in text
    for row in ctx["clients"]:  # every client row, its cells in order
        cells = [row["plan"], row["paid"], row["cost"], row["subsidy"], row["margin"]]
        assert " ".join(_shown(c) for c in cells if c) in text, row["name"]
        assert _shown(row["name"]) in _flat(raw), row["name"]
    assert " ".join(_shown(a) for a in ctx["client_totals"]) in text
    for server in ctx["servers"]:
        assert " ".join(_shown(v) for v in server if v) in text, server[0]
    assert _shown(ctx["t"]("footer")) in _flat(raw)
    assert pdf_title(pdf) == f"{ctx['title']} · {ctx['period']} · {ctx['env']}"


@pytest.fixture(scope="module")
def big() -> ReportData:
    return report_data(generated_inventory(300, 700), Month.parse("2026-11"), None)


def test_a_long_client_table_runs_over_pages_with_its_header_on_each(
    big: ReportData, tmp_path: Path,
) -> None:
    pdf = tmp_path / "big.pdf"
    pdf.write_bytes(render(big, "fr", "pdf"))
    pages = pdf_text(pdf).split("\f")[:-1]
    assert len(pages) >= 8
    with_rows = [page for page in pages if "Organisme " in page]
    assert all("Forfait" in page and "Prix payé" in page for page in with_rows)
    names = [found[1] for page in with_rows
             for found in re.finditer(r"^\s*(Organisme \d+)\b", page, re.MULTILINE)]
    assert sorted(names) == sorted(c.name for c in big.allocation.clients)  # each once
    assert first_page_dark_share(pdf, tmp_path)[2] > 0.02
    # Every page says which page of how many it is, in the committee's language.
    for number, page in enumerate(pages, 1):
        assert f"— page {number} de {len(pages)}" in _flat(page), _flat(page)[-200:]


def test_fiscal_year_pdf_in_english(tmp_path: Path) -> None:
    lab = load_env("lab")
    months = [Month(2026, m) for m in range(4, 12)]
    data = report_data(lab, months, None, fiscal_year="2026-2027")
    pdf = tmp_path / "year.pdf"
    pdf.write_bytes(render(data, "en", "pdf"))
    text = _flat(pdf_text(pdf))
    assert "fiscal year 2026-2027 (April 2026 to November 2026)" in text
    assert "Total cost of the period" in text and "Cost per client" in text


def test_text_is_wrapped_at_spaces_but_never_inside_an_amount() -> None:
    regular, _ = fonts()
    style = Style(regular, 10)
    amount = "1\xa0234\xa0567,89\xa0$"
    lines = wrap([Run(f"Subvention selon le coût {amount} pour l'année", style)],
                 style.font.width("Subvention selon le coût", 10) + 5)
    texts = ["".join(piece for _, piece, _ in placed) for placed, _ in lines]
    assert texts[0] == "Subvention selon le coût"
    assert any(amount in t for t in texts)
    long = wrap([Run("x" * 80, style)], 100)  # a word wider than its column is cut
    assert len(long) > 1 and all(width <= 100 for _, width in long)
    assert wrap([Run("", style)], 100) == [([], 0.0)]
    (collapsed,) = wrap([Run("  Banque\n alimentaire \t", style)], 500)
    assert [piece for _, piece, _ in collapsed[0]] == ["Banque alimentaire"]


def test_columns_fill_the_width_and_amounts_never_wrap() -> None:
    regular, bold = fonts()
    body = Style(regular, 10)
    table = Table([[Cell((Run("Un organisme au nom vraiment très long " * 3, body),)),
                    Cell((Run("123\xa0456,78\xa0$", body),), right=True, nowrap=True)]],
                  [Cell((Run("Organisme", Style(bold, 10)),)), Cell((Run("Coût", body),))])
    widths = column_widths(table, 2)
    assert sum(widths) == pytest.approx(CONTENT_WIDTH)
    assert widths[1] >= regular.width("123\xa0456,78\xa0$", 10)


def test_characters_beyond_latin_1_come_back_as_text(tmp_path: Path) -> None:
    regular, bold = fonts()
    canvas = Canvas()
    phrase = "Œuvres d’entraide − 12\u202f345,67\xa0$ «solidaires»"
    canvas.paragraph([Run(phrase, Style(regular, 10)), Run(" fin", Style(bold, 10))], 10)
    pdf = tmp_path / "text.pdf"
    pdf.write_bytes(write_pdf(canvas, "essai", "fr"))
    assert _shown(phrase + " fin") in _flat(pdf_text(pdf))


def test_a_missing_font_says_which_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def fc_match(*_args: object, **_kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], 0, "/usr/share/fonts/X11/Type1/c0419bt_.pfb", "")

    monkeypatch.setattr(subprocess, "run", fc_match)
    with pytest.raises(FontMissing, match="fonts-dejavu-core"):
        font_path.__wrapped__("Book")
