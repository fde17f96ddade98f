"""The PDF, drawn directly from the report's context: the same labels and figures as the HTML.

WeasyPrint printed the HTML until a 2,000-client month took 8 to 11 s: every table cell is a
CSS box that Python cascades, measures, lays out and paints, and the best of its levers (fixed
table layout, tables cut per page, no collapsed borders) still left about 6 s (issue #7). The
report has few shapes (headings, paragraphs, tables whose rows never split, one bar chart), so
they are laid out here with the font's own metrics and written with pydyf; fontTools reads and
subsets the font (both were WeasyPrint's own dependencies; WeasyPrint itself is gone).

Text stays text: the fonts (DejaVu Sans, as the HTML asks for) are embedded, subset, with a
ToUnicode map, so the PDF can be searched and copied and pdftotext reads it back.
Measures follow the HTML's stylesheet (templates/report.html.j2): 1 CSS px is 0.75 pt.
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pydyf  # type: ignore[import-untyped]
from babel.numbers import format_decimal
from fontTools import subset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

from koumbit_infra.report.catalogue import LOCALES, Lang, label
from koumbit_infra.report.chart import (
    BAR_HEIGHT,
    COLOURS,
    GAP,
    LABEL_WIDTH,
    Bar,
    bar_lengths,
    chart_height,
)
from koumbit_infra.report.data import ReportData
from koumbit_infra.report.html import context

MM = 72 / 25.4
PX = 0.75
PAGE_WIDTH, PAGE_HEIGHT = 612.0, 792.0  # US letter, as @page asks
MARGIN_X, MARGIN_Y = 14 * MM, 16 * MM
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X
BOTTOM = PAGE_HEIGHT - MARGIN_Y
CELL_PAD_X, CELL_PAD_Y = 2 * MM, 1.2 * MM
RULE = 1 * PX
FAMILY = "DejaVu Sans"
CELL_LINES = 3  # a table cell shows at most this many lines; longer text ends in "…"
CELL_CHARS = 300  # and no more characters, whatever their width (a name may be 20,000)
FULL_TEXT_CHARS = 2000  # a cut text is shown whole after the tables up to this many
ELLIPSIS = "…"
_SPACES = re.compile(r"([ \t\n\r\f]+)")  # white space CSS collapses; never a no-break one

Colour = tuple[float, float, float]


def _rgb(hex_colour: str) -> Colour:
    value = hex_colour.lstrip("#")
    return (int(value[0:2], 16) / 255, int(value[2:4], 16) / 255, int(value[4:6], 16) / 255)


INK, NOTE_INK, MARK_INK, BLACK = _rgb("#222222"), _rgb("#444444"), _rgb("#555555"), (0., 0., 0.)
ROW_RULE, TOTAL_RULE, HEADING_RULE = _rgb("#dddddd"), _rgb("#666666"), _rgb("#999999")


class FontMissing(RuntimeError):
    """The TrueType font the report is set in is not installed."""


@cache
def font_path(style: str) -> Path:
    """The TrueType file of DejaVu Sans ``style`` (Book or Bold), found by fontconfig."""
    try:
        found = subprocess.run(
            ["fc-match", "--format=%{file}", f"{FAMILY}:style={style}"],
            check=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise FontMissing(f"cannot ask fontconfig for {FAMILY} {style}: {exc}") from exc
    path = Path(found)
    if not path.name.startswith("DejaVuSans") or path.suffix.lower() != ".ttf":
        raise FontMissing(f"{FAMILY} {style} is not installed (fontconfig offers {found!r});"
                          " install the Debian package fonts-dejavu-core")
    return path


class Font:
    """A TrueType font's metrics (in thousandths of the font size) and its glyphs."""

    def __init__(self, path: Path) -> None:
        tt = TTFont(str(path), lazy=True)
        self.path = path
        scale = 1000 / tt["head"].unitsPerEm
        order = tt.getGlyphOrder()
        ids = {name: index for index, name in enumerate(order)}
        metrics = tt["hmtx"].metrics
        self.advances: list[int] = [round(metrics[name][0] * scale) for name in order]
        cmap = tt.getBestCmap()
        self.glyph: dict[str, int] = {chr(cp): ids[name] for cp, name in cmap.items()}
        self.widths: dict[str, int] = {c: self.advances[gid] for c, gid in self.glyph.items()}
        self.hex: dict[str, str] = {c: f"{gid:04X}" for c, gid in self.glyph.items()}
        self.notdef_width = self.advances[0]
        hhea, head = tt["hhea"], tt["head"]
        self.ascent: float = hhea.ascent * scale
        self.descent: float = hhea.descent * scale
        box = (head.xMin, head.yMin, head.xMax, head.yMax)
        self.bbox: list[int] = [round(v * scale) for v in box]
        self.name: str = re.sub(r"[^A-Za-z0-9-]", "", tt["name"].getDebugName(6) or path.stem)

    def width(self, text: str, size: float) -> float:
        """Width in points of ``text`` set at ``size`` points (no kerning)."""
        widths, missing = self.widths, self.notdef_width
        return sum(widths.get(char, missing) for char in text) * size / 1000

    def line_height(self, size: float) -> float:
        """CSS ``line-height: normal``: the font's ascent plus descent."""
        return (self.ascent - self.descent) * size / 1000


