"""drush, run the one way every Drupal step runs it: install, cron, ``updatedb``,
``cache:rebuild`` and anything else.

It is the site's own ``vendor/bin/drush`` (its composer project's, so its version goes with
its Drupal), run by the site's PHP (the pool's version, not whatever ``php`` is the
server's default), as the site's own user, in its code folder, with its pool's limits, its
tmp and its address (:attr:`SiteLayout.cli_env`). drush reads the database from the
deploy's settings.php: no password, no ``--db-url`` on any command line, and never root.

Callers: the sites deploy (``drush site:install``), the site's cron timer (``drush cron``,
rendered from :func:`drush_argv`), a copy told its address (``cache:rebuild``) and
``site update`` (``updatedb``, ``cache:rebuild``).
"""

from __future__ import annotations

import shlex

from koumbit_infra.sites.layout import SiteLayout
from koumbit_infra.sites.runner import in_code
from koumbit_infra.sites.shell import locked

# Where composer puts drush's launcher in the site's project (web/ holds composer.json).
DRUSH = "vendor/bin/drush"
# Commands that hand their work to batch workers drush starts itself (one PHP process per
# batch, through proc_open): only these runs, which a person asks for, may start processes.
# The timer's cron and the site's PHP pool never can.
SPAWNING = frozenset({"updatedb", "updb", "deploy"})


def drush_path(site: SiteLayout) -> str:
    return f"{site.web}/{DRUSH}"


def drush_argv(site: SiteLayout, *args: str) -> list[str]:
    """The words that run ``drush ARGS`` for ``site``, its environment aside (the timer
    renders them into its unit; :func:`drush_line` runs them as the site)."""
    php = [site.php.cli]
    if args and args[0] in SPAWNING:
        allowed = [f for f in site.php_disabled_functions.split(",") if f != "proc_open"]
        php += ["-d", "disable_functions=" + ",".join(allowed)]
    return [*php, drush_path(site), f"--root={site.web}", *args]


def drush_line(site: SiteLayout, *args: str, missing_ok: bool = False) -> str:
    """Root's shell line running ``drush ARGS`` as the site, NOT under its lock: for a
    caller that already holds it (the deploy's steps, ``site update``'s script).

    ``missing_ok``: a site whose code has no drush (the lab's wiring site) succeeds
    without running anything; otherwise a missing drush fails the line.
    """
    command = shlex.join(drush_argv(site, *args))
    if missing_ok:
        command = f"test ! -e {shlex.quote(DRUSH)} || {command}"
    return in_code(site, command)


def drush_command(site: SiteLayout, *args: str, missing_ok: bool = False) -> str:
    """Root's shell line running ``drush ARGS`` as the site under the site's lock (waits
    for a command holding it, then fails naming the site): what ``site update`` calls for
    ``updatedb`` and ``cache:rebuild``."""
    return locked(site, drush_line(site, *args, missing_ok=missing_ok))
