"""The state of every site of a server, in one round trip whatever their number.

One shell command answers for all sites: owner, group, mode, type and SHA-256
of every managed path; which site users exist; which databases, database
users and installed CMS schemas MariaDB holds; which site timers are active.
Operations compare the inventory with this answer and send only what differs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api.facts import FactBase

# A CMS is installed when its own tables exist: WordPress's options table, or
# the table the Drupal wiring check creates (Drupal itself: its key_value table).
_INSTALLED_TABLES = ("wp_options", "key_value", "koumbit_wiring")


@dataclass(frozen=True)
class PathState:
    kind: str  # "f" regular file, "d" directory, "l" symbolic link
    owner: str
    group: str
    mode: str
    sha256: str = ""
    target: str = ""


@dataclass(frozen=True)
class SitesStateData:
    paths: dict[str, PathState] = field(default_factory=dict)
    users: frozenset[str] = frozenset()
    databases: frozenset[str] = frozenset()
    db_users: frozenset[str] = frozenset()
    installed: frozenset[str] = frozenset()
    timers_active: frozenset[str] = frozenset()
    mariadb: bool = False


def _sql_list(names: tuple[str, ...]) -> str:
    return ",".join(f"'{n}'" for n in names) or "''"


class SitesState(FactBase[SitesStateData]):
    """Everything the site operations decide on, for ``names`` and ``paths``.

    ``names`` are system names (``[a-z][a-z0-9_]*``), ``paths`` every file,
    directory and link the deploy manages; both come from the inventory.
    """

    def command(self, names: tuple[str, ...], paths: tuple[str, ...],
                timers: tuple[str, ...] = ()) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        users = " ".join(names)
        tables = _sql_list(_INSTALLED_TABLES)
        # Names are system names (the inventory's own pattern), not user input.
        query = (
            f"SELECT 'db', SCHEMA_NAME FROM information_schema.SCHEMATA"  # noqa: S608
            f" WHERE SCHEMA_NAME IN ({_sql_list(names)})"
            f" UNION ALL SELECT 'dbuser', User FROM mysql.user"
            f" WHERE Host = 'localhost' AND User IN ({_sql_list(names)})"
            f" UNION ALL SELECT DISTINCT 'installed', TABLE_SCHEMA FROM information_schema.TABLES"
            f" WHERE TABLE_NAME IN ({tables}) AND TABLE_SCHEMA IN ({_sql_list(names)})"
        )
        parts = [
            f"for p in {quoted}; do"
            " if [ -L \"$p\" ]; then echo \"L|$(stat -c '%U|%G|%a' \"$p\")|$(readlink \"$p\")|$p\";"
            " elif [ -f \"$p\" ]; then echo \"F|$(stat -c '%U|%G|%a' \"$p\")|"
            "$(sha256sum < \"$p\" | cut -c1-64)|$p\";"
            " elif [ -d \"$p\" ]; then echo \"D|$(stat -c '%U|%G|%a' \"$p\")||$p\"; fi; done"
            if paths else "true",
            f"getent passwd {users} | cut -d: -f1 | sed 's/^/U|/'" if names else "true",
            "if command -v mariadb >/dev/null; then echo M; "
            f"mariadb --batch --skip-column-names -e {shlex.quote(query)} 2>/dev/null"
            " | sed 's/\\t/|/; s/^/Q|/'; fi",
        ]
        if timers:
            parts.append(f"for t in {' '.join(timers)}; do"
                         " systemctl -q is-active \"$t\" && echo \"T|$t\"; done")
        return "; ".join(f"{{ {p}; }}" for p in parts) + "; true"

    def process(self, output: list[str]) -> SitesStateData:
        paths: dict[str, PathState] = {}
        users: set[str] = set()
        sql: dict[str, set[str]] = {"db": set(), "dbuser": set(), "installed": set()}
        timers: set[str] = set()
        mariadb = False
        for line in output:
            kind, _, rest = line.partition("|")
            if kind in ("F", "D", "L"):
                owner, group, mode, extra, path = rest.split("|", 4)
                paths[path] = PathState(
                    kind=kind.lower(), owner=owner, group=group, mode=mode.zfill(3),
                    sha256=extra if kind == "F" else "", target=extra if kind == "L" else "")
            elif kind == "U":
                users.add(rest.strip())
            elif kind == "M":
                mariadb = True
            elif kind == "Q":
                key, _, value = rest.partition("|")
                sql.setdefault(key, set()).add(value.strip())
            elif kind == "T":
                timers.add(rest.strip())
        return SitesStateData(paths=paths, users=frozenset(users),
                              databases=frozenset(sql["db"]), db_users=frozenset(sql["dbuser"]),
                              installed=frozenset(sql["installed"]),
                              timers_active=frozenset(timers), mariadb=mariadb)
