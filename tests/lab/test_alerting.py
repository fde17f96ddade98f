"""Alerts reach people, on the real lab: Alertmanager on mon1, its e-mail delivered by
mon1's exim into the lab mailbox (/var/mail/alertes, read with labmail), routes, and
silences made with amtool. Real faults (a site down, a certificate near its end, a server
down holding back its sites' alerts), each mailed, are tests/lab/test_probes.py's.

Alerts are pushed into Alertmanager's API v2 on mon1 (loopback only: python3 on mon1,
through SSH), each with a label ``run`` unique to this session, so that nothing
earlier in the mailbox or in Alertmanager can pass for them; each test resolves what it
pushed. Waits are polls with deadlines derived from the grouping delays; figures are
printed (run with -s).
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, deployed
from labmail import LabMailbox
from test_monitoring import poll

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory, PlacedSite, SiteState
from koumbit_infra.monitoring import alerting, mail

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]  # the fixture, imported for this module's tests

MONITOR = "mon1"


def _seconds(duration: str) -> int:
    """``30s``, ``2m``, ``6h`` as seconds."""
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


GROUP_WAIT = _seconds(alerting.GROUP_WAIT)
# A first notice leaves after the group's wait; exim delivers it at once; polls every 2 s.
FIRST_NOTICE = GROUP_WAIT + 60

_API = ("import json, sys, urllib.request; m, p, b = sys.argv[1:4];"
        " r = urllib.request.Request('http://127.0.0.1:9093' + p, method=m,"
        " data=b.encode() if b else None, headers={'Content-Type': 'application/json'});"
        " t = urllib.request.urlopen(r, timeout=10).read().decode(); print(t or 'null')")
_ALERTMANAGERS = ("import json, urllib.request;"
                  " a = urllib.request.urlopen('http://127.0.0.1:9090/api/v1/alertmanagers',"
                  " timeout=10); print(json.dumps(json.load(a)['data']['activeAlertmanagers']))")


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_env("lab")


@pytest.fixture
def run() -> str:
    """This test's own label value: its alerts, its silences, its e-mails."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def box(lab: Lab) -> LabMailbox:
    return LabMailbox(lab)


def api(lab: Lab, method: str, path: str, body: Any = None) -> Any:
    """Alertmanager's API v2 on mon1's loopback: the decoded JSON answer (None if empty)."""
    payload = json.dumps(body) if body is not None else ""
    out = lab.run(MONITOR, f"python3 -c {shlex.quote(_API)} {shlex.quote(method)}"
                           f" {shlex.quote(path)} {shlex.quote(payload)}")
    return json.loads(out)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Pushed:
    """Alerts this test pushed: firing for 20 minutes unless resolved earlier."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.alerts: list[dict[str, Any]] = []

    def fire(self, *alerts: tuple[dict[str, str], str]) -> None:
        """Push (labels, summary) pairs, in one request, starting now as Prometheus's do
        (an alert that started a group wait ago would make its new group notify at once)."""
        now = datetime.now(UTC)
        body = [{"labels": labels, "annotations": {"summary": summary},
                 "startsAt": _iso(now - timedelta(seconds=1)),
                 "endsAt": _iso(now + timedelta(minutes=20))}
                for labels, summary in alerts]
        self.alerts += body
        api(self.lab, "POST", "/api/v2/alerts", body)

    def resolve(self) -> None:
        """Every alert pushed, resolved now (as Prometheus does when a rule stops firing)."""
        if self.alerts:
            ended = _iso(datetime.now(UTC) - timedelta(seconds=1))
            api(self.lab, "POST", "/api/v2/alerts", [{**a, "endsAt": ended}
                                                     for a in self.alerts])


@pytest.fixture
def pushed(lab: Lab) -> Iterator[Pushed]:
    alerts = Pushed(lab)
    try:
        yield alerts
    finally:
        alerts.resolve()


def states(lab: Lab, run: str) -> dict[str, dict[str, Any]]:
    """This run's alerts in Alertmanager, by alertname and site: their ``status``."""
    found = api(lab, "GET", "/api/v2/alerts?" + f"filter=run%3D%22{run}%22")
    return {f"{a['labels']['alertname']} {a['labels'].get('site', '')}".strip(): a["status"]
            for a in found}


def active_sites(inv: Inventory, server: str) -> list[PlacedSite]:
    sites = [p for p in inv.sites_on(server) if p.site.state is SiteState.ACTIVE]
    assert sites, f"the lab inventory has no active site on {server}"
    return sites


