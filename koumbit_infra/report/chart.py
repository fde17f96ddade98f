"""A horizontal bar chart as inline SVG, drawn in Python (no plotting library)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from xml.sax.saxutils import escape

WIDTH = 640
LABEL_WIDTH = 250
BAR_HEIGHT = 26
GAP = 12
VALUE_ROOM = 110
COLOURS = ("#4a6f8a", "#c0703a", "#6f8a4a", "#8a4a6f")


Bar = tuple[str, Decimal, str]  # label, amount, formatted amount


def chart_height(bars: Sequence[Bar]) -> int:
    return len(bars) * (BAR_HEIGHT + GAP) + GAP


def bar_lengths(bars: Sequence[Bar]) -> list[int]:
    """Each bar's length in pixels, scaled to the largest amount; negative amounts are 0."""
    top = max((amount for _, amount, _ in bars), default=Decimal(0))
    room = WIDTH - LABEL_WIDTH - VALUE_ROOM
    return [int(room * amount / top) if top > 0 and amount > 0 else 0 for _, amount, _ in bars]


def bar_chart(title: str, bars: Sequence[Bar]) -> str:
    """An SVG of one bar per (label, amount, formatted amount), scaled to the largest amount.

    Negative amounts are drawn as empty bars; the text always shows the real figure.
    The PDF draws the same bars from ``bar_lengths`` (see pdf.py).
    """
    height = chart_height(bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"'
        f' width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">',
        f"<title>{escape(title)}</title>",
    ]
    for index, ((name, _, shown), length) in enumerate(zip(bars, bar_lengths(bars), strict=True)):
        y = GAP + index * (BAR_HEIGHT + GAP)
        text_y = y + BAR_HEIGHT * 0.7
        colour = COLOURS[index % len(COLOURS)]
        parts += [
            f'<text x="{LABEL_WIDTH - 8}" y="{text_y:.1f}" text-anchor="end"'
            f' font-size="13">{escape(name)}</text>',
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length}" height="{BAR_HEIGHT}"'
            f' fill="{colour}"/>',
            f'<text x="{LABEL_WIDTH + length + 6}" y="{text_y:.1f}"'
            f' font-size="13">{escape(shown)}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)
