"""Next year's budget request: a worked example computed by hand, and properties.

The worked example (fiscal year 2027-2028, ledger closed for 2026-04..2027-03):

- web1 (web, db) rents at 100.00 a month; with the CPU carrying all of a server's cost
  (reference prices 1, 0, 0) its ledger line is exactly 100.00 a month.
- old1 (backup) was bought 2,400.00 over 24 months from 2025-10-01, plus 20.00 hosting:
  120.00 a month until its amortisation ends on 2027-10-01, then 20.00.
- Transit: 50.00 a month.
- Three clients, one site each on web1: a.test and b.test regular (standard, 40.00),
  c.test a solidarity account paying 0.00. Each site reserves 0.2 of web1's 2 cores (the
  standard plan): 10.00 of
  direct cost a month; the 170.00 of shared costs (old1 and transit) are spread equally
  by largest remainder: 56.67, 56.67 and 56.66 (ties to the smaller domain). The
  solidarity account costs 10.00 + 56.66 = 66.66 a month: its subsidy.
- mon1's Prometheus (recorded answers) shows web1's disk growing 0.2 GiB a day, at
  40 GiB on 2027-01-01 and 51.8 GiB on 2027-03-01 (the last point), with 3 sites:
  17.2666... GiB a site.
- The scenario adds three solidarity accounts (essentiel, paying 0.00) on web1 from
  2027-04-01: +51.8 GiB, so web1's 100 GiB disk is full at the end of April 2027
  (64 + 51.8 = 115.8 GiB): the cheapest catalogue offer (web-new, 80.00 a month) is
  needed from April, 12 months: 960.00.

Per line (this year, without change, purchases, proposed):
  web1        1,200.00   1,200.00     0.00   1,200.00
  old1        1,440.00     840.00     0.00     840.00   (6 x 120 + 6 x 20)
  Transit       600.00     600.00     0.00     600.00
  web-new         0.00       0.00   960.00     960.00   (from 2027-04)
  total       3,240.00   2,640.00   960.00   3,600.00
Solidarity: 12 x 66.66 = 799.92 for the one account (its count does not change), plus
3 x 66.66 x 12 = 2,399.76 for the three new ones: 3,199.68.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.parse
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koumbit_infra.budget.growth import PrometheusGrowth, fit
from koumbit_infra.budget.propose import Proposal, amortisation_end, propose
from koumbit_infra.budget.render import render_csv, render_html, render_proposal
from koumbit_infra.budget.scenario import NO_CHANGE, Scenario, load_scenario
from koumbit_infra.cli import main
from koumbit_infra.cost import Ledger, Month, PrometheusUsage, ReservedOnly, close_month
from koumbit_infra.cost.allocation.prices import ResourcePrices
from koumbit_infra.cost.ledger.budget_projection import project_budget
from koumbit_infra.cost.usage.synthetic import PLANS, inventory_from
from koumbit_infra.inventory import Inventory, InventoryError, Role
from koumbit_infra.inventory.models import (
    GIB,
    Budget,
    BudgetCategory,
    BudgetLine,
    Client,
    Cms,
    Contact,
    Server,
    ServerCost,
    ServerOffer,
    Site,
    Size,
    Solidarity,
)

CURRENT = [Month(2026, m) for m in range(4, 13)] + [Month(2027, m) for m in range(1, 4)]
CPU_ONLY = ResourcePrices(Decimal(1), Decimal(0), Decimal(0))
NOW = datetime(2027, 3, 1, tzinfo=UTC)
JAN_1 = datetime(2027, 1, 1, tzinfo=UTC)


def _client(slug: str, paid: str, solidarity: bool = False) -> Client:
    return Client(
        slug=slug, name=f"Organisme {slug}", plan="standard",
        monthly_price_paid_cad=Decimal(paid),
        solidarity=Solidarity(since=date(2025, 1, 1)) if solidarity else None,
        contact=Contact(name="x", email="x@example.test"),
        sites=(Site(domain=f"{slug}.test", cms=Cms.WORDPRESS, server="web1"),),
    )


def worked_inventory() -> Inventory:
    servers = [
        Server(name="web1", address="10.9.0.1", roles=frozenset({Role.WEB, Role.DB}),
               size=Size(cpus=2, memory_gib=4, disk_gib=100),
               cost=ServerCost(monthly_cad=Decimal("100.00"))),
        Server(name="old1", address="10.9.0.2", roles=frozenset({Role.BACKUP}),
               size=Size(cpus=1, memory_gib=2, disk_gib=500),
               cost=ServerCost(purchase_cad=Decimal("2400.00"), amortisation_months=24,
                               hosting_monthly_cad=Decimal("20.00")),
               since=date(2025, 10, 1)),
    ]
    budget = Budget(fiscal_year="2026-2027", start_month=4, allocated_cad=Decimal("3500.00"),
                    lines=(BudgetLine(name="Transit", category=BudgetCategory.TRANSIT,
                                      monthly_cad=Decimal("50.00")),))
    inv = inventory_from(servers, [_client("a", "40.00"), _client("b", "40.00"),
                                   _client("c", "0.00", solidarity=True)], budget)
    offers = (
        ServerOffer(name="web-big", label_fr="Gros serveur", label_en="Big server",
                    roles=frozenset({Role.WEB, Role.DB}), size=Size(cpus=8, memory_gib=32,
                                                                   disk_gib=1000),
                    cost=ServerCost(monthly_cad=Decimal("300.00"))),
        ServerOffer(name="web-new", label_fr="Serveur web loué", label_en="Rented web server",
                    roles=frozenset({Role.WEB, Role.DB}), size=Size(cpus=2, memory_gib=4,
                                                                   disk_gib=100),
                    cost=ServerCost(monthly_cad=Decimal("80.00"))),
    )
    return Inventory(inv.env, inv.root, inv.settings, inv.admins, inv.servers, inv.plans,
                     inv.clients, inv.budget, catalogue=offers)


def recorded_prometheus(disk: dict[str, str]) -> PrometheusUsage:
    """A Prometheus that answers range queries from recorded points (the lab reads the same
    answers through SSH): web1's disk on a straight line, nothing else."""

    def fetch(url: str) -> bytes:
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        query, start, end, step = (params[k][0] for k in ("query", "start", "end", "step"))
        result = []
        if query.startswith("sum by (server) (avg_over_time(koumbit_site_disk_bytes"):
            values = []
            for stamp in range(int(start), int(end) + 1, int(step)):
                days = Decimal(stamp - int(JAN_1.timestamp())) / 86400
                values.append([stamp, str((Decimal(disk["at_jan_1"]) + Decimal(disk["per_day"])
                                           * days) * GIB)])
            result.append({"metric": {"server": "web1"}, "values": values})
        return json.dumps({"status": "success",
                           "data": {"resultType": "matrix", "result": result}}).encode()

    return PrometheusUsage("http://127.0.0.1:9090", fetch=fetch, where=" on mon1 (SSH)")


