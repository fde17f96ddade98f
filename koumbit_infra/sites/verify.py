"""``koumbit-infra site verify``: re-assert a site from the inventory and report drift.

The sites deploy runs on the site's server (it corrects whatever drifted, and
only that); every operation of this site that had to change something is
drift. Then the site is asked for its home page with its own Host header.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from koumbit_infra.deploy_cli import pyinfra_argv
from koumbit_infra.envs import CHECKOUT
from koumbit_infra.inventory import Inventory
from koumbit_infra.sites.errors import SiteCommandError
from koumbit_infra.sites.http import fetch
from koumbit_infra.sites.layout import SiteLayout

SITES_DEPLOY = CHECKOUT / "deploys" / "sites.py"


@dataclass(frozen=True)
class Verdict:
    drift: list[str]
    status: int


def sites_deploy(env_file: Path, server: str) -> list[str]:
    """Run deploys/sites.py on ``server``; answers the names of operations that changed."""
    argv = pyinfra_argv(env_file.resolve(), SITES_DEPLOY, server, False, True)
    done = subprocess.run(argv, cwd=CHECKOUT, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(CHECKOUT)}, timeout=1800)
    if done.returncode != 0:
        raise SiteCommandError(f"the sites deploy failed on {server}:\n{done.stderr[-3000:]}")
    ops = json.loads(done.stdout).get("results", {}).get("operations", [])
    return [str(op["name"]) for op in ops if op["success"]]


def verify(inv: Inventory, env_file: Path, site: SiteLayout, ca_file: str | None) -> Verdict:
    server = site.placed.site.server
    changed = sites_deploy(env_file, server)
    drift = [name.removeprefix("Sites | ") for name in changed if f"{site.domain}:" in name]
    answer = fetch(str(inv.server(server).address), site.domain, tls=site.tls, ca_file=ca_file)
    return Verdict(drift, answer.status)
