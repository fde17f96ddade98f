"""A sites deploy killed at three different points, then run again, converges, and every
site of the server still serves (web1, a scratch site added to a copy of the inventory).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deploy_fixture import Deployment, deployed, lab_trust
from test_sites_lifecycle import sites_deploy

from koumbit_infra.inventory import SiteState, load_inventory
from koumbit_infra.sites.files import layouts
from koumbit_infra.sites.http import fetch
from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "interrompu.essai.test"
SERVER, ADDRESS = "web1", "10.77.0.11"
# Operations of the new site at whose start the deploy is killed (the code: koumbit-site-code,
# "<cms> code (...)").
KILL_AT = ("secrets made on the server", "wordpress code", "WordPress installed")


def _edit(state: str) -> object:
    def edit(clients: Clients) -> None:
        clients["essai-interrompu"] = scratch_client("essai-interrompu", [{
            "domain": DOMAIN, "cms": "wordpress", "server": SERVER, "state": state,
            "title": "Essai interrompu"}])
    return edit


def _killed_at(env_file: Path, marker: str) -> bool:
    """Start the deploy; SIGKILL it (and its SSH) when ``marker``'s operation starts."""
    pyinfra = str(Path(sys.executable).with_name("pyinfra"))
    proc = subprocess.Popen([pyinfra, "-y", str(env_file), "deploys/sites.py", "--limit",
                             SERVER], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    killed = False
    for line in proc.stdout:
        if "Starting operation" in line and f"{DOMAIN}: {marker}" in line:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
    proc.wait(timeout=600)
    return killed


def test_killed_three_times_then_converges(deployed: Deployment, lab: Lab,
                                           tmp_path: Path) -> None:
    src = ROOT / "inventory" / "lab"
    assert sites_deploy(write_variant(src, tmp_path, _edit("absent")), SERVER).returncode == 0
    env = write_variant(src, tmp_path, _edit("active"))
    try:
        for marker in KILL_AT:
            assert _killed_at(env, marker), f"the deploy never reached '{marker}'"
        run = sites_deploy(env, SERVER)
        assert run.returncode == 0, run.output[-4000:]
        again = sites_deploy(env, SERVER)
        assert again.changed() == [], again.changed()
        inv = load_inventory(tmp_path / "lab")
        for site in layouts(inv, inv.server(SERVER)):
            if site.state is SiteState.ABSENT:
                continue
            answer = fetch(ADDRESS, site.domain, ca_file=lab_trust())
            expected = 503 if site.state is SiteState.DISABLED else 200
            assert answer.status == expected, site.domain
        assert "<title>Essai interrompu" in fetch(ADDRESS, DOMAIN,
                                                  ca_file=lab_trust()).text
    finally:
        sites_deploy(write_variant(src, tmp_path, _edit("absent")), SERVER)
