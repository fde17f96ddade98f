"""TLS certificates: certbot against an ACME server, Let's Encrypt in production and the
lab's Pebble in the lab (the same code; only the directory URL and the trusted CAs differ).

certbot keeps each site's lineage under ``/etc/letsencrypt/live/<name>/``; vhosts read
it through ``cert_dir(name)``, links that ``koumbit-certificate`` makes once certbot has
issued, so a vhost never names certbot's folders.
"""

from __future__ import annotations

TLS_ROOT = "/etc/koumbit/tls"
# Where the lab's own CA was trusted before the lab ran Pebble: removed by the tls deploy.
LEGACY_LAB_CA_TRUST_PATH = "/usr/local/share/ca-certificates/koumbit-lab-ca.crt"


def cert_dir(name: str) -> str:
    """Folder holding ``fullchain.pem`` and ``privkey.pem`` of certificate ``name``."""
    return f"{TLS_ROOT}/{name}"
