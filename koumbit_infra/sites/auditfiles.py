"""The files of the advisory audit on a web server: the program, its settings, its timer.

``koumbit-site-audit`` is ``koumbit_infra/advisories/siteaudit.py`` itself, written as a
root-only program (standard library only); its settings are the server's sites and the
inventory's ``settings.codebases``, as JSON. See siteaudit's docstring for what it does.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from koumbit_infra.advisories import siteaudit
from koumbit_infra.inventory import Inventory, Server, SiteState
from koumbit_infra.sites.layout import (
    AUDIT,
    AUDIT_CONFIG,
    AUDIT_WORK,
    LOCK_ROOT,
    SITE_STATE_ROOT,
    SITES_ROOT,
    STATE_ROOT,
    SiteLayout,
)

COMPOSER = "/usr/bin/composer"
# composer runs as this user: no site's, no file of its own; its folder is made for it.
COMPOSER_USER = "nobody"
PERIOD_HOURS = 6


def audit_settings(inv: Inventory, server: Server) -> str:
    """``/etc/koumbit/site-audit.json``: the sites to audit and where advisories come from.

    Every site that is not absent (a disabled one still holds its code), sorted by name.
    """
    sites = [SiteLayout.of(inv, p) for p in inv.sites_on(server.name)]
    source = inv.settings.codebases.wordpress_source
    data = {
        "sites": [{"name": s.name, "cms": s.cms.value, "php": s.php_version}
                  for s in sorted(sites, key=lambda s: s.name)
                  if s.state is not SiteState.ABSENT],
        "composer_repositories": list(inv.settings.codebases.composer_repositories),
        "wordpress_releases": f"{source.rstrip('/')}/releases.json" if source else None,
        "sites_root": SITES_ROOT, "state_root": SITE_STATE_ROOT, "lock_root": LOCK_ROOT,
        "work_root": AUDIT_WORK, "composer": COMPOSER, "run_as": COMPOSER_USER,
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def audit_program() -> str:
    """The program's text: a header, then siteaudit.py as it is in this checkout."""
    source = Path(siteaudit.__file__).read_text(encoding="utf-8")
    return ("#!/usr/bin/python3 -I\n"
            "# Managed by koumbit-infra (deploys/sites.py): koumbit_infra/advisories/"
            "siteaudit.py.\n" + source)


def audit_calendar(server: Server) -> str:
    """Every PERIOD_HOURS hours at a minute of the server's own (a hash of its name)."""
    minute = int(hashlib.sha256(server.name.encode()).hexdigest(), 16) % 60
    return f"*-*-* 00/{PERIOD_HOURS}:{minute:02d}:00"


def audit_context(inv: Inventory, server: Server) -> dict[str, object]:
    """What the audit's templates are rendered with."""
    return {"program": audit_program(), "settings": audit_settings(inv, server),
            "script": AUDIT, "config": AUDIT_CONFIG, "on_calendar": audit_calendar(server),
            "state_root": SITE_STATE_ROOT, "state_root_parent": STATE_ROOT}