THREE_ACCOUNTS = Scenario.model_validate({
    "name": "Trois comptes solidaires de plus",
    "add_clients": [{"count": 3, "plan": "essentiel", "solidarity": True,
                     "monthly_price_paid_cad": "0.00", "since": "2027-04-01",
                     "server": "web1"}],
})


@pytest.fixture(scope="module")
def worked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Inventory, Path]:
    inv = worked_inventory()
    path = tmp_path_factory.mktemp("budget") / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        for month in CURRENT:
            close_month(inv, month, ledger, source=ReservedOnly(), prices=CPU_ONLY,
                        revision=None)
    return inv, path


def _propose(worked: tuple[Inventory, Path], scenario: Scenario = THREE_ACCOUNTS) -> Proposal:
    inv, path = worked
    growth = PrometheusGrowth(recorded_prometheus({"at_jan_1": "40", "per_day": "0.2"}))
    with Ledger.open(path) as ledger:
        return propose(inv, "2027-2028", ledger, scenario=scenario, growth=growth, now=NOW)


def test_worked_example_matches_the_hand_computation_line_by_line(
    worked: tuple[Inventory, Path],
) -> None:
    p = _propose(worked)
    table = {line.key: (line.this_year_cad, line.without_change_cad, line.purchases_cad,
                        line.proposed_cad, line.low_cad, line.high_cad, line.month)
             for line in p.lines}
    d = Decimal
    assert table == {
        "server:web1": (d("1200.00"), d("1200.00"), d("0.00"), d("1200.00"), d("1200.00"),
                        d("1200.00"), None),
        "server:old1": (d("1440.00"), d("840.00"), d("0.00"), d("840.00"), d("840.00"),
                        d("840.00"), None),
        "line:Transit": (d("600.00"), d("600.00"), d("0.00"), d("600.00"), d("600.00"),
                         d("600.00"), None),
        "buy:web-new:web1": (d("0.00"), d("0.00"), d("960.00"), d("960.00"), d("960.00"),
                             d("960.00"), Month(2027, 4)),
    }
    assert [p.total(c) for c in ("this_year", "without_change", "purchases", "proposed")] == [
        d("3240.00"), d("2640.00"), d("960.00"), d("3600.00")]
    s = p.solidarity
    assert (s.subsidy_per_account_cad, s.cost_per_account_cad) == (d("66.66"), d("66.66"))
    assert (s.this_year_cad, s.added_cad, s.projected_cad) == (
        d("799.92"), d("2399.76"), d("3199.68"))
    assert s.low_cad == s.high_cad == s.projected_cad  # one account every month: no spread
    disk = next(o for o in p.capacity if o.use.resource == "disk")
    assert disk.level is not None and abs(disk.level - d("51.8")) < d("1e-9")
    assert disk.per_month is not None and abs(disk.per_month - d("6.0875")) < d("1e-9")
    assert amortisation_end(worked[0].server("old1")) == date(2027, 10, 1)


