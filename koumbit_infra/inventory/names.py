"""System names derived from a site's domain: Unix user, database, pool.

One name serves as Unix user, PHP-FPM pool, MariaDB database and MariaDB user.
It must be:
- valid everywhere: Debian's adduser accepts ``[a-z][a-z0-9_]*``; Linux caps
  user names at 32 characters, MariaDB database names at 64 and user names at
  80, so 32 is the binding limit;
- stable: it depends on the domain alone, never on the other sites, so adding
  a site never renames an existing one;
- collision-free: a readable prefix of the domain plus 8 hex digits of its
  SHA-256 (32 bits: for 5,000 sites the chance that two share both prefix and
  hash is below 0.3 %, and the inventory still rejects any clash it finds);
- never a system account: it always ends in ``_`` and 8 hex digits, a shape no
  account of Debian, of the packages the deploys install, nor an admin's login
  (no ``_`` allowed there) ever has.

Admins' logins, on the other hand, are chosen by people: one named like a
system account (root, www-data, mysql ...) would take over that account's
home, group or keys, so :func:`is_system_account` refuses them.
"""

from __future__ import annotations

import hashlib
import re

MAX_SYSTEM_NAME = 32
_HASH_HEX = 8
_PREFIX_MAX = MAX_SYSTEM_NAME - _HASH_HEX - 1
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")

SYSTEM_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")

# Debian 12's base-passwd users and groups, the accounts of the packages the
# deploys install, and the groups the deploys create.
SYSTEM_ACCOUNTS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "nogroup", "adm", "tty",
    "disk", "kmem", "dialout", "fax", "voice", "cdrom", "floppy", "tape", "sudo", "audio",
    "dip", "operator", "src", "shadow", "utmp", "video", "sasl", "plugdev", "staff", "users",
    "input", "sgx", "kvm", "render", "netdev", "crontab", "messagebus", "sshd", "mysql",
    "prometheus", "postfix", "postdrop", "ssl-cert", "polkitd", "tss", "uuidd", "tcpdump",
    "alertes",  # the monitoring servers' local mailbox (koumbit_infra/monitoring/mail.py)
})
# Account families: systemd's own, the backups' SFTP accounts, the toolkit's.
SYSTEM_PREFIXES = ("systemd-", "restic-", "koumbit-")


def is_system_account(name: str) -> bool:
    """Whether ``name`` is, or could become, an account the system or the deploys own."""
    return name in SYSTEM_ACCOUNTS or name.startswith(SYSTEM_PREFIXES)


def system_name(domain: str) -> str:
    """The Unix user / database / pool name of the site served at ``domain``."""
    domain = domain.lower()
    digest = hashlib.sha256(domain.encode("ascii")).hexdigest()[:_HASH_HEX]
    prefix = _NOT_ALNUM.sub("_", domain).strip("_")
    if not prefix or not prefix[0].isalpha():
        prefix = "s" + prefix
    prefix = prefix[:_PREFIX_MAX].rstrip("_")
    return f"{prefix}_{digest}"
