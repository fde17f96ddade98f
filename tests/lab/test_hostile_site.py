"""A hostile site on web1 plants every trap it can, from its Unix user and from its PHP;
then the deploy, ``site backup``, ``site restore``, ``site clone`` and its cron timer run.
Nothing outside its own tree may change owner, mode or content, and it may gain no new
read access. The site is HOSTILE, its neighbour VICTIM, and TARGET a clone target.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, deployed
from test_sites_commands import cli, get, layout, sh
from test_sites_lifecycle import sites_deploy

from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
HOSTILE, VICTIM, TARGET = "hostile.essai.test", "voisin.essai.test", "cible.essai.test"
SERVER = "web1"
# What must not change: root's configuration and tools, and the neighbour's tree.
WATCHED = "/etc /usr/local /root/.ssh /var/lib/koumbit /var/backups/koumbit"


def _edit(state: str = "active") -> Any:
    def edit(clients: Clients) -> None:
        clients["essai-hostile"] = scratch_client("essai-hostile", [
            {"domain": d, "cms": "wordpress", "server": SERVER, "state": state, "title": t}
            for d, t in ((HOSTILE, "Site hostile"), (VICTIM, "Site voisin"),
                         (TARGET, "Cible de copie"))])
    return edit


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inventory-hostile")


@pytest.fixture(scope="module")
def env(deployed: Deployment, scratch: Path) -> Iterator[Path]:
    gone = write_variant(ROOT / "inventory" / "lab", scratch, _edit("absent"))
    assert sites_deploy(gone, SERVER).returncode == 0
    live = write_variant(ROOT / "inventory" / "lab", scratch, _edit())
    run = sites_deploy(live, SERVER)
    assert run.returncode == 0, run.output[-3000:]
    yield live
    gone = write_variant(ROOT / "inventory" / "lab", scratch, _edit("absent"))
    assert sites_deploy(gone, SERVER).returncode == 0


def _state(lab: Lab, victim_root: str, hostile: str, target: str) -> str:
    """Owner, mode, type and checksum of everything watched and of the neighbour's tree
    (the hostile site's own names, which come and go with its lock and scratch, and the
    clone target's dump folder, where the copy legitimately lands, aside)."""
    skip = f"! -path '*{hostile}*' ! -path '/var/backups/koumbit/sites/{target}*'"
    listing = sh(lab, SERVER, (
        f"find {WATCHED} {victim_root} -xdev {skip}"
        r" -printf '%p %u %g %m %y %l\n' 2>/dev/null | LC_ALL=C sort;"
        f" find {WATCHED} {victim_root} -xdev -type f {skip}"
        " ! -name '*.timer-stopped' -print0 2>/dev/null | LC_ALL=C sort -z"
        " | xargs -0r sha256sum"))
    return "\n".join(line for line in listing.splitlines()
                     if "/etc/mtab" not in line and "ld.so.cache" not in line)


def _readable(lab: Lab, user: str, own_root: str) -> set[str]:
    """What ``user`` can read outside its own tree, among the places that matter."""
    out = sh(lab, SERVER, f"runuser -u {user} -- find /etc /usr/local /srv /var/backups"
                          f" /var/lib/koumbit /root -readable 2>/dev/null | grep -v"
                          f" '^{own_root}' || true")
    return set(out.splitlines())


def _as(user: str, script: str) -> str:
    return f"runuser -u {user} -- sh -c {shlex.quote(script)}"


PLANTS = r"""
set -u
cd "$ROOT"
# Root's own folder of the site: nothing can be renamed, replaced or added there.
for attempt in "mv tmp tmp.moved" "ln -s /usr/local/sbin tmp2" "rm -rf secrets" \
               "ln -s /etc/shadow secrets/site.ini.new" "mv secrets secrets.old" \
               "ln -sfn /etc wp-config.php"; do
    if sh -c "$attempt" 2>/dev/null; then echo "ALLOWED: $attempt"; fi
done
# Inside its own folders: links to root's files and the neighbour's, FIFOs, loops.
ln -sfn /usr/local/sbin web/wp-content/up.new && mv -T web/wp-content/up.new web/wp-content/uploads
ln -sfn /etc/shadow web/wp-config.php
ln -sfn "$VICTIM_WEB/readme.html" web/leak.html
ln -sfn /root web/wp-includes/version.php.lnk
mkfifo files/pipe tmp/pipe sessions/pipe
mkdir -p files/deep && ln -s ../deep files/deep/loop
ln -s /etc/passwd files/passwd
# Scratch paths the site tools once used in /var/tmp, and pyinfra's in /tmp.
for name in koumbit-verify-$NAME koumbit-restore-$NAME koumbit-verify-$NAME.want; do
    ln -sfn /usr/local/sbin "/var/tmp/$name" 2>/dev/null || true
done
echo planted
"""

CRON = r"""<?php
// The hostile site's own wp-cron.php: what can its CLI PHP reach from the timer?
$out = [
    'open_basedir' => ini_get('open_basedir'),
    'victim' => @file_get_contents('VICTIM_CONFIG') !== false,
    'exec' => function_exists('shell_exec') && @shell_exec('id') !== null,
];
file_put_contents(__DIR__ . '/../tmp/cron-probe.json', json_encode($out));
"""

PHP_PROBE = r"""<?php
header('Content-Type: application/json');
echo json_encode([
    'opcache' => @opcache_get_status(true) !== false,
    'victim' => @file_get_contents('VICTIM_CONFIG') !== false,
    'shadow' => @file_get_contents('/etc/shadow') !== false,
]);
"""


@pytest.fixture(scope="module")
def attacked(env: Path, scratch: Path, lab: Lab) -> dict[str, Any]:
    """Plant the traps, then run every root-run step over them; record before and after."""
    a, b, c = (layout(scratch, d) for d in (HOSTILE, VICTIM, TARGET))
    # A snapshot to restore, taken first: on a new server it also makes the dumps folder.
    assert cli(scratch, "site", "backup", HOSTILE).returncode == 0
    before = _state(lab, b.root, a.name, c.name)
    readable = _readable(lab, a.name, a.root)
    result: dict[str, Any] = {"a": a, "b": b, "c": c}
    script = PLANTS.replace("$VICTIM_WEB", b.web)
    result["plant"] = sh(lab, SERVER, f"ROOT={a.root} NAME={a.name} " + _as(a.name, script))
    probe = PHP_PROBE.replace("VICTIM_CONFIG", b.config_file)
    cron = CRON.replace("VICTIM_CONFIG", b.config_file)
    sh(lab, SERVER, _as(a.name, f"cat > {a.web}/probe.php <<'EOF'\n{probe}EOF\n"
                                f"cat > {a.web}/wp-cron.php <<'EOF'\n{cron}EOF"))
    result["http_probe"] = get(SERVER, HOSTILE, "/probe.php")
    result["leak"] = get(SERVER, HOSTILE, "/leak.html")
    # Every root-run step, over the traps.
    result["deploy"] = sites_deploy(env, SERVER)
    result["backup"] = cli(scratch, "site", "backup", HOSTILE)
    result["restore"] = cli(scratch, "site", "restore", HOSTILE)
    sh(lab, SERVER, _as(a.name, PLANTS.replace("$VICTIM_WEB", b.web)).replace(
        "runuser", f"ROOT={a.root} NAME={a.name} runuser", 1))
    result["clone"] = cli(scratch, "site", "clone", HOSTILE, TARGET, "--force")
    sh(lab, SERVER, _as(a.name, f"cat > {a.web}/wp-cron.php <<'EOF'\n{cron}EOF"))
    result["timer"] = sh(lab, SERVER, f"systemctl start {a.cron_unit}.service;"
                                      f" cat {a.tmp}/cron-probe.json")
    result["redeploy"] = sites_deploy(env, SERVER)
    result["changes"] = (before, _state(lab, b.root, a.name, c.name))
    result["readable"] = (readable, _readable(lab, a.name, a.root))
    return result


def test_the_site_cannot_touch_roots_folder_of_its_own_tree(attacked: dict[str, Any]) -> None:
    assert "planted" in attacked["plant"]
    assert "ALLOWED" not in attacked["plant"], attacked["plant"]


def test_every_root_run_step_survives_the_traps(attacked: dict[str, Any]) -> None:
    for step in ("deploy", "redeploy"):
        run = attacked[step]
        assert run.returncode == 0, run.output[-3000:]
    for step in ("backup", "restore", "clone"):
        done = attacked[step]
        assert done.returncode == 0, f"{step}: {done.stdout}\n{done.stderr}"
    assert "archived" in attacked["restore"].stdout or "snapshot" in attacked["restore"].stdout


def test_nothing_outside_the_sites_tree_changed(attacked: dict[str, Any]) -> None:
    before, after = attacked["changes"]
    gone = set(before.splitlines()) - set(after.splitlines())
    new = set(after.splitlines()) - set(before.splitlines())
    assert not gone and not new, (sorted(gone)[:20], sorted(new)[:20])


def test_the_site_gained_no_read_access(attacked: dict[str, Any]) -> None:
    before, after = attacked["readable"]
    assert after <= before, sorted(after - before)[:20]


def test_its_php_cannot_see_the_shared_cache_or_its_neighbour(attacked: dict[str, Any]) -> None:
    answer = attacked["http_probe"]
    assert answer.status == 200, answer.text
    assert json.loads(answer.text) == {"opcache": False, "victim": False, "shadow": False}


def test_nginx_serves_no_link_to_what_the_site_does_not_own(attacked: dict[str, Any]) -> None:
    assert attacked["leak"].status in (403, 404)


def test_its_cron_php_has_the_pools_limits(attacked: dict[str, Any]) -> None:
    a = attacked["a"]
    probe = json.loads(attacked["timer"])
    assert probe == {"open_basedir": a.php_open_basedir, "victim": False, "exec": False}