@cache
def fonts() -> tuple[Font, Font]:
    """(regular, bold), read once per process."""
    return Font(font_path("Book")), Font(font_path("Bold"))


@dataclass(frozen=True)
class Style:
    font: Font
    size: float
    colour: Colour = INK


@dataclass(frozen=True)
class Run:
    """Text in one style; a cell or a paragraph is a sequence of runs."""

    text: str
    style: Style


Placed = list[tuple[float, str, Style]]  # (x from the line's start, text, style)


def wrap(runs: Sequence[Run], width: float) -> list[tuple[Placed, float]]:
    """Lines of (placed pieces, line width), broken at white space, which collapses as in
    CSS (never at a no-break space, so "1 234,50 $" stays whole); a word wider than
    ``width`` is cut by characters."""
    lines: list[tuple[Placed, float]] = []
    line: Placed = []
    x, pending = 0.0, 0.0  # pending: the width of the spaces before the next word
    pending_text = ""
    for run in runs:
        style = run.style
        for token in _SPACES.split(run.text):
            if not token:
                continue
            if token[0] in " \t\n\r\f":
                if line and not pending_text:  # a run of white space is one space
                    pending_text = " "
                    pending = style.font.width(" ", style.size)
                continue
            word, word_width = token, style.font.width(token, style.size)
            if line and x + pending + word_width > width + 0.01:
                lines.append((line, x))
                line, x, pending, pending_text = [], 0.0, 0.0, ""
            while not line and word_width > width + 0.01 and len(word) > 1:
                cut = _fit(word, style, width)
                piece_width = style.font.width(word[:cut], style.size)
                lines.append(([(0.0, word[:cut], style)], piece_width))
                # Less what was cut, not measured again: a long word costs its length once.
                word, word_width = word[cut:], word_width - piece_width
            if line and line[-1][2] == style:
                start, text, _ = line[-1]
                line[-1] = (start, text + pending_text + word, style)
            else:
                line.append((x + pending, word, style))
            x += pending + word_width
            pending, pending_text = 0.0, ""
    if line or not lines:
        lines.append((line, x))
    return lines


def _fit(word: str, style: Style, width: float) -> int:
    """How many leading characters of ``word`` fit in ``width`` (at least one)."""
    total = 0.0
    for index, char in enumerate(word):
        total += style.font.width(char, style.size)
        if total > width:
            return max(index, 1)
    return len(word)


def natural_width(runs: Sequence[Run]) -> float:
    return sum(run.style.font.width(run.text, run.style.size) for run in runs)


def longest_word(runs: Sequence[Run]) -> float:
    return max((run.style.font.width(word, run.style.size)
                for run in runs for word in _SPACES.split(run.text)), default=0.0)


@dataclass
class Cell:
    runs: tuple[Run, ...]
    right: bool = False  # text-align: right
    nowrap: bool = False
    span: int = 1


@dataclass
class Table:
    rows: list[list[Cell]]
    header: list[Cell] | None = None  # repeated at the top of each page
    bold_last: bool = False  # the last row is a total: a darker rule above it


