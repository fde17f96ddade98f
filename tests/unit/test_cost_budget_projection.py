"""The fiscal year: spent to date from closed months, run-rate, projection, variance."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from koumbit_infra.cost import Ledger, Month, close_month, project, project_budget
from koumbit_infra.cost.ledger.budget_projection import fiscal_months, planned_lines
from koumbit_infra.envs import load_env

D = Decimal


def test_fiscal_year_runs_from_the_start_month_for_twelve_months():
    months = fiscal_months(load_env("lab").budget)
    assert (months[0], months[-1], len(months)) == (Month(2026, 4), Month(2027, 3), 12)


def test_plan_counts_servers_from_their_first_day_and_lines_all_year():
    planned = planned_lines(load_env("lab"))
    assert planned["server:web1"][2] == D("1140.00")  # 95.00 x 12
    assert planned["line:Noms de domaine et DNS"][2] == D("240.00")  # yearly line
    assert planned["line:Heures de l'équipe Infra"][2] == D("3900.00")  # 10 h x 32.50 x 12


def test_with_nothing_closed_the_projection_is_the_plan():
    inv = load_env("lab")
    with Ledger(sqlite3.connect(":memory:")) as ledger:
        projection = project_budget(inv, ledger)
    assert projection.closed == ()
    assert projection.spent_cad == 0
    assert projection.projected_cad == projection.planned_cad == D("7860.00")
    assert projection.variance_cad == D("1140.00")  # 9000.00 allocated
    assert not projection.over_allocation


def test_spent_run_rate_and_projection_from_closed_months():
    inv = load_env("lab")
    with Ledger(sqlite3.connect(":memory:")) as ledger:
        for month in (Month(2026, 4), Month(2026, 5), Month(2026, 3)):  # March: year before
            close_month(inv, month, ledger, revision=None)
        projection = project_budget(inv, ledger)
    assert projection.closed == (Month(2026, 4), Month(2026, 5))
    assert projection.spent_cad == D("1310.00")  # 2 x 655.00
    assert projection.run_rate_per_month_cad == D("655.00")
    assert projection.projected_cad == D("7860.00")


def test_projection_over_the_allocation_is_flagged_per_line_and_in_total():
    inv = load_env("lab")
    planned = {"line:a": ("A", "A", D("1200.00")), "server:web1": ("web1", "web1", D("600"))}
    closed = {
        Month(2026, 4): {"line:a": D("100.00"), "server:web1": D("50.00")},
        Month(2026, 5): {"line:a": D("300.00"), "server:web1": D("50.00"),
                         "server:old": D("10.00")},
    }
    projection = project(inv.budget.model_copy(update={"allocated_cad": D("3000.00")}),
                         planned, closed)
    line = {x.key: x for x in projection.lines}
    # 400.00 spent over 2 months: 200.00 a month, 10 months to go -> 2400.00.
    assert (line["line:a"].spent_cad, line["line:a"].run_rate_per_month_cad,
            line["line:a"].projected_cad) == (D("400.00"), D("200.00"), D("2400.00"))
    assert line["line:a"].variance_cad == D("-1200.00")
    assert line["server:web1"].projected_cad == D("600.00")
    assert line["server:old"].planned_cad == 0 and line["server:old"].projected_cad == D("60.00")
    assert projection.projected_cad == D("3060.00")
    assert projection.variance_cad == D("-60.00")
    assert projection.over_allocation
