"""The finance path on the real lab: usage from mon1's Prometheus, the month closed into
the ledger, and the committee's report in French and English (PDF and CSV)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deploy_fixture import Deployment, deployed
from pdfcheck import first_page_dark_share, pdf_text
from test_monitoring import poll, query

from koumbit_infra.cost import Ledger, Month
from koumbit_infra.envs import CHECKOUT, load_env
from koumbit_infra.monitoring.prometheus import SCRAPE_INTERVAL_SECONDS

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]

CLI = str(Path(sys.executable).with_name("koumbit-infra"))
MONTH = Month.of(datetime.now(UTC).date())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=CHECKOUT, capture_output=True, text=True,
                          timeout=600, check=False)


def test_close_the_month_from_prometheus_and_report_it(
    deployed: Deployment, lab: Lab, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    closed = cli("cost", "close", str(MONTH), "--prometheus-on", "-", "--ledger", str(ledger))
    assert closed.returncode == 0, closed.stdout + closed.stderr
    assert "read from the Prometheus on mon1 (through SSH)" in closed.stdout
    with Ledger.open(ledger) as book:
        record = book.latest("lab", MONTH)
        allocation = book.allocation("lab", MONTH)
    assert record is not None and allocation is not None
    assert "on mon1 (SSH)" in record.usage_source
    allocation.check()
    again = cli("cost", "close", str(MONTH), "--prometheus-on", "-", "--ledger", str(ledger))
    assert again.returncode == 0, again.stderr
    # Usage moves on between two closes of the current month: a new version may be
    # written, but the first one is kept either way.
    with Ledger.open(ledger) as book:
        assert book.versions("lab", MONTH)[0].version == 1

    names = [c.name for c in load_env("lab").clients]
    for lang in ("fr", "en"):
        pdf = tmp_path / f"report-{lang}.pdf"
        made = cli("report", "--month", str(MONTH), "--lang", lang, "--format", "pdf",
                   "--ledger", str(ledger), "--out", str(pdf))
        assert made.returncode == 0, made.stderr
        text = pdf_text(pdf)
        assert all(name.split(" ")[0] in text for name in names)
        assert ("Coût par client" if lang == "fr" else "Cost per client") in text
        pages = tmp_path / f"pages-{lang}"
        pages.mkdir()
        _, _, dark = first_page_dark_share(pdf, pages)
        assert dark > 0.02, f"{lang}: first page nearly blank"
    table = tmp_path / "report.csv"
    made = cli("report", "--month", str(MONTH), "--lang", "en", "--format", "csv",
               "--ledger", str(ledger), "--out", str(table))
    assert made.returncode == 0, made.stderr
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert {r["SubAccountName"] for r in rows} == set(names)


def test_published_cost_metrics_reach_prometheus(deployed: Deployment, lab: Lab,
                                                 tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    closed = cli("cost", "close", str(MONTH), "--ledger", str(ledger))
    assert closed.returncode == 0, closed.stdout + closed.stderr
    published = cli("cost", "publish", "--ledger", str(ledger))
    assert published.returncode == 0, published.stdout + published.stderr
    assert "mon1:/var/lib/prometheus/node-exporter/koumbit_cost.prom" in published.stdout
    with Ledger.open(ledger) as book:
        allocation = book.allocation("lab", MONTH)
    assert allocation is not None
    expected = {c.client: float(c.cost_cad) for c in allocation.clients}

    def in_prometheus() -> dict[str, float]:
        return {r["metric"]["client"]: float(r["value"][1])
                for r in query(lab, 'koumbit_client_cost_last_closed_month_cad{server="mon1"}')}

    waited = poll(lambda: in_prometheus() == expected, SCRAPE_INTERVAL_SECONDS + 30)
    assert waited is not None, (in_prometheus(), expected)
    allocated = query(lab, "koumbit_budget_allocated_fiscal_year_cad")
    budget = load_env("lab").budget
    assert [float(r["value"][1]) for r in allocated] == [float(budget.allocated_cad)]
    again = cli("cost", "publish", "--ledger", str(ledger))
    assert again.returncode == 0 and "cost metrics unchanged" in again.stdout, again.stdout


def test_budget_request_reads_growth_from_mon1_and_writes_the_french_pdf(
    deployed: Deployment, lab: Lab, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    closed = cli("cost", "close", str(MONTH), "--prometheus-on", "-", "--ledger", str(ledger))
    assert closed.returncode == 0, closed.stdout + closed.stderr
    inv = load_env("lab")
    # The fiscal year after the month just closed: the one the committee asks for.
    first = MONTH.year + (1 if MONTH.month >= inv.budget.start_month else 0)
    pdf = tmp_path / "request-fr.pdf"
    made = cli("budget", "propose", "--fiscal-year", f"{first}-{first + 1}",
               "--prometheus-on", "-", "--ledger", str(ledger), "--lang", "fr",
               "--format", "pdf", "--out", str(pdf))
    assert made.returncode == 0, made.stdout + made.stderr
    assert "growth: read from the Prometheus on mon1 (through SSH)" in made.stdout
    text = pdf_text(pdf)
    assert "Demande de budget Infra" in text and "Comptes solidaires" in text
    assert "Croissance des serveurs mesurée par prometheus" in text
    for server in inv.servers:
        assert server.name in text, server.name
    for line in inv.budget.lines:
        assert line.name.split(" ")[0] in text, line.name
    assert "Capacité des serveurs" in text  # web1's and web2's disk, memory and CPU
    pages = tmp_path / "pages"
    pages.mkdir()
    _, _, dark = first_page_dark_share(pdf, pages)
    assert dark > 0.02, "first page nearly blank"