def column_widths(table: Table, columns: int, total: float = CONTENT_WIDTH) -> list[float]:
    """CSS's automatic layout for a ``width: 100%`` table, without spanning cells: each
    column between its narrowest (longest word, at most an equal share of the width, or
    whole text if it may not wrap) and its widest (whole text), then the room left shared
    in proportion to the widest."""
    low, high = [0.0] * columns, [0.0] * columns
    for row in ([table.header] if table.header else []) + table.rows:
        index = 0
        for cell in row:
            if cell.span == 1:
                runs = cell.runs if cell.nowrap else _bounded(cell.runs)[0]
                widest = natural_width(runs)
                # No word may claim more than an equal share: a name with no space is cut.
                narrowest = widest if cell.nowrap else min(longest_word(runs), total / columns)
                low[index] = max(low[index], narrowest + 2 * CELL_PAD_X)
                high[index] = max(high[index], widest + 2 * CELL_PAD_X)
            index += cell.span
    if sum(high) <= total:
        extra = total - sum(high)
        return [h + extra * h / sum(high) for h in high] if sum(high) else high
    room = max(total - sum(low), 0.0)
    give = [h - lo for h, lo in zip(high, low, strict=True)]
    return [lo + room * g / sum(give) if sum(give) else lo for lo, g in zip(low, give,
                                                                             strict=True)]


