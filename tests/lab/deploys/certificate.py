"""A lab test's deploy: a certificate for the web server's own test name, through
deploys/tls.py's ``certificate`` (the call the sites deploy makes per site)."""

from pyinfra import host

from deploys.tls import certificate

certificate(cert_name=f"{host.name}-selftest", domains=[f"{host.name}.koumbit-lab.test"])