def test_without_the_scenario_the_disk_fills_in_october(worked: tuple[Inventory, Path]) -> None:
    # 40 + 0.2 x 304 days = 100.8 GiB at the end of October 2027; 94.6 at the end of September.
    p = _propose(worked, NO_CHANGE)
    buy = next(line for line in p.lines if line.key.startswith("buy:"))
    assert (buy.month, buy.purchases_cad) == (Month(2027, 10), Decimal("480.00"))
    assert p.solidarity.projected_cad == Decimal("799.92")


def test_every_figure_names_its_source(worked: tuple[Inventory, Path]) -> None:
    p = _propose(worked)
    sources = {line.key: line.source.en for line in p.lines}
    assert sources["server:web1"] == "ledger: average of 12 months (2026-04..2027-03)"
    assert "amortisation ends on 2027-10-01" in sources["server:old1"]
    assert "disk of web1 full in 2027-04" in sources["buy:web-new:web1"]
    assert "prometheus http://127.0.0.1:9090 on mon1 (SSH)" in sources["buy:web-new:web1"]
    assert "budget.yaml catalogue, web-new" in sources["buy:web-new:web1"]
    html = render_html(p, "fr")
    assert "registre : moyenne de 12 mois" in html
    assert "2026-04 (v1)" in html  # the ledger version of each month used


def test_the_trend_spread_gives_the_bounds() -> None:
    # Points 0, 2, 1, 3 on days 0..3: slope 4 / 5 = 0.8; residuals -0.3, 0.9, -0.9, 0.3,
    # so the slope's variance is 1.8 / (4 - 2) / 5 = 0.18.
    trend = fit([(Decimal(x), Decimal(y)) for x, y in enumerate((0, 2, 1, 3))])
    assert trend is not None
    assert trend.slope == Decimal("0.8")
    assert abs(trend.slope_error ** 2 - Decimal("0.18")) < Decimal("1e-20")
    assert fit([(Decimal(1), Decimal(5))]) is None


def test_a_noisy_trend_widens_the_purchase_bounds(worked: tuple[Inventory, Path]) -> None:
    inv, path = worked

    class Noisy:
        label = "recorded"

        def server_use(self, inv: Inventory, now: datetime) -> tuple[object, ...]:
            base = PrometheusGrowth(recorded_prometheus({"at_jan_1": "40", "per_day": "0.2"}))
            uses = base.server_use(inv, now)
            disk = uses[0]
            assert disk.trend is not None
            noisy = disk.trend.__class__(disk.trend.points, disk.trend.mean_x,
                                         disk.trend.mean_y, disk.trend.slope, Decimal("0.1"),
                                         disk.trend.last_x)
            return (disk.__class__(disk.server, disk.resource, disk.capacity, disk.unit,
                                   noisy, disk.source), *uses[1:])

    with Ledger.open(path) as ledger:
        p = propose(inv, "2027-2028", ledger, growth=Noisy(), now=NOW)  # type: ignore[arg-type]
    buy = next(line for line in p.lines if line.key.startswith("buy:"))
    assert buy.low_cad < buy.proposed_cad < buy.high_cad


def test_the_french_pdf_shows_each_line(worked: tuple[Inventory, Path], tmp_path: Path) -> None:
    from pdfcheck import first_page_dark_share, pdf_text

    pdf = tmp_path / "request.pdf"
    pdf.write_bytes(render_proposal(_propose(worked), "fr", "pdf"))
    text = pdf_text(pdf)
    for expected in ("Demande de budget Infra", "web1", "old1", "Transit",
                     "Serveur web loué", "3 600,00", "Comptes solidaires", "3 199,68"):
        assert expected in text, expected
    _, _, dark = first_page_dark_share(pdf, tmp_path)
    assert dark > 0.02


