"""TLS: what every server needs to trust, and certificates for the sites.

Production trusts the public CAs and gets certificates from Let's Encrypt
with certbot (HTTP-01 through the default server's ACME location); the lab
trusts its own CA, made on the host, which signs the servers' CSRs instead.
Runnable alone: ``pyinfra inventory/lab.py deploys/tls.py``.
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api.deploy import deploy
from pyinfra.operations import files, server

from koumbit_infra.converge import converge, need
from koumbit_infra.deploykit import current
from koumbit_infra.inventory import Role
from koumbit_infra.inventory.models import CertificateAuthority
from koumbit_infra.operations import packages
from koumbit_infra.operations import tls as tls_ops
from koumbit_infra.tls import LAB_CA_TRUST_PATH, TLS_ROOT


@deploy("TLS: trust and tools")
def tls() -> None:
    inv, srv = current()
    need(packages.installed, name="TLS packages", packages=["ca-certificates", "openssl"])
    need(files.directory, name="TLS: certificates folder", path=TLS_ROOT, user="root",
         group="root", mode="755")
    if srv.has(Role.WEB):
        # The lab installs certbot too, so the production tool is at least present.
        need(packages.installed, name="certbot package", packages=["certbot"])
    if inv.settings.certificate_authority is CertificateAuthority.LAB:
        from koumbit_infra.tls.labca import lab_ca

        root = need(files.put, name="TLS: lab root CA installed",
                    src=StringIO(lab_ca().cert_pem()), dest=LAB_CA_TRUST_PATH, user="root",
                    group="root", mode="644")
        if root is not None:
            need(server.shell, name="TLS: lab root CA trusted",
                 commands=["update-ca-certificates"], _if=root.did_change)


@deploy("TLS: certificate")
def certificate(cert_name: str, domains: list[str]) -> None:
    """A certificate ``cert_name`` for ``domains``, in ``koumbit_infra.tls.cert_dir(cert_name)``.

    For the sites deploy: call it once per site with the site's domains.
    """
    inv, _ = current()
    need(tls_ops.issued, name=f"TLS: certificate {cert_name}", cert_name=cert_name, domains=domains,
                   authority=inv.settings.certificate_authority, email=inv.settings.admin_email)


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(tls)
