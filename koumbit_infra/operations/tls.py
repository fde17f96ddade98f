"""Certificates issued to a server: certbot in production, the lab CA in the lab.

Both end with ``fullchain.pem`` and ``privkey.pem`` in ``cert_dir(name)``; the
private key is made on the server in both cases and never leaves it.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator
from io import StringIO

from pyinfra.api.command import FunctionCommand, PyinfraCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.api.host import Host
from pyinfra.api.operation import operation
from pyinfra.api.state import State
from pyinfra.context import host

from koumbit_infra.facts.tls import Certificate
from koumbit_infra.inventory.models import CertificateAuthority
from koumbit_infra.tls import cert_dir

ACME_WEBROOT = "/var/www/letsencrypt"


def _sign_with_lab_ca(state: State, host: Host, name: str, domains: tuple[str, ...]) -> bool:
    """Fetch a CSR made on the server with its own key, sign it here, upload the chain."""
    from koumbit_infra.tls.labca import lab_ca

    folder = cert_dir(name)
    ok, output = host.run_shell_command(
        f"openssl req -new -key {folder}/privkey.pem -subj /CN={shlex.quote(domains[0])}")
    if not ok:
        raise OperationError(f"{name}: the server could not make a CSR")
    chain = lab_ca().sign(output.stdout + "\n", domains)
    return bool(host.put_file(StringIO(chain), f"{folder}/fullchain.pem"))


@operation()
def issued(cert_name: str, domains: list[str], authority: CertificateAuthority,
           email: str) -> Generator[PyinfraCommand | str, None, None]:
    """A fresh certificate for exactly ``domains`` under ``cert_dir(cert_name)``."""
    name = cert_name
    folder = cert_dir(name)
    current = host.get_fact(Certificate, path=f"{folder}/fullchain.pem")
    if current is not None and current.fresh and current.domains == frozenset(domains):
        return
    if authority is CertificateAuthority.LAB:
        yield (f"umask 077 && mkdir -p {folder} && ( [ -s {folder}/privkey.pem ] ||"
               f" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
               f" -out {folder}/privkey.pem )")
        yield FunctionCommand(_sign_with_lab_ca, (name, tuple(domains)), {})
        yield f"chmod 644 {folder}/fullchain.pem"
        return
    names = " ".join(f"-d {shlex.quote(d)}" for d in domains)
    yield (f"certbot certonly --non-interactive --agree-tos -m {shlex.quote(email)}"
           f" --webroot -w {ACME_WEBROOT} --cert-name {shlex.quote(name)} {names}"
           " --keep-until-expiring --expand")
    live = f"/etc/letsencrypt/live/{name}"
    yield (f"mkdir -p {folder} && ln -sfn {live}/fullchain.pem {folder}/fullchain.pem"
           f" && ln -sfn {live}/privkey.pem {folder}/privkey.pem")
