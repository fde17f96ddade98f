"""A site's whole life on the lab's web2, in a scratch copy of the lab inventory:
created (nothing else changes, no secret in any process), content added, disabled,
enabled, made absent (archive verified before removal), restored from that archive.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deploy_fixture import Deployment, Run, deployed, lab_trust, timed_json

from koumbit_infra.inventory import SiteState, load_inventory
from koumbit_infra.lab.ssh import remote
from koumbit_infra.sites.http import fetch
from koumbit_infra.sites.layout import COMPOSER_CACHE_ROOT, SITE_STATE_ROOT, SiteLayout
from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.lab
__all__ = ["deployed"]
ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "cycle.essai.test"
SERVER, ADDRESS = "web2", "10.77.0.12"


def sites_deploy(env_file: Path, limit: str = SERVER) -> Run:
    """deploys/sites.py alone, on one server, with a scratch inventory."""
    pyinfra = str(Path(sys.executable).with_name("pyinfra"))
    return timed_json([pyinfra, "-y", str(env_file), "deploys/sites.py", "--limit", limit,
                       "--json"], timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})


def with_state(state: SiteState | None) -> Any:
    def edit(clients: Clients) -> None:
        if state is not None:
            clients["essai-cycle"] = scratch_client("essai-cycle", [{
                "domain": DOMAIN, "cms": "wordpress", "server": SERVER, "state": state.value,
                "title": "Essai du cycle de vie"}])
    return edit


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inventory")


def _env(scratch: Path, state: SiteState | None) -> Path:
    return write_variant(ROOT / "inventory" / "lab", scratch, with_state(state))


def _layout(scratch: Path) -> SiteLayout:
    inv = load_inventory(scratch / "lab")
    return SiteLayout.of(inv, inv.site(DOMAIN))


def sh(lab: Lab, command: str, timeout: float = 300) -> str:
    return lab.run(SERVER, command, timeout)


@pytest.fixture(scope="module")
def created(deployed: Deployment, lab: Lab, scratch: Path) -> Iterator[tuple[Run, str]]:
    """The site created while web2's process list is sampled every 0.1 s."""
    samples: list[str] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            done = remote(lab.server(SERVER), lab.paths, "ps -eo args", timeout=10)
            samples.append(done.stdout)
            time.sleep(0.1)

    # Whatever an earlier, interrupted run left is archived and removed first.
    assert sites_deploy(_env(scratch, SiteState.ABSENT)).returncode == 0
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        run = sites_deploy(_env(scratch, SiteState.ACTIVE))
    finally:
        stop.set()
        thread.join()
    yield run, "\n".join(samples)


def test_a_new_site_is_created_and_nothing_else_changes(created: tuple[Run, str]) -> None:
    run, _ = created
    assert run.returncode == 0, run.output[-5000:]
    php = load_inventory(ROOT / "inventory" / "lab").server(SERVER).release.php.version
    shared = {f"Sites | Sites: PHP {php} configuration checked",
              f"Sites | Sites: PHP {php} reloaded",
              "Sites | Sites: nginx configuration checked", "Sites | Sites: nginx reloaded",
              "Sites | Sites: systemd reads the timers", "Sites | Sites: reloads done",
              # The server's site tools name its sites: koumbit-site-code's list, the
              # audit's settings, the update tool's drush lines.
              "Sites | Sites: maintenance page, WordPress installer, site tools, composer's"
              " repositories, advisory audit and its timer"}
    others = [c for c in run.changed_operations() if DOMAIN not in c and c not in shared]
    assert others == []
    answer = fetch(ADDRESS, DOMAIN, ca_file=lab_trust())
    assert answer.status == 200 and "<title>Essai du cycle de vie" in answer.text


def test_no_secret_of_the_new_site_in_processes_or_output(created: tuple[Run, str],
                                                          lab: Lab, scratch: Path) -> None:
    run, processes = created
    site = _layout(scratch)
    values = [line.split("=", 1)[1] for line in sh(lab, f"cat {site.secrets_file}").split()]
    assert len(values) == 10 and processes.count("\n") > 20
    for value in values:
        assert value not in processes and value not in run.output


CONTENT = ("php -r 'define(\"WP_USE_THEMES\", false); $_SERVER[\"HTTP_HOST\"] = \"" + DOMAIN
           + "\"; require \"{web}/wp-load.php\"; echo wp_insert_post([\"post_title\" => "
           "\"Billet du test\", \"post_content\" => \"Contenu unique 7f3a\", "
           "\"post_status\" => \"publish\"]);'")


