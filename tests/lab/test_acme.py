"""Certificates from the lab's Pebble through certbot, as production gets Let's Encrypt's:
every site's chain checked from the host against Pebble's roots, nothing asked again
on a second deploy, a forced renewal served through certbot's deploy hook, a renewal
whose reload never came served by the next deploy, an alias added in a scratch copy of
the lab inventory named by a new certificate, and a challenge that cannot be answered
failing the deploy with the site named and the metric set.

Every test leaves the lab as the session's deploy left it (the committed inventory
deployed again where a test changed it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from deploy_fixture import Deployment, Run, deployed, lab_trust, timed_json

from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory, SiteState
from koumbit_infra.sites.files import layouts
from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.variant import Clients, write_variant
from koumbit_infra.tls.certbot import SCRIPT, TEXTFILE

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = "https://10.77.0.1:14000/dir"
SITE, SERVER = "centre-femmes.test", "web1"  # a WordPress site on Debian 12
RENEWED = "erables.test"  # and one with an alias, on the same server


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_env("lab")


def live_sites(inv: Inventory) -> list[SiteLayout]:
    return [s for srv in inv.servers for s in layouts(inv, srv)
            if s.state is not SiteState.ABSENT and s.tls]


def layout(inv: Inventory, domain: str) -> SiteLayout:
    return next(s for s in live_sites(inv) if s.domain == domain)


@dataclass(frozen=True)
class Served:
    """What a client meets at ``address:443`` asking for ``name`` (SNI)."""

    verified: bool  # openssl s_client -verify_return_error against the lab's trust only
    certificate: x509.Certificate
    output: str

    @property
    def names(self) -> set[str]:
        san = self.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return set(san.value.get_values_for_type(x509.DNSName))

    @property
    def issuer(self) -> str:
        return self.certificate.issuer.rfc4514_string()


def served(address: str, name: str) -> Served:
    done = subprocess.run(
        ["openssl", "s_client", "-connect", f"{address}:443", "-servername", name,
         "-verify_return_error", "-CAfile", lab_trust()],
        input="", capture_output=True, text=True, timeout=30, check=False)
    leaf = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", done.stdout,
                     re.DOTALL)
    assert leaf, f"{name} at {address}: no certificate\n{done.stdout}{done.stderr}"
    verified = done.returncode == 0 and "Verify return code: 0 (ok)" in done.stdout
    return Served(verified, x509.load_pem_x509_certificate(leaf[0].encode()),
                  done.stdout + done.stderr)


def served_once(address: str, name: str, ok: Callable[[Served], bool],
                timeout: float = 20) -> Served:
    """What is served once ``ok`` holds (or at the deadline): a reload signals nginx and
    returns, and an old worker may answer for a moment after."""
    deadline = time.monotonic() + timeout
    found = served(address, name)
    while not ok(found) and time.monotonic() < deadline:
        time.sleep(0.5)
        found = served(address, name)
    return found


def address(inv: Inventory, server: str) -> str:
    return str(inv.server(server).address)


def live_serial(lab: Lab, site: SiteLayout) -> int:
    out = lab.run(site.placed.site.server,
                  f"openssl x509 -noout -serial -in /etc/letsencrypt/live/{site.name}/cert.pem")
    return int(out.strip().removeprefix("serial="), 16)


def certbot_serials(lab: Lab, server: str) -> dict[str, str]:
    """certbot's own list: certificate name -> serial."""
    out = lab.run(server, "certbot certificates 2>/dev/null")
    return dict(re.findall(r"Certificate Name: (\S+)\n\s+Serial Number: (\S+)", out))


def sites_deploy(env_file: Path, server: str = SERVER) -> Run:
    """deploys/sites.py alone on one server (the committed inventory, or a scratch copy)."""
    pyinfra = str(Path(sys.executable).with_name("pyinfra"))
    return timed_json([pyinfra, "-y", str(env_file), "deploys/sites.py", "--limit", server,
                       "--json"], timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})