class Canvas:
    """The pages of one PDF, drawn top-down from the top margin; y grows downwards."""

    def __init__(self) -> None:
        self.pages: list[list[str]] = []
        self.used: dict[Font, set[str]] = {}
        self.y = MARGIN_Y
        self.margin = 0.0  # the bottom margin of the last block, collapsed with the next
        self._state: tuple[Any, ...] = ()
        self.cut: list[str] = []  # whole texts of the table cells cut short, in order
        self.new_page()

    # -- pages and vertical flow -------------------------------------------------------
    def new_page(self) -> None:
        self.pages.append([])
        self.y, self.margin, self._state = MARGIN_Y, 0.0, ()

    @property
    def at_top(self) -> bool:
        return self.y == MARGIN_Y

    def space(self, margin_top: float) -> None:
        """Start a block: margins collapse, and vanish at the top of a page."""
        gap = max(self.margin, margin_top)
        self.margin = 0.0
        if not self.at_top:
            self.y += gap

    def fits(self, height: float, margin_top: float = 0.0) -> bool:
        gap = 0.0 if self.at_top else max(self.margin, margin_top)
        return self.y + gap + height <= BOTTOM + 0.01

    def need(self, height: float, margin_top: float = 0.0) -> None:
        """A new page unless ``height`` fits below the cursor (blocks never split)."""
        if not self.fits(height, margin_top) and not self.at_top:
            self.new_page()

    # -- drawing ---------------------------------------------------------------------
    def text(self, x: float, baseline: float, text: str, style: Style, page: int = -1) -> None:
        """``text`` on the page being drawn, or on an earlier ``page`` (footers)."""
        if not text:
            return
        font = style.font
        self.used.setdefault(font, set()).update(text)
        ops = self.pages[page]
        state = (font, style.size, style.colour)
        if page != -1 or state != self._state:
            key = "F1" if font is fonts()[0] else "F2"
            ops.append(f"/{key} {_num(style.size)} Tf {_colour(style.colour)} rg")
            self._state = state if page == -1 else ()
        hexes, missing = font.hex, "0000"
        glyphs = "".join([hexes.get(char, missing) for char in text])
        ops.append(f"BT 1 0 0 1 {_num(x)} {_num(PAGE_HEIGHT - baseline)} Tm <{glyphs}> Tj ET")

    def page_footers(self, label: Callable[[int, int], str], style: Style) -> None:
        """``label(page, pages)`` at the foot of every page, right-aligned, in the margin."""
        pages = len(self.pages)
        baseline = PAGE_HEIGHT - MARGIN_Y / 2
        for index in range(pages):
            text = label(index + 1, pages)
            x = PAGE_WIDTH - MARGIN_X - natural_width([Run(text, style)])
            self.text(x, baseline, text, style, page=index)

    def rect(self, x: float, y: float, width: float, height: float, colour: Colour) -> None:
        self.pages[-1].append(f"{_colour(colour)} rg {_num(x)} {_num(PAGE_HEIGHT - y - height)}"
                              f" {_num(width)} {_num(height)} re f")
        self._state = ()

    def rule(self, x: float, y: float, width: float, colour: Colour) -> None:
        """A horizontal rule ``RULE`` thick whose top edge is at ``y``."""
        self.rect(x, y, width, RULE, colour)

    # -- blocks ----------------------------------------------------------------------
    def lines(self, lines: Lines, x: float, width: float, top: float,
              right: bool = False) -> None:
        """Draw ``lines`` (from ``set_lines``) with their top at ``top``."""
        y = top
        for placed, line_width, height, ascent in lines:
            shift = width - line_width if right else 0.0
            for start, text, style in placed:
                self.text(x + shift + start, y + ascent, text, style)
            y += height

    def paragraph(self, runs: Sequence[Run], margin: float, flow: bool = False) -> None:
        """A block of text with equal top and bottom margins (1em, as for a <p>); kept on
        one page unless ``flow`` or taller than a page: then it runs on, line by line."""
        lines = set_lines(runs, CONTENT_WIDTH)
        if not flow and lines_height(lines) <= BOTTOM - MARGIN_Y:
            self.need(lines_height(lines), margin)
            self.space(margin)
            self.lines(lines, MARGIN_X, CONTENT_WIDTH, self.y)
            self.y += lines_height(lines)
        else:
            self.space(margin)
            for line in lines:
                if not self.fits(line[2]):
                    self.new_page()
                self.lines([line], MARGIN_X, CONTENT_WIDTH, self.y)
                self.y += line[2]
        self.margin = margin

    def heading(self, text: str, style: Style, margin_top: float, margin_bottom: float,
                rule: bool = False) -> None:
        height = style.font.line_height(style.size) + (RULE if rule else 0.0)
        self.need(height + 60, margin_top)  # with room for a few lines of what it heads
        self.space(margin_top)
        lines = set_lines([Run(text, style)], CONTENT_WIDTH)
        self.lines(lines, MARGIN_X, CONTENT_WIDTH, self.y)
        self.y += lines_height(lines)
        if rule:
            self.rule(MARGIN_X, self.y, CONTENT_WIDTH, HEADING_RULE)
            self.y += RULE
        self.margin = margin_bottom

    def chart(self, bars: Sequence[Bar], style: Style) -> None:
        """The bars of chart.py's SVG, at the same place and size (1 px = 0.75 pt)."""
        margin = 3 * MM
        self.need(chart_height(bars) * PX, margin)
        self.space(margin)
        top = self.y
        for index, ((name, _, shown), length) in enumerate(zip(bars, bar_lengths(bars),
                                                                strict=True)):
            y = top + (GAP + index * (BAR_HEIGHT + GAP)) * PX
            baseline = y + BAR_HEIGHT * 0.7 * PX
            label_end = MARGIN_X + (LABEL_WIDTH - 8) * PX
            self.text(label_end - style.font.width(name, style.size), baseline, name, style)
            if length:
                self.rect(MARGIN_X + LABEL_WIDTH * PX, y, length * PX, BAR_HEIGHT * PX,
                          _rgb(COLOURS[index % len(COLOURS)]))
            self.text(MARGIN_X + (LABEL_WIDTH + length + 6) * PX, baseline, shown, style)
        self.y = top + chart_height(bars) * PX
        self.margin = margin

    def table(self, table: Table, columns: int) -> None:
        """Rows never split; at a page break the header is drawn again."""
        widths = column_widths(table, columns)
        lefts = [MARGIN_X + sum(widths[:i]) for i in range(columns)]
        margin = 2 * MM
        header = _set_row(table.header, widths, self.cut) if table.header else None
        rows = [_set_row(row, widths, self.cut) for row in table.rows]
        self.need((header[0] if header else 0.0) + (rows[0][0] if rows else 0.0), margin)
        self.space(margin)
        if header:
            self._row(header, lefts, sum(widths))
        for index, row in enumerate(rows):
            if not self.fits(row[0]):
                self.new_page()
                if header:
                    self._row(header, lefts, sum(widths))
            total = table.bold_last and index == len(rows) - 1
            self._row(row, lefts, sum(widths), total)
        self.margin = margin

    def _row(self, row: SetRow, lefts: list[float], width: float, total: bool = False) -> None:
        top = self.y
        height, cells = row
        for column, inner, right, lines in cells:
            middle = top + (height - RULE - lines_height(lines)) / 2  # vertical-align: middle
            self.lines(lines, lefts[column] + CELL_PAD_X, inner, middle, right)
        if total:
            self.rule(MARGIN_X, top, width, TOTAL_RULE)
        self.rule(MARGIN_X, top + height - RULE, width, ROW_RULE)
        self.y = top + height


