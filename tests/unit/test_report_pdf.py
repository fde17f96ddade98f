"""The PDF report: its text holds the client table, its first page is not blank."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from pdfcheck import first_page_dark_share, pdf_text, png_pixels

from koumbit_infra.cost import Month
from koumbit_infra.envs import load_env
from koumbit_infra.report import gather, render
from koumbit_infra.report.catalogue import Lang


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_pdf_has_the_client_table_and_a_first_page_not_blank(lang: Lang, tmp_path: Path) -> None:
    inv = load_env("lab")
    data = gather(inv, Month.parse("2026-11"), None)
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
