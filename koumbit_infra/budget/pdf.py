"""The budget request as PDF, drawn with the report's own layout (report/pdf.py) from the
same context as the HTML: the same labels and figures, text that pdftotext reads back."""

from __future__ import annotations

from koumbit_infra.budget.propose import Proposal
from koumbit_infra.budget.render import context
from koumbit_infra.report.catalogue import Lang
from koumbit_infra.report.pdf import (
    MM,
    NOTE_INK,
    Canvas,
    Cell,
    Run,
    Style,
    Table,
    fonts,
    write_pdf,
)


def render_pdf(p: Proposal, lang: Lang) -> bytes:
    """The request of ``p`` in ``lang`` as PDF bytes, in the HTML's order."""
    ctx = context(p, lang)
    t = ctx["t"]
    regular, bold = fonts()
    body, strong = Style(regular, 10), Style(bold, 10)
    note = Style(regular, 9, NOTE_INK)
    small, small_bold = Style(regular, 8), Style(bold, 8)
    canvas = Canvas()

    def h2(heading: str) -> None:
        canvas.heading(heading, Style(bold, 13), 7 * MM, 2 * MM, rule=True)

    def table(header: list[str], rows: list[list[str]], total: list[str] | None = None,
              numbers_from: int = 1) -> None:
        def row(cells: list[str], style: Style, wrap: bool = False) -> list[Cell]:
            # Amounts never break; headings may, so eight columns fit the page.
            return [Cell((Run(c, style),), i >= numbers_from, i >= numbers_from and not wrap)
                    for i, c in enumerate(cells)]

        body_rows = [row(r, small) for r in rows]
        if total:
            body_rows.append(row(total, small_bold))
        canvas.table(Table(body_rows, row(header, small_bold, wrap=True),
                           bold_last=bool(total)),
                     len(header))

    canvas.heading(f"{ctx['title']} — {ctx['year']}", Style(bold, 17), 0, 2 * MM)
    canvas.paragraph([Run(t("env") + " ", body), Run(ctx["env"], strong),
                      Run(" · " + t("scenario") + " ", body), Run(ctx["scenario"], strong)], 10)
    for text in [*ctx["notes"], *ctx["warnings"]]:
        canvas.paragraph([Run(text, note)], 9)
    for sentence in ctx["summary"]:
        canvas.paragraph([Run(sentence, strong)], 10)
    h2(t("lines"))
    table(ctx["header"], ctx["rows"], ctx["totals"])
    h2(t("solidarity"))
    for sentence in ctx["solidarity"]:
        canvas.paragraph([Run(sentence, body)], 10)
    h2(t("growth_title"))
    canvas.heading(t("history"), Style(bold, 11.7), 11.7, 11.7)
    table(ctx["history_header"], ctx["history"])
    if ctx["capacity"]:
        canvas.heading(t("capacity"), Style(bold, 11.7), 11.7, 11.7)
        table(ctx["capacity_header"], ctx["capacity"], numbers_from=99)
    h2(t("sources"))
    for source in ctx["sources"]:
        canvas.paragraph([Run(source, note)], 9)
    canvas.paragraph([Run(t("footer"), note)], 9)
    canvas.page_footers(lambda page, pages: t("page", title=ctx["title"], year=ctx["year"],
                                              page=page, pages=pages), note)
    return write_pdf(canvas, f"{ctx['title']} · {ctx['year']} · {ctx['env']}", lang)
