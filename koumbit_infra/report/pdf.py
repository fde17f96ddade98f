"""The PDF: WeasyPrint prints the same HTML the browser would show."""

from __future__ import annotations


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of ``html`` (imported late: WeasyPrint loads Pango on import)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf = HTML(string=html).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf
