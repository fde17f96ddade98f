"""Monthly reports for the finance committee: HTML, PDF (the same content) and CSV.

``report_data(inventory, month_or_months, ledger_path)`` reads the period's costs through the
cost model's one entry point (``koumbit_infra.cost.period_costs``): each month from the ledger
when it was closed there (else computed with reserved-only usage, and the report says so);
``render(data, lang, fmt)`` turns it into bytes.
"""

from __future__ import annotations

from typing import Literal

from koumbit_infra.report.catalogue import LANGS, Lang, label
from koumbit_infra.report.data import ReportData, report_data
from koumbit_infra.report.focus_csv import render_csv
from koumbit_infra.report.html import render_html

# csv: the committee's simple table, one row per client (focus_csv.py);
# focus: the FOCUS 1.0 export any FinOps tool reads (focus.py).
Format = Literal["pdf", "html", "csv", "focus"]
FORMATS: tuple[Format, ...] = ("pdf", "html", "csv", "focus")


def render(data: ReportData, lang: Lang, fmt: Format) -> bytes:
    """The report of ``data`` in ``lang`` as ``fmt``, encoded (UTF-8 for text formats)."""
    if fmt == "csv":
        return render_csv(data, lang).encode()
    if fmt == "focus":
        from koumbit_infra.report.focus import render_focus

        return render_focus(data, lang).encode()
    if fmt == "html":
        return render_html(data, lang).encode()
    from koumbit_infra.report.pdf import render_pdf  # fontTools is only needed here

    return render_pdf(data, lang)


__all__ = [
    "FORMATS", "LANGS", "Format", "Lang", "ReportData", "label", "render", "render_csv",
    "render_html", "report_data",
]