COMMITTED = ROOT / "inventory" / "lab.py"


def with_alias(alias: str, base: Path) -> Path:
    """A scratch copy of the lab inventory under ``base`` in which SITE has ``alias`` too;
    answers its pyinfra inventory file."""
    def edit(clients: Clients) -> None:
        for client in clients.values():
            for site in client.get("sites", []):
                if site["domain"] == SITE:
                    site["aliases"] = [*site.get("aliases", []), alias]
    return write_variant(ROOT / "inventory" / "lab", base, edit)


def issued(run: Run, domain: str) -> bool:
    return f"Sites | {domain}: certificate from 10.77.0.1:14000" in run.changed_operations()


def test_every_site_serves_a_chain_from_pebble_that_verifies_from_the_host(
        deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    sites = live_sites(inv)
    assert len(sites) >= 6
    for site in sites:
        server = site.placed.site.server
        for name in site.placed.site.all_domains:
            found = served(address(inv, server), name)
            assert found.verified, f"{name}\n{found.output[-2000:]}"
            assert found.issuer.startswith("CN=Pebble Intermediate CA"), (name, found.issuer)
            assert found.names == set(site.placed.site.all_domains), name
        # certbot's own lineage, got through HTTP-01 (webroot) from the lab's Pebble.
        conf = lab.run(server, f"cat /etc/letsencrypt/renewal/{site.name}.conf")
        assert f"server = {DIRECTORY}" in conf and "authenticator = webroot" in conf
        assert lab.run(server, f"readlink {site.cert_dir}/fullchain.pem").strip() == (
            f"/etc/letsencrypt/live/{site.name}/fullchain.pem")


def test_a_second_deploy_asks_pebble_for_nothing(deployed: Deployment, lab: Lab,
                                                  inv: Inventory) -> None:
    assert not [op for op in deployed.second.changed_operations() if "certificate from" in op]
    web = sorted({s.placed.site.server for s in live_sites(inv)})
    before = {server: certbot_serials(lab, server) for server in web}
    for server in web:
        run = sites_deploy(COMMITTED, server)
        assert run.returncode == 0, run.output[-3000:]
        assert run.changed() == [], server
    assert {server: certbot_serials(lab, server) for server in web} == before
    assert all(before.values())


def test_renewals_run_from_certbots_own_timer_through_koumbit_certificate(
        deployed: Deployment, lab: Lab) -> None:
    assert lab.run(SERVER, "systemctl is-enabled certbot.timer").strip() == "enabled"
    assert f"ExecStart={SCRIPT} renew" in lab.run(SERVER, "systemctl cat certbot.service")
    lab.run(SERVER, "systemctl start certbot.service", timeout=600)  # nothing is due
    metrics = lab.run(SERVER, f"cat {TEXTFILE}")
    assert re.search(r'^koumbit_certificate_renewal_last_run_timestamp_seconds\{server="web1"\}'
                     r" \d+$", metrics, re.MULTILINE)
    assert f'koumbit_certificate_renewal_failed{{server="web1",site="{SITE}"}} 0' in metrics


def test_a_forced_renewal_is_served_once_certbot_has_run_its_hook(
        deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    site = layout(inv, RENEWED)
    before = served(address(inv, SERVER), RENEWED).certificate.serial_number
    assert before == live_serial(lab, site)
    # Through koumbit-certificate, as certbot.timer runs it: it also registers a new
    # account if Pebble restarted since this certificate (plain certbot would fail then).
    lab.run(SERVER, f"{SCRIPT} renew --force-renewal --cert-name {site.name}", timeout=600)
    after = live_serial(lab, site)
    assert after != before
    now = served_once(address(inv, SERVER), RENEWED,
                      lambda found: found.certificate.serial_number == after)
    assert now.verified and now.certificate.serial_number == after
    expiry = int(now.certificate.not_valid_after_utc.timestamp())
    assert (f'koumbit_certificate_expiry_timestamp_seconds{{server="web1",site="{RENEWED}"}}'
            f" {expiry}") in lab.run(SERVER, f"cat {TEXTFILE}")


def test_a_renewal_whose_reload_never_came_is_served_by_the_next_deploy(
        deployed: Deployment, lab: Lab, inv: Inventory) -> None:
    site = layout(inv, RENEWED)
    before = served(address(inv, SERVER), RENEWED).certificate.serial_number
    # As a renewal cut off between certbot writing the certificate and its hook
    # reloading nginx: renewed without the hooks.
    lab.run(SERVER, f"{SCRIPT} renew --force-renewal --cert-name {site.name}"
                    " --no-directory-hooks", timeout=600)
    renewed = live_serial(lab, site)
    assert renewed != before
    assert served(address(inv, SERVER), RENEWED).certificate.serial_number == before
    run = sites_deploy(COMMITTED)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed_operations() == ["Sites | Sites: nginx serves the certificates renewed"
                                        " since"]
    now = served_once(address(inv, SERVER), RENEWED,
                      lambda found: found.certificate.serial_number == renewed)
    assert now.certificate.serial_number == renewed
    assert sites_deploy(COMMITTED).changed() == []


@contextmanager
def restored(lab: Lab) -> Iterator[None]:
    """Whatever the test did to SITE, the committed inventory deployed again after it."""
    try:
        yield
    finally:
        run = sites_deploy(COMMITTED)
        assert run.returncode == 0, run.output[-3000:]


def test_an_alias_added_gets_a_certificate_that_names_it(
        deployed: Deployment, lab: Lab, inv: Inventory,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    alias = f"ancien.{SITE}"
    scratch = with_alias(alias, tmp_path_factory.mktemp("alias"))
    with restored(lab):
        run = sites_deploy(scratch)
        assert run.returncode == 0, run.output[-3000:]
        assert issued(run, SITE)
        found = served_once(address(inv, SERVER), alias,
                            lambda found: found.names == {SITE, alias})
        assert found.verified and found.names == {SITE, alias}
        assert sites_deploy(scratch).changed() == []  # and asked once only
    # Back to the committed inventory: a certificate without the alias.
    assert served_once(address(inv, SERVER), SITE,
                       lambda found: found.names == {SITE}).names == {SITE}


def test_a_challenge_nobody_answers_fails_the_deploy_with_the_site_named(
        deployed: Deployment, lab: Lab, inv: Inventory,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    alias = f"panne.{SITE}"
    scratch = with_alias(alias, tmp_path_factory.mktemp("refused"))
    before = served(address(inv, SERVER), SITE).certificate.serial_number
    # Pebble (on the host) can no longer reach web1's port 80.
    block = ("nft add table inet acmetest && nft add chain inet acmetest input"
             " '{ type filter hook input priority -10; }' && nft add rule inet acmetest input"
             " ip saddr 10.77.0.1 tcp dport 80 reject with tcp reset")
    with restored(lab):
        try:
            lab.run(SERVER, block)
            run = sites_deploy(scratch)
        finally:
            lab.run(SERVER, "nft delete table inet acmetest 2>/dev/null || true")
        assert run.returncode != 0
        assert f"Sites | {SITE}: certificate from 10.77.0.1:14000: web1" in run.errors()
        assert f"koumbit-certificate: {SITE}: no certificate from {DIRECTORY}" in run.output
        assert alias in run.output  # certbot's own lines say which name failed
        assert (f'koumbit_certificate_renewal_failed{{server="web1",site="{SITE}"}} 1'
                in lab.run(SERVER, f"cat {TEXTFILE}"))
        # The site keeps serving the certificate it had.
        still = served(address(inv, SERVER), SITE)
        assert still.verified and still.certificate.serial_number == before
    assert (f'koumbit_certificate_renewal_failed{{server="web1",site="{SITE}"}} 0'
            in lab.run(SERVER, f"cat {TEXTFILE}"))