Lines = list[tuple[Placed, float, float, float]]  # (pieces, width, height, ascent) per line
SetRow = tuple[float, list[tuple[int, float, bool, Lines]]]  # height; per cell: column,
# inner width, right-aligned, lines


def set_lines(runs: Sequence[Run], width: float) -> Lines:
    """``runs`` wrapped to ``width``, with each line's height and ascent."""
    empty = [(0.0, "", run.style) for run in runs]
    return [(placed, line_width, *_line_metrics(placed or empty))
            for placed, line_width in wrap(runs, width)]


def lines_height(lines: Lines) -> float:
    return sum(line[2] for line in lines)


def _set_row(row: list[Cell], widths: list[float], cut: list[str]) -> SetRow:
    """The row's cells set in their columns; the whole text of each cell cut short is
    added to ``cut``."""
    cells, column, tallest = [], 0, 0.0
    for cell in row:
        inner = sum(widths[column:column + cell.span]) - 2 * CELL_PAD_X
        if cell.nowrap:
            lines = set_lines(cell.runs, float("inf"))
        else:
            runs, shortened = _bounded(cell.runs)
            lines = set_lines(runs, inner)
            if shortened or len(lines) > CELL_LINES:
                lines = set_lines(_clamped(runs, inner), inner)
                cut.append(cell.runs[0].text.strip())
        tallest = max(tallest, lines_height(lines))
        cells.append((column, inner, cell.right, lines))
        column += cell.span
    return tallest + 2 * CELL_PAD_Y + RULE, cells


def _bounded(runs: Sequence[Run]) -> tuple[Sequence[Run], bool]:
    """``runs`` with their first (the cell's own text) cut to ``CELL_CHARS``; whether it was."""
    if not runs or len(runs[0].text) <= CELL_CHARS:
        return runs, False
    text = runs[0].text
    space = " " if text[-1].isspace() else ""  # before a mark, as in "name (mark)"
    return (Run(text[:CELL_CHARS] + space, runs[0].style), *runs[1:]), True


def _clamped(runs: Sequence[Run], width: float) -> tuple[Run, ...]:
    """``runs`` in at most ``CELL_LINES`` lines of ``width``: as much of the first run as
    fits, then "…", then the other runs whole (a mark such as "(compte solidaire)")."""
    head, rest = runs[0], tuple(runs[1:])
    space = " " if head.text[-1:].isspace() else ""

    def cut_at(length: int) -> tuple[Run, ...]:
        return (Run(head.text[:length].rstrip() + ELLIPSIS + space, head.style), *rest)

    low, high = 0, len(head.text)  # cut_at(low) fits, as "…" and a mark always do
    while low < high:  # the longest start that fits: a dozen wraps of a short text
        middle = (low + high + 1) // 2
        if len(wrap(cut_at(middle), width)) <= CELL_LINES:
            low = middle
        else:
            high = middle - 1
    return cut_at(low)


def _line_metrics(placed: Iterable[tuple[float, str, Style]]) -> tuple[float, float]:
    """(height, ascent) of a line: the tallest of its styles."""
    height = ascent = 0.0
    for _, _, style in placed:
        height = max(height, style.font.line_height(style.size))
        ascent = max(ascent, style.font.ascent * style.size / 1000)
    return height, ascent


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def _colour(colour: Colour) -> str:
    return " ".join(_num(round(c, 3)) for c in colour)


