"""Close and compute a year of costs: the lab inventory, then 2,000 clients and 5,000 sites.

For each inventory: allocate each of the 12 months of the fiscal year from
recorded usage (generated: partial data, moved sites, heavy users; the lab:
reserved only), close each month into a fresh SQLite ledger, close them all
a second time (must write nothing), and project the budget from the ledger.
Target: the generated year under 5 s (allocate + close + projection), and with a month's
PDF report (gathered from the ledger, then drawn) still under 5 s (issue #7). Each report
figure includes gathering its data from the ledger. Then next year's budget request
(issue #18) for the generated inventory with 24 closed months in the ledger, a scenario
and recorded growth: reading the ledger, computing, and writing the French PDF, under 5 s.

    .venv/bin/python bench/cost.py [--clients 2000] [--sites 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from koumbit_infra.cost import Allocator, Ledger, RecordedUsage, project_budget
from koumbit_infra.cost.ledger.budget_projection import fiscal_months
from koumbit_infra.cost.usage.synthetic import generated_inventory, generated_usage
from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory
from koumbit_infra.report import render, report_data


def year(inv: Inventory, ledger_path: Path, with_usage: bool) -> dict[str, float]:
    months = fiscal_months(inv.budget)
    usage = {m: RecordedUsage(generated_usage(inv, m) if with_usage else ()) for m in months}
    figures: dict[str, float] = {}
    with Ledger.open(ledger_path) as ledger:
        start = time.perf_counter()
        allocator = Allocator(inv)
        allocations = [allocator.allocate(m, usage[m]) for m in months]
        figures["allocate"] = time.perf_counter() - start
        mark = time.perf_counter()
        for allocation in allocations:
            assert ledger.close(inv.env, allocation, "bench").changed
        figures["close"] = time.perf_counter() - mark
        mark = time.perf_counter()
        projection = project_budget(inv, ledger)
        figures["project"] = time.perf_counter() - mark
        figures["total"] = time.perf_counter() - start
        mark = time.perf_counter()
        for allocation in allocations:
            assert not ledger.close(inv.env, allocation, "bench").changed
        figures["reclose"] = time.perf_counter() - mark
        mark = time.perf_counter()
        back = ledger.allocation(inv.env, months[-1])
        figures["read_month"] = time.perf_counter() - mark
    assert back is not None and back.total_cad == allocations[-1].total_cad
    for fmt in ("csv", "html", "pdf"):
        mark = time.perf_counter()
        data = report_data(inv, months[-1], ledger_path)
        size = len(render(data, "fr", fmt))  # type: ignore[arg-type]
        figures[f"report_{fmt}"] = time.perf_counter() - mark
        figures[f"report_{fmt}_kb"] = size / 1000
    mark = time.perf_counter()
    year_data = report_data(inv, months, ledger_path, fiscal_year=inv.budget.fiscal_year)
    figures["read_year"] = time.perf_counter() - mark
    render(year_data, "fr", "html")
    figures["report_year_html"] = time.perf_counter() - mark
    for lang in ("fr", "en"):  # the PDFs the committee reads: gathered and drawn each time
        mark = time.perf_counter()
        render(report_data(inv, months[-1], ledger_path), lang, "pdf")  # type: ignore[arg-type]
        figures[f"pdf_month_{lang}"] = time.perf_counter() - mark
        mark = time.perf_counter()
        render(report_data(inv, months, ledger_path, fiscal_year=inv.budget.fiscal_year),
               lang, "pdf")  # type: ignore[arg-type]
        figures[f"pdf_year_{lang}"] = time.perf_counter() - mark
    last = allocations[-1]
    subsidy, subsidy_list = last.solidarity_totals()
    print(f"  {len(inv.clients)} clients, {len(last.sites)} sites, {len(inv.servers)} servers,"
          f" {len(months)} months {months[0]}..{months[-1]}")
    print(f"  allocate 12 months      {figures['allocate']:7.3f} s"
          f"  ({figures['allocate'] / len(months) * 1000:.0f} ms a month)")
    print(f"  close 12 months         {figures['close']:7.3f} s"
          f"  (ledger {ledger_path.stat().st_size / 1e6:.1f} MB)")
    print(f"  budget projection       {figures['project']:7.3f} s")
    print(f"  allocate+close+project  {figures['total']:7.3f} s")
    print(f"  re-close (no change)    {figures['reclose']:7.3f} s")
    print(f"  read a month back       {figures['read_month']:7.3f} s")
    for fmt in ("csv", "html", "pdf"):
        print(f"  report {fmt:<4} (fr, month) {figures[f'report_{fmt}']:7.3f} s"
              f"  ({figures[f'report_{fmt}_kb']:.0f} kB)")
    print(f"  report html (fr, year)  {figures['report_year_html']:7.3f} s"
          f"  (reading the 12 months {figures['read_year']:.3f} s)")
    for lang in ("fr", "en"):
        print(f"  report pdf  ({lang}, month) {figures[f'pdf_month_{lang}']:7.3f} s"
              f"   ({lang}, year) {figures[f'pdf_year_{lang}']:7.3f} s")
    print(f"  {months[-1]}: total {last.total_cad} CAD, idle {last.idle_cad} CAD,"
          f" solidarity subsidy {subsidy} CAD (cost) / {subsidy_list} CAD (list)")
    print(f"  year projected {projection.projected_cad} CAD of {projection.allocated_cad} CAD"
          f" allocated{' (OVER)' if projection.over_allocation else ''}")
    return figures


def proposal(inv: Inventory, ledger_path: Path) -> float:
    """Close 24 months (two fiscal years) and time next year's request from them."""
    from datetime import UTC, date, datetime

    from koumbit_infra.budget.propose import propose
    from koumbit_infra.budget.render import render_proposal
    from koumbit_infra.budget.scenario import Scenario
    from koumbit_infra.cost import Month

    first = int(inv.budget.fiscal_year[:4])
    months = [Month(first - 1 + (m + 3) // 12, (m + 3) % 12 + 1) for m in range(24)]
    allocator = Allocator(inv)
    with Ledger.open(ledger_path) as ledger:
        for month in months:
            ledger.close(inv.env, allocator.allocate(month, RecordedUsage(())), "bench")
    year = f"{first + 1}-{first + 2}"
    scenario = Scenario.model_validate({
        "add_clients": [{"count": 3, "plan": "essentiel", "solidarity": True,
                         "monthly_price_paid_cad": "0.00", "since": date(first + 1, 4, 1),
                         "server": "web1"}]})
    start = time.perf_counter()
    with Ledger.open(ledger_path) as ledger:
        result = propose(inv, year, ledger, scenario=scenario,
                         now=datetime(first + 1, 3, 1, tzinfo=UTC))
    computed = time.perf_counter() - start
    size = len(render_proposal(result, "fr", "pdf"))
    total = time.perf_counter() - start
    print(f"  {len(inv.clients)} clients, {len(months)} closed months {months[0]}..{months[-1]}")
    print(f"  read the ledger + propose {computed:7.3f} s")
    print(f"  + French PDF              {total:7.3f} s  ({size / 1000:.0f} kB)")
    print(f"  {year}: proposed {result.total('proposed')} CAD (without change"
          f" {result.total('without_change')}); solidarity {result.solidarity.projected_cad}"
          " CAD")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("lab inventory (reserved only):")
        year(load_env("lab"), Path(tmp) / "lab.sqlite", with_usage=False)
        start = time.perf_counter()
        inv = generated_inventory(args.clients, args.sites)
        print(f"generated inventory (built in {time.perf_counter() - start:.2f} s):")
        figures = year(inv, Path(tmp) / "generated.sqlite", with_usage=True)
        print("budget request (2,000 clients, 24 closed months):")
        request = proposal(inv, Path(tmp) / "proposal.sqlite")
    verdict = "under" if figures["total"] < 5 else "OVER"
    print(f"target: generated year under 5 s: {figures['total']:.2f} s, {verdict}")
    verdict = "under" if request < 5 else "OVER"
    print(f"target: budget request (read, propose, French PDF) under 5 s: {request:.2f} s,"
          f" {verdict}")
    both = figures["total"] + figures["report_pdf"]
    verdict = "under" if both < 5 else "OVER"
    print(f"target: close the year + a month's PDF report under 5 s: {both:.2f} s, {verdict}")


if __name__ == "__main__":
    main()
