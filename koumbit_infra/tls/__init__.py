"""TLS certificates: Let's Encrypt (certbot) in production, the lab's own CA in the lab.

Both write a site's certificate where its vhost reads it, ``cert_dir(name)``,
so vhosts are the same in both environments.
"""

from __future__ import annotations

TLS_ROOT = "/etc/koumbit/tls"
LAB_CA_TRUST_PATH = "/usr/local/share/ca-certificates/koumbit-lab-ca.crt"


def cert_dir(name: str) -> str:
    """Folder holding ``fullchain.pem`` and ``privkey.pem`` of certificate ``name``."""
    return f"{TLS_ROOT}/{name}"