@pytest.fixture(scope="module")
def content(created: tuple[Run, str], lab: Lab, scratch: Path) -> tuple[int, str]:
    """A published post, and an uploaded file's SHA-256."""
    site = _layout(scratch)
    post = int(sh(lab, f"cd {site.web} && runuser -u {site.name} -- "
                       + CONTENT.format(web=site.web)).strip())
    upload = f"{site.files}/2026/11/essai.bin"
    # umask 022, as the site's PHP-FPM pool writes (Debian 13's runuser would apply 027).
    digest = sh(lab, f"runuser -u {site.name} -- sh -c 'umask 022"
                     f" && mkdir -p {site.files}/2026/11 &&"
                     f" head -c 300000 /dev/urandom > {upload}' && sha256sum {upload}").split()[0]
    return post, digest


def _post_and_upload(post: int) -> tuple[str, bytes]:
    page = fetch(ADDRESS, DOMAIN, f"/?p={post}", ca_file=lab_trust())
    if page.status == 301:  # to the pretty permalink
        path = page.headers["location"].removeprefix(f"https://{DOMAIN}")
        page = fetch(ADDRESS, DOMAIN, path, ca_file=lab_trust())
    upload = fetch(ADDRESS, DOMAIN, "/wp-content/uploads/2026/11/essai.bin",
                   ca_file=lab_trust())
    assert upload.status == 200
    return page.text, upload.body


def test_disable_then_enable_keeps_content(content: tuple[int, str], lab: Lab,
                                           scratch: Path) -> None:
    import hashlib

    post, digest = content
    site = _layout(scratch)
    assert "Contenu unique 7f3a" in _post_and_upload(post)[0]
    run = sites_deploy(_env(scratch, SiteState.DISABLED))
    assert run.returncode == 0, run.output[-5000:]
    answer = fetch(ADDRESS, DOMAIN, f"/?p={post}", ca_file=lab_trust())
    assert answer.status == 503 and "Site temporairement indisponible" in answer.text
    sh(lab, f"test ! -e {site.pool_file} && ! pgrep -u {site.name}"
            f" && test -s {site.config_file}")
    run = sites_deploy(_env(scratch, SiteState.ACTIVE))
    assert run.returncode == 0, run.output[-5000:]
    page, upload = _post_and_upload(post)
    assert "Contenu unique 7f3a" in page
    assert hashlib.sha256(upload).hexdigest() == digest


def test_absent_archives_verifies_then_removes(content: tuple[int, str], lab: Lab,
                                               scratch: Path) -> None:
    _, digest = content
    site = _layout(scratch)
    # What the site's code tool made outside its tree: composer's cache of the site.
    cache = f"{COMPOSER_CACHE_ROOT}/{site.name}"
    assert sh(lab, f"test -d {cache} && echo cached").strip() == "cached"
    sh(lab, f"mkdir -p {SITE_STATE_ROOT}/{site.name}")  # as the audit or an update leaves it
    run = sites_deploy(_env(scratch, SiteState.ABSENT))
    assert run.returncode == 0, run.output[-5000:]
    assert "verified" in run.output
    gone = sh(lab, f"id -u {site.name} || echo no-user; test -e {site.root} || echo no-tree;"
                   f" test -e {site.vhost_file} || echo no-vhost;"
                   f" test -e {site.pool_file} || echo no-pool;"
                   f" test -e {cache} || echo no-cache;"
                   f" test -e {SITE_STATE_ROOT}/{site.name} || echo no-state;"
                   f" mariadb -N -e \"SHOW DATABASES LIKE '{site.name}'\"; echo end")
    assert gone.split()[-7:] == ["no-user", "no-tree", "no-vhost", "no-pool", "no-cache",
                                 "no-state", "end"]
    # The archive holds the upload byte for byte, the dump holds the post, and the secrets.
    scratch_dir = f"/var/tmp/koumbit-test-restore-{site.name}"
    out = sh(lab, f"rm -rf {scratch_dir} && koumbit-restic restore latest --tag site:{site.name}"
                  f" --target {scratch_dir} >/dev/null && sha256sum"
                  f" {scratch_dir}{site.files}/2026/11/essai.bin"
                  f" && grep -c 'Contenu unique 7f3a' {scratch_dir}/var/backups/koumbit/sites/"
                  f"{site.name}/db.sql && grep -c '^db_password=' {scratch_dir}{site.secrets_file};"
                  f" rm -rf {scratch_dir}")
    lines = out.split("\n")
    assert lines[0].split()[0] == digest
    assert int(lines[1]) >= 1 and lines[2] == "1"
    # A second run finds nothing left to do.
    again = sites_deploy(_env(scratch, SiteState.ABSENT))
    assert [c for c in again.changed_operations() if DOMAIN in c] == []
