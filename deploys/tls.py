"""TLS: the CAs every server trusts, and certbot on the web servers.

Lab and production run the same code; only two inventory values differ: the ACME
directory certbot asks (Let's Encrypt, or the lab's Pebble) and the CAs the servers
trust besides Debian's (none, or Pebble's: ``acme_ca_bundle``). The sites deploy asks
certbot for each site's certificate (HTTP-01 through the ACME location of nginx);
Debian's certbot.timer renews them and certbot's deploy hook reloads nginx
(koumbit_infra/tls/certbot.py).
Runnable alone: ``pyinfra inventory/lab.py deploys/tls.py``.
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api.deploy import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.files import FindFiles
from pyinfra.operations import files, systemd

from koumbit_infra.converge import converge, need, ran
from koumbit_infra.deploykit import current, write_all
from koumbit_infra.inventory import Inventory
from koumbit_infra.operations import packages, services
from koumbit_infra.operations import tls as tls_ops
from koumbit_infra.serverconf.certificates import certificate_files
from koumbit_infra.tls import LEGACY_LAB_CA_TRUST_PATH, TLS_ROOT
from koumbit_infra.tls.certbot import STATE_DIR
from koumbit_infra.tls.trust import PREFIX, TRUST_DIR, TrustBundleError, bundle_certificates


def _trust(inv: Inventory) -> None:
    """The bundle's CAs in the trust store, one file each; files of CAs it no longer
    holds (and the lab's former CA) removed."""
    try:
        wanted = bundle_certificates(inv.settings.acme_ca_bundle)
    except TrustBundleError as exc:
        raise DeployError(exc.message) from None
    changed: list[OperationMeta | None] = [
        need(files.put, name=f"TLS: trusted {cert.subject}", src=StringIO(cert.pem),
             dest=cert.file, user="root", group="root", mode="644")
        for cert in host.loop(list(wanted))]
    present = host.get_fact(FindFiles, path=TRUST_DIR, maxdepth=1, fname=f"{PREFIX}*.crt") or []
    keep = {cert.file for cert in wanted}
    stale = sorted({*(p for p in present if p not in keep), LEGACY_LAB_CA_TRUST_PATH})
    changed += [need(files.file, name=f"TLS: {path} no longer trusted", path=path,
                     present=False) for path in host.loop(stale)]
    need(tls_ops.trust_updated, name="TLS: trust store updated", changes=ran(*changed))


@deploy("TLS: trust and certbot")
def tls() -> None:
    inv, srv = current()
    need(packages.installed, name="TLS packages", packages=["ca-certificates", "openssl"])
    need(files.directory, name="TLS: certificates folder", path=TLS_ROOT, user="root",
         group="root", mode="755")
    _trust(inv)
    cfgs = certificate_files(inv, srv)
    if not cfgs:
        return
    need(packages.installed, name="certbot package", packages=["certbot"])
    need(files.directory, name="certbot: koumbit-certificate's state", path=STATE_DIR,
         user="root", group="root", mode="700")
    written = write_all(cfgs)
    need(services.units_loaded, name="certbot: systemd reload", units=["certbot.service"],
         changes=ran(*written))
    # Debian's timer, twice a day: certbot.service runs koumbit-certificate renew (the
    # drop-in written above).
    need(systemd.service, name="certbot: renewal timer", service="certbot.timer",
         running=True, enabled=True)


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(tls)
