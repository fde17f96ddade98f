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
# A staging copy's password: typed by people, so shorter (24 letters and digits: 142 bits).
PASSWORD_LENGTH = 24
# Whoever reads an HTTP basic auth file (nginx's workers).
WEB_GROUP = "www-data"


def _random(length: int) -> str:
    """Shell for ``length`` random letters and digits: safe unquoted in INI, in SQL and in
    PHP strings."""
    return f"$(tr -dc A-Za-z0-9 </dev/urandom | head -c {length})"


def generate_command(path: str, group: str) -> str:
    """Shell that writes a fresh secret file at ``path`` (INI, ``key=value``), atomically."""
    tmp = shlex.quote(f"{path}.new")
    value = _random(SECRET_LENGTH)
    lines = "; ".join(f'echo "{key}={value}"' for key in SECRET_KEYS)
    return (f"umask 077 && {{ {lines}; }} > {tmp} && chgrp {shlex.quote(group)} {tmp}"
            f" && chmod 640 {tmp} && mv {tmp} {shlex.quote(path)}")


def read_key_shell(path: str, key: str) -> str:
    """Shell that prints ``key``'s value, for a pipe (never for an argument)."""
    return f"sed -n 's/^{key}=//p' {shlex.quote(path)}"


def htpasswd_command(path: str, user: str, *, show: bool) -> str:
    """Shell that writes an HTTP basic auth file at ``path`` for ``user`` with a fresh random
    password, atomically (root:www-data 0640, its folder made if missing).

    Only the password's SHA-512 crypt hash is written (``openssl passwd -6``, fed by a
    shell builtin: the password is on no command line). With ``show`` the password is
    printed once, as ``password=...``, for the person who asked; it is kept nowhere.
    """
    tmp, dest = shlex.quote(f"{path}.new"), shlex.quote(path)
    folder = shlex.quote(path.rsplit("/", 1)[0])
    made = (f"umask 077 && mkdir -p -m 755 {folder} && pw={_random(PASSWORD_LENGTH)}"
            f" && [ ${{#pw}} -eq {PASSWORD_LENGTH} ]"
            f" && hash=$(printf '%s\\n' \"$pw\" | openssl passwd -6 -stdin)"
            f" && case \"$hash\" in '$6$'*) ;; *) false;; esac"
            f" && printf '%s:%s\\n' {shlex.quote(user)} \"$hash\" > {tmp}"
            f" && chgrp {WEB_GROUP} {tmp} && chmod 640 {tmp} && mv {tmp} {dest}")
    return made + (" && printf 'password=%s\\n' \"$pw\"" if show else "")
