"""The PDF report: its text holds the client table, its first page is not blank."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from koumbit_infra.cost import Month
from koumbit_infra.envs import load_env
from koumbit_infra.report import gather, render
from koumbit_infra.report.catalogue import Lang


def png_pixels(png: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, bytes per pixel, unfiltered rows) of an 8-bit non-interlaced PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, body = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += length + 12
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and header[12] == 0, "8-bit, not interlaced"
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    raw, stride = zlib.decompress(idat), width * bpp
    rows, previous = bytearray(), bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = previous[x], previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pred) & 0xFF
        rows += line
        previous = line
    return width, height, bpp, bytes(rows)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_pdf_has_the_client_table_and_a_first_page_not_blank(lang: Lang, tmp_path: Path) -> None:
    inv = load_env("lab")
    data = gather(inv, Month.parse("2026-11"), None)
    pdf = tmp_path / f"report-{lang}.pdf"
    pdf.write_bytes(render(data, lang, "pdf"))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert ("Coût par client" if lang == "fr" else "Cost per client") in text
    assert "Banque alimentaire de Rosemont" in text and "Théâtre de quartier Hochelaga" in text
    assert ("216,10\xa0$" if lang == "fr" else "$216.10") in text.replace(" $", "\xa0$")
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)
    (page,) = tmp_path.glob("page*.png")
    width, height, bpp, pixels = png_pixels(page.read_bytes())
    assert width > 300 and height > 400  # a letter page at 50 dpi is 425 x 550
    dark = sum(1 for i in range(0, len(pixels), bpp) if min(pixels[i:i + min(bpp, 3)]) < 200)
    assert dark > 0.02 * width * height, f"first page nearly blank: {dark} dark pixels"


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