def render_pdf(data: ReportData, lang: Lang) -> bytes:
    """The report of ``data`` in ``lang`` as PDF bytes: what render_html shows, in its order."""
    ctx = context(data, lang)
    t = ctx["t"]
    regular, bold = fonts()
    body, strong = Style(regular, 10), Style(bold, 10)
    note = Style(regular, 9, NOTE_INK)
    canvas = Canvas()

    def p(runs: Sequence[Run], style: Style = body) -> None:
        canvas.paragraph(runs, style.size)

    def h2(text: str) -> None:
        canvas.heading(text, Style(bold, 13), 7 * MM, 2 * MM, rule=True)

    def h3(text: str) -> None:
        canvas.heading(text, Style(bold, 11.7), 11.7, 11.7)

    def pairs(rows: Sequence[tuple[str, str]], header: tuple[str, str] | None = None,
              ) -> None:
        def row(name: str, amount: str, style: Style = body) -> list[Cell]:
            return [Cell((Run(name, style),)), Cell((Run(amount, style),), True, True)]

        canvas.table(Table([row(*r) for r in rows],
                           row(*header, strong) if header else None), 2)

    canvas.heading(f"{ctx['title']} — {ctx['period']}", Style(bold, 17), 0, 2 * MM)
    p([Run(t("env") + " ", body), Run(ctx["env"], strong)])
    p([Run(ctx["provenance"], note)], note)
    h2(t("summary"))
    h3(ctx["budget_title"])
    p([Run(ctx["budget_months"], note)], note)
    canvas.chart(ctx["chart_bars"], Style(regular, 13 * PX, BLACK))
    pairs(ctx["budget_rows"])
    verdict = t("over") if ctx["over"] else t("within")
    if ctx["over"]:
        p([Run(verdict, strong)])
    else:
        p([Run(verdict, note)], note)
    pairs(ctx["month_rows"])

    h2(t("clients"))
    mark = Style(regular, 8, MARK_INK)
    rows = []
    for c in ctx["clients"]:
        name = (Run(c["name"] + " ", body), Run(f"({t('solidarity_mark')})", mark)) \
            if c["solidarity"] else (Run(c["name"], body),)
        rows.append([Cell(name), Cell((Run(c["plan"], body),))] + [
            Cell((Run(c[key], body),), True, True)
            for key in ("paid", "cost", "subsidy", "margin")])
    rows.append([Cell((Run(t("total"), strong),), span=2)] + [
        Cell((Run(amount, strong),), True, True) for amount in ctx["client_totals"]])
    canvas.table(Table(rows, [Cell((Run(t(key), strong),), key not in ("client", "plan"),
                                   key not in ("client", "plan"))
                              for key in ("client", "plan", "paid", "cost", "subsidy",
                                          "margin")], bold_last=True), 6)

    h2(t("solidarity"))
    p([Run(t("solidarity_intro"), note)], note)
    pairs(ctx["solidarity_rows"])

    h2(t("servers"))
    small, small_bold = Style(regular, 9), Style(bold, 9)
    canvas.table(Table(
        [[Cell((Run(row[0], small),))] + [Cell((Run(v, small),), True, True) for v in row[1:]]
         for row in ctx["servers"]],
        [Cell((Run(t("server"), small_bold),))] + [
            Cell((Run(t(key), small_bold),), True) for key in (
                "sites", "cost", "charged", "idle", "quota_committed", "memory_committed")]),
        7)
    if ctx["shared_lines"]:
        h3(t("shared_lines"))
        pairs(ctx["shared_lines"], (t("line"), t("amount")))
    whole_texts(canvas, lang, body, note)
    p([Run(t("footer"), note)], note)
    canvas.page_footers(lambda page, pages: t("page", title=ctx["title"], period=ctx["period"],
                                              page=page, pages=pages), note)
    return write_pdf(canvas, f"{ctx['title']} · {ctx['period']} · {ctx['env']}", lang)


def whole_texts(canvas: Canvas, lang: Lang, body: Style, note: Style) -> None:
    """After the tables, each text that was cut short in a cell, whole (up to
    ``FULL_TEXT_CHARS`` characters: a name of 20,000 would fill pages)."""
    if not canvas.cut:
        return
    locale = LOCALES[lang]
    canvas.heading(label("cut_texts", lang), Style(fonts()[1], 11.7), 11.7, 11.7)
    intro = label("cut_texts_intro", lang, chars=format_decimal(FULL_TEXT_CHARS, locale=locale))
    canvas.paragraph([Run(intro, note)], note.size)
    for whole in canvas.cut:
        shown = whole if len(whole) <= FULL_TEXT_CHARS else (
            whole[:FULL_TEXT_CHARS] + ELLIPSIS + " "
            + label("cut_text_length", lang, chars=format_decimal(len(whole), locale=locale)))
        canvas.paragraph([Run(shown, body)], body.size, flow=True)


