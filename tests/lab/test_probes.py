"""Every lab site probed from outside by mon1's blackbox exporter, as its visitors see it.

Prometheus and the exporter listen on mon1's loopback only: both are asked through SSH
on mon1 (Debian's python3). Figures are printed (run with -s): how long a stopped site
takes to show down, then to fire its alert.
"""

from __future__ import annotations

import datetime
import json
import re
import shlex
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from deploy_fixture import Deployment, deployed, lab_trust
from labmail import LabMailbox, Mail
from test_acme import live_sites, served, served_once
from test_alerting import Pushed, api
from test_monitoring import MONITOR, poll, query

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory, PlacedSite, SiteState
from koumbit_infra.lab import down, up
from koumbit_infra.lab.pebble import LAB_ENDPOINTS
from koumbit_infra.monitoring.probes import (
    BLACKBOX_LISTEN,
    MAINTENANCE_MODULE,
    PROBE_JOBS,
    REDIRECTS_JOB,
    SITE_INTERVAL_SECONDS,
    SITE_MODULE,
    SITES_JOB,
    redirect_targets,
    site_targets,
)
from koumbit_infra.monitoring.prometheus import RULES_DIR, SCRAPE_INTERVAL_SECONDS
from koumbit_infra.sites.layout import SITE_LIB, SiteLayout
from koumbit_infra.templating import TEMPLATE_DIR

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]  # the fixture, imported for this module's tests



def _site_down_for() -> int:
    """The site-down rule's `for`, in seconds, as the rule file says it (minutes)."""
    rules = yaml.safe_load((TEMPLATE_DIR / RULES_DIR.lstrip("/") / "koumbit-sites.rules.yml")
                           .read_text())
    wait = next(r["for"] for r in rules["groups"][0]["rules"] if r["alert"] == "KoumbitSiteDown")
    assert wait.endswith("m"), wait
    return int(wait[:-1]) * 60


SITE_DOWN_FOR = _site_down_for()
# A probe result reaches Prometheus within one probe interval, and a rule sees it at
# its next evaluation; SSH round trips and a slow lab add the rest.
SEEN_DEADLINE = SITE_INTERVAL_SECONDS + SCRAPE_INTERVAL_SECONDS + 30
FIRING_DEADLINE = SITE_DOWN_FOR + SEEN_DEADLINE + 30
# Prometheus sends a firing alert at its next evaluation; Alertmanager waits its group_wait
# (30 s) for a new group, then at most a group_interval (2 min) for the resolved notice.
MAIL_DEADLINE = 30 + 60
RESOLVED_MAIL_DEADLINE = 120 + 90
# All targets are probed once within the longest interval after Prometheus reads them.
ALL_DEADLINE = max(job.interval_seconds for job in PROBE_JOBS) + SCRAPE_INTERVAL_SECONDS + 30

# One GET on mon1's loopback (the exporter's /probe, Prometheus's API), its body printed.
_GET = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_env("lab")


def by_site(lab: Lab, expr: str) -> dict[str, float]:
    return {r["metric"]["site"]: float(r["value"][1]) for r in query(lab, expr)}


def get_on_monitor(lab: Lab, url: str) -> str:
    return lab.run(MONITOR, f"python3 -c {shlex.quote(_GET)} {shlex.quote(url)}")


def probe_now(lab: Lab, target: str, module: str, hostname: str) -> dict[str, float]:
    """One probe asked of mon1's exporter directly (not through Prometheus)."""
    params = urlencode({"target": target, "module": module, "hostname": hostname})
    out = get_on_monitor(lab, f"http://{BLACKBOX_LISTEN}/probe?{params}")
    return {line.split(" ")[0]: float(line.rsplit(" ", 1)[1])
            for line in out.splitlines() if line and not line.startswith("#")}


def test_the_prober_listens_on_mon1_loopback_only(deployed: Deployment, lab: Lab) -> None:
    listening = lab.run(MONITOR, "ss -Hltn")
    port = BLACKBOX_LISTEN.rsplit(":", 1)[1]
    found = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(
        f":{port}")]
    assert found == [BLACKBOX_LISTEN], listening


