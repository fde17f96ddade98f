"""Unix uids of the sites' users, looked up once per refresh."""

from __future__ import annotations

import pwd
from collections.abc import Callable, Iterable

UserTable = Callable[[], dict[str, int]]


def system_users() -> dict[str, int]:
    """Every user name with its uid, in one pass over the user database.

    One getpwall() is O(users); getpwnam() per site would read /etc/passwd
    once per site, which at thousands of sites is quadratic.
    """
    return {entry.pw_name: entry.pw_uid for entry in pwd.getpwall()}


def uids_of(names: Iterable[str], table: UserTable) -> dict[int, str]:
    """uid -> user name, for the names that exist (a site not yet deployed has none)."""
    users = table()
    return {users[name]: name for name in names if name in users}