def write_pdf(canvas: Canvas, title: str, lang: Lang) -> bytes:
    """The pages drawn on ``canvas`` as a PDF, its fonts embedded (only the glyphs used)."""
    document = pydyf.PDF()
    document.info["Title"] = pydyf.String(title)
    document.info["Producer"] = pydyf.String("koumbit-infra")
    document.catalog["Lang"] = pydyf.String(f"{lang}-CA")
    regular, bold = fonts()
    font_refs = {}
    for key, font in (("F1", regular), ("F2", bold)):
        if font in canvas.used:
            font_refs[key] = _embed(document, font, canvas.used[font])
    resources = pydyf.Dictionary({"Font": pydyf.Dictionary(font_refs)})
    document.add_object(resources)
    for ops in canvas.pages:
        content = pydyf.Stream(["\n".join(ops).encode("ascii")], compress=True)
        document.add_object(content)
        document.add_page(pydyf.Dictionary({
            "Type": "/Page", "Parent": document.pages.reference,
            "MediaBox": pydyf.Array([0, 0, PAGE_WIDTH, PAGE_HEIGHT]),
            "Contents": content.reference, "Resources": resources.reference,
        }))
    out = io.BytesIO()
    document.write(out, version=b"1.7", compress=True)
    return out.getvalue()


def _embed(document: Any, font: Font, chars: set[str]) -> bytes:
    """A Type0 font of the glyphs used (ids kept, so text was encoded before subsetting)."""
    glyphs = {font.glyph[c]: c for c in sorted(chars, reverse=True) if c in font.glyph}
    glyphs[0] = ""
    tag = "".join(chr(65 + b % 26) for b in hashlib.sha256(
        "".join(sorted(chars)).encode()).digest()[:6])
    base = f"/{tag}+{font.name}"
    options = subset.Options()
    options.retain_gids = True
    options.hinting = False
    options.notdef_outline = True
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "MATH", "FFTM", "kern"]
    options.name_IDs = []
    options.glyph_names = False
    tt = TTFont(str(font.path), lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(glyphs=[tt.getGlyphName(gid) for gid in glyphs])
    subsetter.subset(tt)
    binary = io.BytesIO()
    tt.save(binary)
    file = pydyf.Stream([binary.getvalue()], {"Length1": len(binary.getvalue())},
                        compress=True)
    document.add_object(file)
    descriptor = pydyf.Dictionary({
        "Type": "/FontDescriptor", "FontName": base, "Flags": 32,
        "FontBBox": pydyf.Array(font.bbox), "ItalicAngle": 0,
        "Ascent": round(font.ascent), "Descent": round(font.descent),
        "CapHeight": round(font.ascent), "StemV": 80, "FontFile2": file.reference,
    })
    document.add_object(descriptor)
    widths = pydyf.Array()
    for gid in sorted(glyphs):
        widths.extend([gid, pydyf.Array([font.advances[gid]])])
    cid_font = pydyf.Dictionary({
        "Type": "/Font", "Subtype": "/CIDFontType2", "BaseFont": base,
        "CIDSystemInfo": pydyf.Dictionary({
            "Registry": pydyf.String("Adobe"), "Ordering": pydyf.String("Identity"),
            "Supplement": 0}),
        "FontDescriptor": descriptor.reference, "W": widths, "CIDToGIDMap": "/Identity",
    })
    document.add_object(cid_font)
    to_unicode = pydyf.Stream([_to_unicode(glyphs)], compress=True)
    document.add_object(to_unicode)
    type0 = pydyf.Dictionary({
        "Type": "/Font", "Subtype": "/Type0", "BaseFont": base, "Encoding": "/Identity-H",
        "DescendantFonts": pydyf.Array([cid_font.reference]),
        "ToUnicode": to_unicode.reference,
    })
    document.add_object(type0)
    reference: bytes = type0.reference
    return reference


def _to_unicode(glyphs: dict[int, str]) -> bytes:
    """The CMap that turns glyph ids back into text (for search, copy and pdftotext)."""
    pairs = [f"<{gid:04X}> <{char.encode('utf-16-be').hex().upper()}>"
             for gid, char in sorted(glyphs.items()) if char]
    blocks = []
    for start in range(0, len(pairs), 100):
        chunk = pairs[start:start + 100]
        blocks.append(f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar")
    return "\n".join([
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
        "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange", *blocks,
        "endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end",
    ]).encode("ascii")