def test_csv_lines_add_up_to_its_total_row(worked: tuple[Inventory, Path]) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(_propose(worked), "en"))))
    *lines, total = rows
    assert total["key"] == "total"
    for column in ("this_year_cad", "without_change_cad", "purchases_cad", "proposed_cad",
                   "low_cad", "high_cad"):
        assert sum(Decimal(r[column]) for r in lines) == Decimal(total[column])


def test_scenario_text_is_escaped_in_html_and_neutralised_in_csv(
    worked: tuple[Inventory, Path],
) -> None:
    hostile = Scenario(name="<script>alert(1)</script>")
    p = _propose(worked, hostile)
    html = render_html(p, "en")
    assert "<script>" not in html and "&lt;script&gt;" in html
    inv = worked[0]
    line = inv.budget.lines[0].model_copy(update={"name": "=cmd|' /C calc'!A0"})
    budget = inv.budget.model_copy(update={"lines": (line,)})
    odd = Inventory(inv.env, inv.root, inv.settings, inv.admins, inv.servers, inv.plans,
                    inv.clients, budget, catalogue=inv.catalogue)
    with Ledger.open(worked[1]) as ledger:
        text = render_csv(propose(odd, "2027-2028", ledger), "fr")
    assert ",'=cmd|' /C calc'!A0," in text


BROKEN = """\
name: Cassé
add_clients:
  - count: 2
    plan: premium
    since: 2026-01-01
    server: backup9
add_servers:
  - {offer: nowhere, since: 2027-05-01}
retire_servers:
  - {server: web1, since: 2027-06-01, when: soon}
line_changes:
  - {line: Heures, since: 2027-05-01, monthly_cad: "10.00"}
"""


def test_a_broken_scenario_names_each_problem_by_file_and_line(
    worked: tuple[Inventory, Path], tmp_path: Path
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(BROKEN)
    with pytest.raises(InventoryError) as caught:
        load_scenario(path, worked[0], date(2027, 4, 1), date(2028, 4, 1))
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:10: unknown key 'when'; remove it or fix its spelling (known keys: server, since)"
    ]
    path.write_text(BROKEN.replace(", when: soon", ""))
    with pytest.raises(InventoryError) as caught:
        load_scenario(path, worked[0], date(2027, 4, 1), date(2028, 4, 1))
    shown = [str(p) for p in caught.value.problems]
    assert f"{path}:4: unknown plan 'premium'; use one of: essentiel, organisme, standard" \
        in shown
    assert any(s.startswith(f"{path}:5: since 2026-01-01 is outside the fiscal year")
               for s in shown)
    assert any(s.startswith(f"{path}:6: 'backup9' is not a web server") for s in shown)
    assert any(s.startswith(f"{path}:8: unknown offer 'nowhere'") for s in shown)
    assert any(s.startswith(f"{path}:12: unknown budget line 'Heures'") for s in shown)


def test_the_command_refuses_a_broken_scenario_and_writes_nothing(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("add_clients:\n  - {count: 0, plan: essentiel, since: 2027-05-01,"
                        " server: web1}\n")
    out = tmp_path / "request.pdf"
    done = CliRunner().invoke(main, ["budget", "propose",
        "--fiscal-year", "2027-2028", "--scenario", str(scenario), "--ledger",
        str(tmp_path / "none.sqlite"), "--out", str(out)])
    assert done.exit_code == 2, done.output
    assert f"{scenario}:2: add_clients.0.count" in done.output
    assert not out.exists() and not (tmp_path / "none.sqlite").exists()


def test_the_command_writes_the_lab_request(tmp_path: Path) -> None:
    for fmt in ("pdf", "html", "csv"):
        out = tmp_path / f"request.{fmt}"
        done = CliRunner().invoke(main, ["budget", "propose",
            "--fiscal-year", "2027-2028", "--ledger", str(tmp_path / "none.sqlite"),
            "--lang", "en", "--format", fmt, "--out", str(out)])
        assert done.exit_code == 0, done.output
        assert out.stat().st_size > 500
    shown = {r["line"] for r in csv.DictReader(io.StringIO((tmp_path / "request.csv")
                                                           .read_text()))}
    assert "Infra team hours" in shown and "Heures de l'équipe Infra" not in shown


# --- properties -----------------------------------------------------------------------------

amounts = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("900.00"), places=2)


