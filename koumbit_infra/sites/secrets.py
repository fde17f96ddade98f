"""The secrets of a site: which keys its secret file holds, and the command making it.

The file is made on the server from /dev/urandom, under a 077 umask, then
given to group <site> with mode 0640: root writes it, the site's PHP reads it,
no other site can. Neither the values nor anything derived from them is ever
on a command line, in pyinfra's output, or in git.
"""

from __future__ import annotations

import shlex

WP_SALT_KEYS = ("auth_key", "secure_auth_key", "logged_in_key", "nonce_key",
                "auth_salt", "secure_auth_salt", "logged_in_salt", "nonce_salt")
# Every site gets every key, so a site can change CMS without a new secret file.
SECRET_KEYS = ("db_password", "hash_salt", *WP_SALT_KEYS)
SECRET_LENGTH = 48


def generate_command(path: str, group: str) -> str:
    """Shell that writes a fresh secret file at ``path`` (INI, ``key=value``), atomically."""
    tmp = shlex.quote(f"{path}.new")
    # Letters and digits only: safe unquoted in INI, in SQL and in PHP strings.
    value = f"$(tr -dc A-Za-z0-9 </dev/urandom | head -c {SECRET_LENGTH})"
    lines = "; ".join(f'echo "{key}={value}"' for key in SECRET_KEYS)
    return (f"umask 077 && {{ {lines}; }} > {tmp} && chgrp {shlex.quote(group)} {tmp}"
            f" && chmod 640 {tmp} && mv {tmp} {shlex.quote(path)}")


def read_key_shell(path: str, key: str) -> str:
    """Shell that prints ``key``'s value, for a pipe (never for an argument)."""
    return f"sed -n 's/^{key}=//p' {shlex.quote(path)}"