def test_every_site_is_probed_up_with_a_certificate_good_for_14_days(
        deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    expected = {t.site for t in site_targets(inv)}
    assert "droits-humains.test" in expected  # the lab's disabled site is probed too

    def all_up() -> bool:
        return by_site(lab, f'probe_success{{job="{SITES_JOB}"}} == 1').keys() == expected

    waited = poll(all_up, ALL_DEADLINE)
    assert waited is not None, query(lab, f'probe_success{{job="{SITES_JOB}"}}')
    days = by_site(lab, f'(probe_ssl_earliest_cert_expiry{{job="{SITES_JOB}"}} - time())'
                        " / 86400")
    assert days.keys() == expected
    assert min(days.values()) > 14, days
    status = by_site(lab, f'probe_http_status_code{{job="{SITES_JOB}"}}')
    for target in site_targets(inv):
        assert status[target.site] == (503 if target.state == "disabled" else 200), target
    print(f"\n{len(expected)} sites probed up after {waited:.1f} s; certificates"
          f" {min(days.values()):.0f} to {max(days.values()):.0f} days from expiry")


def test_every_redirect_holds(deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    expected = {t.instance for t in redirect_targets(inv)}

    def all_hold() -> bool:
        found = query(lab, f'probe_success{{job="{REDIRECTS_JOB}"}} == 1')
        return {r["metric"]["instance"] for r in found} == expected

    assert poll(all_hold, ALL_DEADLINE) is not None, query(
        lab, f'probe_success{{job="{REDIRECTS_JOB}"}}')


def test_a_disabled_site_is_probed_for_its_maintenance_page(deployed: Deployment, lab: Lab,
                                                            inv: Inventory) -> None:
    target = next(t for t in site_targets(inv) if t.state == SiteState.DISABLED.value)
    assert target.module == MAINTENANCE_MODULE
    # Prometheus hands that module and the site's name to the exporter.
    targets = json.loads(get_on_monitor(lab, "http://127.0.0.1:9090/api/v1/targets?state=active"))
    active = [t for t in targets["data"]["activeTargets"]
              if t["labels"].get("site") == target.site and t["labels"]["job"] == SITES_JOB]
    assert len(active) == 1, active
    assert f"module={MAINTENANCE_MODULE}" in active[0]["scrapeUrl"]
    assert f"hostname={target.hostname}" in active[0]["scrapeUrl"]
    # The maintenance page passes the maintenance module and fails an active site's.
    assert probe_now(lab, target.url, MAINTENANCE_MODULE, target.hostname)[
        "probe_success"] == 1
    as_active = probe_now(lab, target.url, SITE_MODULE, target.hostname)
    assert (as_active["probe_success"], as_active["probe_http_status_code"]) == (0, 503)


def _victim(inv: Inventory) -> PlacedSite:
    """An active site on Debian 13's web2, the first by domain."""
    return next(p for p in sorted(inv.placed_sites(), key=lambda p: p.site.domain)
                if p.site.server == "web2" and p.site.state is SiteState.ACTIVE)


def alert_state(lab: Lab, site: str) -> str | None:
    found: list[dict[str, Any]] = query(
        lab, f'ALERTS{{alertname="KoumbitSiteDown",site="{site}"}}')
    states = {r["metric"]["alertstate"] for r in found}
    return "firing" if "firing" in states else ("pending" if states else None)


def alert_names(body: str) -> set[str]:
    """The alerts a notice lists ("[en cours / firing] NAME (severity)" lines)."""
    return set(re.findall(r"^\[[^\]\n]+\] (Koumbit\w+) ", body, re.MULTILINE))


def test_a_server_that_stops_sends_one_notice_not_one_per_site(
        deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    """web1 stopped whole: one grouped "server down" e-mail; its sites' own alerts fire in
    Prometheus but Alertmanager holds them back (inhibited by the server's)."""
    server = "web1"
    sites = sorted(p.site.domain for p in inv.placed_sites()
                   if p.site.server == server and p.site.state is SiteState.ACTIVE)
    assert sites
    up_expr = f'probe_success{{job="{SITES_JOB}",server="{server}"}} == 1'
    assert poll(lambda: len(by_site(lab, up_expr)) >= len(sites), ALL_DEADLINE) is not None
    box = LabMailbox(lab)
    mark = box.count()
    # Site alerts already firing before the stop (in the lab, the backup servers' hourly
    # verification may still say "no snapshot" of new sites): the stop does not cause
    # them. Their notices are left out below; what the stop causes is not.
    already = {a["labels"]["alertname"] for a in api(lab, "GET", "/api/v2/alerts")
               if a["labels"].get("server") == server and a["labels"].get("site") in sites}
    stopped = time.monotonic()
    down([lab.server(server)])
    try:
        notice, _ = box.wait_for(
            lambda m: m.subject.startswith("[ALERTE / FIRING]")
            and "KoumbitServerDown" in m.subject and server in m.subject,
            60 + SCRAPE_INTERVAL_SECONDS * 2 + MAIL_DEADLINE, after=mark)
        mailed = time.monotonic() - stopped
        assert notice.subject == f"[ALERTE / FIRING] {server} : KoumbitServerDown"
        assert notice.body.index(f"serveur {server} : 1 en cours") < notice.body.index(
            f"server {server}: 1 firing")
        site_down = (f'ALERTS{{alertname="KoumbitSiteDown",server="{server}",'
                     'alertstate="firing"}')
        fired = poll(lambda: len(query(lab, site_down)) == len(sites), FIRING_DEADLINE)
        assert fired is not None, query(lab, site_down)
        # Alertmanager has them, held back by the server's alert.
        def held() -> bool:
            found = api(lab, "GET", "/api/v2/alerts?filter=alertname%3D%22KoumbitSiteDown%22")
            mine = [a for a in found if a["labels"].get("server") == server]
            return len(mine) == len(sites) and all(
                a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]
                for a in mine)

        assert poll(held, 60) is not None, api(lab, "GET", "/api/v2/alerts")
        # A new group started now notifies a whole group wait after theirs could have.
        run = f"barrier-{time.time_ns()}"
        barrier = Pushed(lab)
        barrier.fire(({"alertname": "KoumbitLabTestBarrier", "severity": "warning",
                       "concern": "capacity", "server": MONITOR, "run": run},
                      f"Barrière ({run}) / barrier ({run})"),)
        try:
            box.wait_for(lambda m: "KoumbitLabTestBarrier" in m.subject and run in m.body,
                         MAIL_DEADLINE, after=mark)
        finally:
            barrier.resolve()
        came = box.messages(after=mark)
        about_sites = [m.subject for m in came
                       if ("KoumbitSiteDown" in m.subject
                           or any(f"site {d}" in m.subject for d in sites))
                       and not (alert_names(m.body) and alert_names(m.body) <= already)]
        assert about_sites == [], about_sites
        server_notices = [m.subject for m in came if "KoumbitServerDown" in m.subject]
        assert len(server_notices) == 1, server_notices
        print(f"\n{server} stopped: one server-down e-mail after {mailed:.0f} s; the"
              f" {len(sites)} site alerts fired in Prometheus and sent nothing")
    finally:
        up(lab.servers)
    back = poll(lambda: len(by_site(lab, up_expr)) >= len(sites), ALL_DEADLINE + 120)
    assert back is not None, query(lab, f'probe_success{{server="{server}"}}')


def _expiring_chain(served_leaf: x509.Certificate, days: float) -> tuple[bytes, int]:
    """A chain for the site's own key and names, valid ``days`` more, signed by the lab's
    Pebble intermediate (its management port hands out the key): it verifies as the real
    one does and only its end is near. Answers the PEM chain and the leaf's serial."""
    context = ssl.create_default_context(cafile=lab_trust())
    host, port = LAB_ENDPOINTS.management

    def get(path: str) -> bytes:
        with urllib.request.urlopen(f"https://{host}:{port}{path}",
                                    context=context, timeout=10) as answer:
            body: bytes = answer.read()
            return body

    intermediate = x509.load_pem_x509_certificate(get("/intermediates/0"))
    key = serialization.load_pem_private_key(get("/intermediate-keys/0"), password=None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    now = datetime.datetime.now(datetime.UTC)
    san = served_leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    leaf = (x509.CertificateBuilder()
            .subject_name(served_leaf.subject).issuer_name(intermediate.subject)
            .public_key(served_leaf.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, intermediate))
    return pem, leaf.serial_number


@contextmanager
def pool_stopped(lab: Lab, placed: PlacedSite) -> Iterator[None]:
    """The site's PHP-FPM pool stopped, as a crashed pool is; started again after."""
    server, name = placed.site.server, placed.site.system_name
    lab.run(server, f"sh -c {shlex.quote(f'. {SITE_LIB} && pool_stop {name}')}")
    try:
        yield
    finally:
        lab.run(server, f"sh -c {shlex.quote(f'. {SITE_LIB} && pool_start {name}')}")


@contextmanager
def certificate_ending(lab: Lab, inv: Inventory, site: SiteLayout, days: float) -> Iterator[int]:
    """``site`` serving a chain whose leaf ends in ``days`` (see _expiring_chain) until the
    block ends, then its certbot certificate again; yields the leaf's serial."""
    server = site.placed.site.server
    addr = str(inv.server(server).address)
    chain, serial = _expiring_chain(served(addr, site.domain).certificate, days)
    scratch = f"/root/koumbit-test-expiring/{site.name}"
    served_link = f"{site.cert_dir}/fullchain.pem"
    certbot_chain = lab.run(server, f"readlink {shlex.quote(served_link)}").strip()
    assert certbot_chain == f"/etc/letsencrypt/live/{site.name}/fullchain.pem"
    reload = "nginx -t -q && systemctl reload nginx"
    lab.run(server, f"install -d -m 700 {shlex.quote(scratch)} && cat > "
                    f"{shlex.quote(scratch)}/fullchain.pem <<'EOF'\n{chain.decode()}EOF")
    try:
        lab.run(server, f"ln -sfn {shlex.quote(scratch)}/fullchain.pem"
                        f" {shlex.quote(served_link)} && {reload}")
        now = served_once(addr, site.domain, lambda f: f.certificate.serial_number == serial)
        assert now.verified and now.certificate.serial_number == serial, now.output[-2000:]
        yield serial
    finally:
        lab.run(server, f"ln -sfn {shlex.quote(certbot_chain)} {shlex.quote(served_link)}"
                        f" && {reload} && rm -rf /root/koumbit-test-expiring")
    back = served_once(addr, site.domain, lambda f: f.certificate.serial_number != serial)
    assert back.verified and back.certificate.serial_number != serial


def firing(lab: Lab, alertname: str, site: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = query(
        lab, f'ALERTS{{alertname="{alertname}",site="{site}",alertstate="firing"}}')
    return found


def test_a_stopped_pool_and_a_certificate_near_its_end_each_fire_and_mail_their_site(
        deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    """Two faults at once, as a person meets them: a web2 site whose PHP-FPM pool stopped
    (KoumbitSiteDown, critical: the on-call address too) and a web1 site serving a
    certificate that ends in 10 days (KoumbitSiteCertificateExpiresSoon, warning: infra
    only). Each is probed, fires, and is mailed French first naming its site, client and
    server; both mended, each alert clears and its resolved notice comes."""
    down = _victim(inv)
    expiring = next(s for s in sorted(live_sites(inv), key=lambda s: s.domain)
                    if s.placed.site.server == "web1")
    site, client, server = down.site.domain, down.client.slug, down.site.server
    near = expiring.domain
    success = f'probe_success{{job="{SITES_JOB}",site="{site}"}}'
    days_left = f'(probe_ssl_earliest_cert_expiry{{job="{SITES_JOB}",site="{near}"}} - time())'
    assert poll(lambda: by_site(lab, success).get(site) == 1, ALL_DEADLINE) is not None
    assert poll(lambda: by_site(lab, f"{days_left} / 86400 > 14").get(near) is not None,
                ALL_DEADLINE) is not None, query(lab, days_left)
    box = LabMailbox(lab)
    mark = box.count()

    def notice(status: str, alertname: str, about: str) -> Callable[[Mail], bool]:
        return lambda m: (m.subject.startswith(status) and alertname in m.subject
                          and f"site {about}," in m.subject)

    with certificate_ending(lab, inv, expiring, days=10), pool_stopped(lab, down):
        stopped = time.monotonic()
        seen = poll(lambda: by_site(lab, success).get(site) == 0, SEEN_DEADLINE)
        assert seen is not None, query(lab, success)
        status = by_site(lab, f'probe_http_status_code{{job="{SITES_JOB}",site="{site}"}}')
        assert status[site] == 502, status  # nginx, with no PHP behind it
        pending = poll(lambda: alert_state(lab, site) is not None, SEEN_DEADLINE)
        assert pending is not None, query(lab, f'ALERTS{{site="{site}"}}')
        fired = poll(lambda: alert_state(lab, site) == "firing",
                     FIRING_DEADLINE - (time.monotonic() - stopped))
        assert fired is not None, query(lab, f'ALERTS{{site="{site}"}}')
        total = time.monotonic() - stopped
        labels = firing(lab, "KoumbitSiteDown", site)[0]["metric"]
        assert (labels["concern"], labels["severity"]) == ("sites", "critical")
        assert (labels["client"], labels["server"]) == (client, server)
        # The team hears it: an e-mail in the lab mailbox that names the site, French first.
        mail, _ = box.wait_for(notice("[ALERTE / FIRING]", "KoumbitSiteDown", site),
                               MAIL_DEADLINE, after=mark)
        mailed = time.monotonic() - stopped
        assert mail.subject == (f"[ALERTE / FIRING] site {site}, client {client}, {server} :"
                                " KoumbitSiteDown")
        assert "astreinte@koumbit-lab.test" in mail.to  # critical, about a site: on call
        assert mail.body.index(f"Alertes en cours, site {site} (client {client}) sur le"
                               f" serveur {server}") < mail.body.index(
            f"Firing alerts, site {site} (client {client}) on server {server}")
        assert f"\n  Site : {site}\n  Client : {client}\n  Serveur / server : {server}\n" in (
            mail.body)
        print(f"\n{site}: pool stopped; probe down in Prometheus after {seen:.0f} s, alert"
              f" pending after {seen + pending:.0f} s, firing after {total:.0f} s, e-mail in"
              f" the mailbox after {mailed:.0f} s (for: {SITE_DOWN_FOR} s, probes every"
              f" {SITE_INTERVAL_SECONDS} s)")
        # Meanwhile the certificate's end: its own alert, its own (warning) e-mail.
        assert poll(lambda: bool(firing(lab, "KoumbitSiteCertificateExpiresSoon", near)),
                    SEEN_DEADLINE + 120) is not None, query(lab, f'ALERTS{{site="{near}"}}')
        cert_labels = firing(lab, "KoumbitSiteCertificateExpiresSoon", near)[0]["metric"]
        assert (cert_labels["client"], cert_labels["server"], cert_labels["severity"]) == (
            expiring.placed.client.slug, "web1", "warning")
        cert_mail, _ = box.wait_for(
            notice("[ALERTE / FIRING]", "KoumbitSiteCertificateExpiresSoon", near),
            MAIL_DEADLINE, after=mark)
        assert cert_mail.to == "infra@koumbit-lab.test"  # a warning: the first receiver only
        assert f"Site : {near}" in cert_mail.body and "Le certificat de" in cert_mail.body
        assert site not in cert_mail.subject and near not in mail.subject
        print(f"{near}: a certificate ending in 10 days served; its e-mail came"
              f" {time.monotonic() - stopped:.0f} s after the swap")
        mark = box.count()
    back = poll(lambda: by_site(lab, success).get(site) == 1, SEEN_DEADLINE)
    assert back is not None, f"{site} still down after its pool started again"
    cleared = poll(lambda: alert_state(lab, site) is None and not query(
        lab, f'ALERTS{{alertname="KoumbitSiteCertificateExpiresSoon",site="{near}"}}'),
        SCRAPE_INTERVAL_SECONDS * 4 + SEEN_DEADLINE)
    assert cleared is not None, query(lab, "ALERTS")
    resolved, after = box.wait_for(notice("[RÉSOLU / RESOLVED]", "KoumbitSiteDown", site),
                                   RESOLVED_MAIL_DEADLINE, after=mark)
    assert resolved.body.index("Alertes résolues") < resolved.body.index("Resolved alerts")
    assert "Résolue / resolved : " in resolved.body
    box.wait_for(notice("[RÉSOLU / RESOLVED]", "KoumbitSiteCertificateExpiresSoon", near),
                 RESOLVED_MAIL_DEADLINE, after=mark)
    print(f"{site}: resolved notice in the mailbox {after:.0f} s after the alerts cleared")
