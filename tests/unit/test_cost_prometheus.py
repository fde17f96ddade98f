"""Usage from Prometheus, read from a tiny local HTTP server answering like the real API."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from koumbit_infra.cost import Month, PrometheusUsage, UsageSourceError, allocate
from koumbit_infra.envs import load_env

JUNE = Month(2026, 6)  # 720 hourly steps
START = int(JUNE.start_time().timestamp())
GIB = 1024**3


def matrix(*series: tuple[dict[str, str], list[tuple[int, str]]]) -> dict[str, object]:
    """A query_range answer as Prometheus writes it: timestamps as floats, values as strings."""
    return {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": labels, "values": [[START + 3600 * step, v] for step, v in points]}
                for labels, points in series
            ],
        },
    }


def hours(first: int, last: int, value: str) -> list[tuple[int, str]]:
    """One point per hourly step, steps ``first`` to ``last`` inclusive (1 = end of hour 1)."""
    return [(step, value) for step in range(first, last + 1)]


def labels(server: str, site: str) -> dict[str, str]:
    return {"server": server, "site": site, "client": "x"}


# centre-femmes: all month on web1, 0.1 core (360 s an hour), 2 GiB files + 1 GiB database.
# erables: moved from web2 to web1 after a quarter of the month (180 h), 0.5 core.
# journal: data for half the month only, with a NaN the exporter may emit.
ANSWERS = {
    "koumbit_site_cpu_seconds_total": matrix(
        (labels("web1", "centre-femmes.test"), hours(1, 720, "360")),
        (labels("web2", "erables.test"), hours(1, 180, "1800")),
        (labels("web1", "erables.test"), hours(181, 720, "1800")),
        (labels("web1", "journal-alternatif.test"), [*hours(1, 359, "36"), (360, "NaN")]),
    ),
    "koumbit_site_disk_bytes": matrix(
        (labels("web1", "centre-femmes.test"), hours(1, 720, str(2 * GIB))),
        (labels("web1", "journal-alternatif.test"), hours(1, 360, str(GIB))),
    ),
    "koumbit_site_database_bytes": matrix(
        (labels("web1", "centre-femmes.test"), hours(1, 720, str(GIB))),
        ({"server": "web1"}, hours(1, 720, "1")),  # no site label: cannot be charged
    ),
    "koumbit_site_memory_bytes": matrix(
        (labels("web1", "centre-femmes.test"), hours(1, 720, str(3 * GIB))),
        (labels("web2", "erables.test"), hours(1, 180, str(GIB // 4))),
    ),
}


class FakePrometheus(BaseHTTPRequestHandler):
    queries: ClassVar[list[dict[str, str]]] = []
    fail: ClassVar[str | None] = None

    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        params = dict(urllib.parse.parse_qsl(url.query))
        type(self).queries.append({"path": url.path, **params})
        if self.fail == "bad_query":
            self._answer(400, {"status": "error", "errorType": "bad_data",
                               "error": "parse error at char 5"})
            return
        metric = next((m for m in ANSWERS if m in params.get("query", "")), None)
        if url.path != "/api/v1/query_range" or metric is None:
            self._answer(404, {"status": "error", "error": "not recorded"})
            return
        self._answer(200, ANSWERS[metric])

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    FakePrometheus.queries = []
    FakePrometheus.fail = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def by_key(records):
    return {(u.site, u.server): u for u in records}


def test_range_queries_cover_the_month_hour_by_hour(prometheus):
    PrometheusUsage(prometheus).usage(JUNE)
    assert {q["path"] for q in FakePrometheus.queries} == {"/api/v1/query_range"}
    first = FakePrometheus.queries[0]
    assert first["query"] == (
        "sum by (server, site) (increase(koumbit_site_cpu_seconds_total[3600s]))")
    assert (int(first["start"]), int(first["end"]), first["step"]) == (
        START + 3600, int(JUNE.end_time().timestamp()), "3600")
    assert len(FakePrometheus.queries) == 4
    assert FakePrometheus.queries[3]["query"] == (
        "sum by (server, site) (avg_over_time(koumbit_site_memory_bytes[3600s]))")


def test_usage_per_site_and_server_with_coverage(prometheus):
    found = by_key(PrometheusUsage(prometheus).usage(JUNE))
    centre = found[("centre-femmes.test", "web1")]
    assert centre.coverage == 1
    assert centre.cpu_core_seconds == 720 * 360
    assert centre.disk_bytes_average == 3 * GIB  # files plus database
    # 3 GiB held every hour of the month, as byte-seconds.
    assert centre.memory_byte_seconds == 720 * 3600 * 3 * GIB
    journal = found[("journal-alternatif.test", "web1")]
    assert journal.memory_byte_seconds is None  # no series: charged at the reservation


def test_site_moved_mid_month_appears_on_both_servers(prometheus):
    found = by_key(PrometheusUsage(prometheus).usage(JUNE))
    assert found[("erables.test", "web2")].coverage == Decimal(180) / 720
    assert found[("erables.test", "web1")].coverage == Decimal(540) / 720
    assert found[("erables.test", "web1")].disk_bytes_average is None


def test_partial_data_has_partial_coverage_and_nan_is_skipped(prometheus):
    journal = by_key(PrometheusUsage(prometheus).usage(JUNE))[("journal-alternatif.test", "web1")]
    assert journal.coverage == Decimal("0.5")  # 360 of 720 steps have a point
    assert journal.cpu_core_seconds == 359 * 36


def test_allocation_from_prometheus_keeps_the_invariant(prometheus):
    inv = load_env("lab")
    result = allocate(inv, JUNE, PrometheusUsage(prometheus))
    assert result.usage_label == f"prometheus {prometheus.rstrip('/')}"
    assert result.allocated_cad + result.idle_cad == result.total_cad
    erables = {s.site: s for s in result.sites}["erables.test"]
    assert erables.servers == ("web1", "web2")
    reserved = allocate(inv, JUNE)
    # 0.5 core used beats the 0.2 reserved: erables pays more CPU than reserved-only.
    before = {s.site: s for s in reserved.sites}
    assert erables.cpu_cad > before["erables.test"].cpu_cad
    # 3 GiB held beats the PHP memory its plan promises: more memory than reserved-only.
    centre = {s.site: s for s in result.sites}["centre-femmes.test"]
    assert centre.memory_cad > before["centre-femmes.test"].memory_cad


def test_a_refused_query_is_a_clear_error(prometheus):
    FakePrometheus.fail = "bad_query"
    with pytest.raises(UsageSourceError, match=r"HTTP 400.*parse error at char 5"):
        PrometheusUsage(prometheus).usage(JUNE)


def test_an_unreachable_prometheus_is_a_clear_error():
    with pytest.raises(UsageSourceError, match="cannot read usage"):
        PrometheusUsage("http://127.0.0.1:9/", timeout_seconds=2).usage(JUNE)


def test_only_http_urls_are_read():
    with pytest.raises(UsageSourceError, match="not an http"):
        PrometheusUsage("file:///etc/passwd").usage(JUNE)


def test_an_injected_fetch_is_used_instead_of_http(prometheus):
    # The SSH source fetches on the monitoring server; here the fetch reads the fake.
    import urllib.request

    asked: list[str] = []

    def fetch(url: str) -> bytes:
        asked.append(url)
        real = url.replace("http://127.0.0.1:9090/", prometheus)
        with urllib.request.urlopen(real) as answer:
            return answer.read()

    source = PrometheusUsage("http://127.0.0.1:9090", fetch=fetch, where=" on mon1 (SSH)")
    found = by_key(source.usage(JUNE))
    assert found[("centre-femmes.test", "web1")].coverage == 1
    assert len(asked) == 4 and all(u.startswith("http://127.0.0.1:9090/api/v1/") for u in asked)
    assert source.label == "prometheus http://127.0.0.1:9090 on mon1 (SSH)"


def test_a_failing_fetch_is_a_clear_error():
    def fetch(url: str) -> bytes:
        raise OSError("on mon1: Connection refused")

    with pytest.raises(UsageSourceError, match="on mon1: Connection refused"):
        PrometheusUsage("http://127.0.0.1:9090", fetch=fetch).usage(JUNE)


def test_monitoring_server_is_chosen_from_the_inventory():
    from koumbit_infra.cost.usage.prometheus_ssh import MonitoringServerError, monitoring_server

    lab = load_env("lab")
    assert monitoring_server(lab, None) == "mon1"
    assert monitoring_server(lab, "mon1") == "mon1"
    with pytest.raises(MonitoringServerError, match="'web1' is not a monitoring server"):
        monitoring_server(lab, "web1")


def test_a_month_is_read_from_midnight_in_the_budget_s_time_zone(prometheus):
    montreal = load_env("lab").budget.zone
    assert str(montreal) == "America/Toronto"
    PrometheusUsage(prometheus, zone=montreal).usage(JUNE)
    first = FakePrometheus.queries[0]
    # Midnight in Montreal in June is 04:00 UTC (EDT); the first point ends the first hour.
    assert int(first["start"]) == START + 4 * 3600 + 3600
    assert int(first["end"]) == int(JUNE.end_time().timestamp()) + 4 * 3600
    # Clocks fall back on 1 November 2026: 721 hourly steps; spring forward in March: 743.
    source = PrometheusUsage(prometheus, zone=montreal)
    assert source.steps(Month(2026, 11)) == 721
    assert source.steps(Month(2027, 3)) == 743
    assert PrometheusUsage(prometheus).steps(Month(2026, 11)) == 720  # UTC