@st.composite
def small_inventories(draw: st.DrawFn) -> Inventory:
    servers = [Server(name=f"web{i}", address=f"10.8.0.{i}", roles=frozenset({Role.WEB,
                                                                               Role.DB}),
                      size=Size(cpus=draw(st.integers(1, 8)), memory_gib=8, disk_gib=100),
                      cost=ServerCost(monthly_cad=draw(amounts)))
               for i in range(1, draw(st.integers(1, 3)) + 1)]
    lines = tuple(BudgetLine(name=f"Ligne {i}", category=BudgetCategory.SOFTWARE,
                             monthly_cad=draw(amounts)) for i in range(draw(st.integers(0, 3))))
    clients = [Client(slug=f"c{i}", name=f"C{i}", plan=PLANS[i % len(PLANS)].name,
                      monthly_price_paid_cad=Decimal("10.00"),
                      contact=Contact(name="x", email="x@example.test"),
                      sites=(Site(domain=f"s{i}.test", cms=Cms.DRUPAL,
                                  server=f"web{i % len(servers) + 1}"),))
               for i in range(draw(st.integers(1, 6)))]
    budget = Budget(fiscal_year="2026-2027", start_month=4, allocated_cad=Decimal("9000.00"),
                    lines=lines)
    inv = inventory_from(servers, clients, budget)
    offer = ServerOffer(name="web-x", label_fr="x", label_en="x",
                        roles=frozenset({Role.WEB, Role.DB}), size=Size(cpus=1, memory_gib=1,
                                                                        disk_gib=1),
                        cost=ServerCost(monthly_cad=draw(amounts)))
    return Inventory(inv.env, inv.root, inv.settings, inv.admins, inv.servers, inv.plans,
                     inv.clients, inv.budget, catalogue=(offer,))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inv=small_inventories(), closed=st.integers(1, 12))
def test_no_change_reproduces_the_run_rate_projection(inv: Inventory, closed: int) -> None:
    ledger = Ledger.open(":memory:")
    with ledger:
        for month in CURRENT[:closed]:
            close_month(inv, month, ledger, source=ReservedOnly(), revision=None)
        projection = project_budget(inv, ledger)
        p = propose(inv, "2027-2028", ledger)
    run_rate = {line.key: line.projected_cad for line in projection.lines}
    for line in p.lines:
        assert line.without_change_cad == line.proposed_cad == run_rate[line.key], line.key
    assert p.total("proposed") == projection.projected_cad


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inv=small_inventories(), closed=st.integers(0, 12), data=st.data())
def test_lines_add_up_to_the_total_for_any_scenario(
    inv: Inventory, closed: int, data: st.DataObject
) -> None:
    days = st.dates(min_value=date(2027, 4, 1), max_value=date(2028, 3, 31))
    scenario = Scenario.model_validate({
        "add_servers": [{"offer": "web-x", "since": data.draw(days)}
                        for _ in range(data.draw(st.integers(0, 2)))],
        "retire_servers": [{"server": s.name, "since": data.draw(days)}
                           for s in inv.servers if data.draw(st.booleans())],
        "line_changes": [{"line": b.name, "since": data.draw(days),
                          "monthly_cad": str(data.draw(amounts))}
                         for b in inv.budget.lines if data.draw(st.booleans())],
    })
    ledger = Ledger.open(":memory:")
    with ledger:
        for month in CURRENT[:closed]:
            close_month(inv, month, ledger, source=ReservedOnly(), revision=None)
        p = propose(inv, "2027-2028", ledger, scenario=scenario)
    rows = list(csv.DictReader(io.StringIO(render_csv(p, "fr"))))
    *lines, total = rows
    for column in ("this_year_cad", "without_change_cad", "purchases_cad", "proposed_cad",
                   "low_cad", "high_cad"):
        assert sum(Decimal(r[column]) for r in lines) == Decimal(total[column])
    for line in p.lines:
        assert line.low_cad <= line.proposed_cad <= line.high_cad
        assert line.proposed_cad == line.proposed_cad.quantize(Decimal("0.01"))
    # Retiring a server never costs more than keeping it; a server added costs its days.
    for line in p.lines:
        if line.key.startswith("server:"):
            assert line.proposed_cad <= line.without_change_cad


def test_growth_reads_the_last_90_days_every_six_hours() -> None:
    asked: list[dict[str, list[str]]] = []
    source = recorded_prometheus({"at_jan_1": "40", "per_day": "0.2"})

    def spying(url: str) -> bytes:
        asked.append(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query))
        assert source.fetch is not None
        return source.fetch(url)

    growth = PrometheusGrowth(PrometheusUsage("http://127.0.0.1:9090", fetch=spying))
    growth.server_use(worked_inventory(), NOW)
    assert len(asked) == 4  # disk, databases, memory, CPU
    assert {(a["step"][0], int(a["end"][0]) - int(a["start"][0])) for a in asked} == {
        ("21600", int(timedelta(days=90).total_seconds()))}