def site_labels(placed: PlacedSite, alertname: str, run: str, concern: str = "sites",
                severity: str = "warning") -> dict[str, str]:
    return {"alertname": alertname, "severity": severity, "concern": concern, "run": run,
            "site": placed.site.domain, "client": placed.client.slug,
            "server": placed.site.server}


def test_alertmanager_listens_on_loopback_only_and_prometheus_sends_to_it(
        deployed: Deployment, lab: Lab) -> None:
    status = api(lab, "GET", "/api/v2/status")
    assert status["cluster"]["status"] == "disabled"  # no gossip port: one per server
    listening = {line.split()[3] for line in lab.run(MONITOR, "ss -Hltn").splitlines()}
    assert {alerting.LISTEN, f"{mail.LISTEN}:{mail.SMTP_PORT}"} <= listening
    assert not {a for a in listening if a.endswith((":9093", ":9094", ":25"))} - {
        alerting.LISTEN, f"{mail.LISTEN}:{mail.SMTP_PORT}"}, listening

    def knows_it() -> bool:
        urls = [a["url"] for a in json.loads(lab.run(
            MONITOR, f"python3 -c {shlex.quote(_ALERTMANAGERS)}"))]
        return urls == [f"http://{alerting.LISTEN}/api/v2/alerts"]

    waited = poll(knows_it, 60)
    assert waited is not None, lab.run(MONITOR, f"python3 -c {shlex.quote(_ALERTMANAGERS)}")
    # amtool on mon1 finds it without flags (/etc/prometheus/amtool.yml) and reads the
    # inventory's routes from the running configuration.
    routes = lab.run(MONITOR, "amtool config routes")
    assert 'receiver: finances' in routes and 'concern="budget"' in routes, routes
    print(f"\nPrometheus lists mon1's Alertmanager after {waited:.1f} s")


def test_routes_send_budget_to_finances_and_critical_site_alerts_to_astreinte(
        deployed: Deployment, lab: Lab, inv: Inventory, run: str, box: LabMailbox,
        pushed: Pushed) -> None:
    placed = active_sites(inv, "web2")[0]
    mark = box.count()
    pushed.fire(
        ({"alertname": "KoumbitLabTestBudget", "severity": "warning", "concern": "budget",
          "run": run}, f"Budget : test du labo {run} / budget: lab test {run}"),
        (site_labels(placed, "KoumbitLabTestCritical", run, severity="critical"),
         f"Critique : test du labo {run} / critical: lab test {run}"))
    budget, _ = box.wait_for(lambda m: "KoumbitLabTestBudget" in m.subject and run in m.body,
                             FIRST_NOTICE, after=mark)
    assert budget.to == "finances@koumbit-lab.test"
    assert budget.subject == "[ALERTE / FIRING] budget : KoumbitLabTestBudget"
    critical, _ = box.wait_for(
        lambda m: "KoumbitLabTestCritical" in m.subject and run in m.body, FIRST_NOTICE,
        after=mark)
    assert critical.to == "astreinte@koumbit-lab.test, infra@koumbit-lab.test"


def test_a_silence_made_with_amtool_keeps_its_alert_out_of_the_mail(
        deployed: Deployment, lab: Lab, inv: Inventory, run: str, box: LabMailbox,
        pushed: Pushed) -> None:
    placed = active_sites(inv, "web2")[0]
    silence = lab.run(MONITOR, "amtool silence add --author=lab-test --duration=20m"
                               f" --comment={shlex.quote(f'test du labo / lab test {run}')}"
                               f" alertname=KoumbitLabTestSilenced run={run}").strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", silence), silence
    try:
        mark = box.count()
        # Same site, so the same group: its one notice is where the silenced alert would be.
        pushed.fire((site_labels(placed, "KoumbitLabTestSilenced", run),
                     f"Tue : test du labo {run} / silenced: lab test {run}"),
                    (site_labels(placed, "KoumbitLabTestHeard", run),
                     f"Entendue : test du labo {run} / heard: lab test {run}"))
        site = placed.site.domain
        assert poll(lambda: states(lab, run).get(f"KoumbitLabTestSilenced {site}", {}).get(
            "silencedBy") == [silence], 30) is not None, states(lab, run)
        assert states(lab, run)[f"KoumbitLabTestSilenced {site}"]["state"] == "suppressed"
        heard, _ = box.wait_for(lambda m: run in m.body, FIRST_NOTICE, after=mark)
        assert "KoumbitLabTestHeard" in heard.body
        assert "KoumbitLabTestSilenced" not in heard.body
        assert heard.subject.endswith(": KoumbitLabTestHeard")  # one alert in the notice
        assert all("KoumbitLabTestSilenced" not in m.body for m in box.messages(after=mark))
    finally:
        lab.run(MONITOR, f"amtool silence expire {silence}")
