"""Staging copies without the lab: the inventory's copy, its files checked by the real tools
(nginx -t on Debian 12 and 13, a live nginx asking for the password, PHP running the address
changer), its price, and the command's refusals and command lines against a fake server.

The lab half (a WordPress copied, served only with the password, refreshed) is
tests/lab/test_staging.py.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tempfile
from base64 import b64encode
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from blackboxrun import Answer, FakeWeb, live_blackbox
from click.testing import CliRunner
from nginxrun import get, serving
from test_cost_examples import JUNE, PLAN, PRICES, budget, client, web
from test_recover_logic import FakeServer
from test_sites_templates import check_php, check_vhost

from koumbit_infra.cli import main
from koumbit_infra.cost import allocate
from koumbit_infra.cost.usage.synthetic import inventory_from
from koumbit_infra.inventory import Inventory, InventoryError, SiteState, load_inventory
from koumbit_infra.inventory.models import Site
from koumbit_infra.monitoring.probes import (
    STAGING_MODULE,
    blackbox_config,
    blackbox_modules,
    site_targets,
)
from koumbit_infra.sites import staging
from koumbit_infra.sites.copy import new_address_command
from koumbit_infra.sites.errors import SiteCommandError
from koumbit_infra.sites.files import layouts, server_files, site_files
from koumbit_infra.sites.layout import (
    STAGING_AUTH_DIR,
    STAGING_ROBOTS,
    WP_REPLACE_URL,
    SiteLayout,
)
from koumbit_infra.sites.secrets import htpasswd_command
from koumbit_infra.sites.selection import select
from koumbit_infra.sites.variant import Clients, write_variant

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "tests" / "fixtures" / "inventory" / "base"
D = Decimal


def _base(tmp: Path, edit: Callable[[str], str] | None = None,
          servers: Callable[[str], str] | None = None) -> Path:
    """The unit tests' base inventory (comite-parents.test has a staging copy), changed."""
    root = tmp / "inv"
    shutil.copytree(BASE, root)
    client_file = root / "clients" / "comite-parents.yaml"
    if edit:
        client_file.write_text(edit(client_file.read_text()))
    if servers:
        (root / "servers.yaml").write_text(servers((root / "servers.yaml").read_text()))
    return root


def _problems(root: Path) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(root, display_base=root)
    return [f"{p.path}:{p.line}: {p.message}" for p in caught.value.problems]


# --- the inventory -------------------------------------------------------------------------


def test_a_staging_copy_is_a_site_of_its_own_beside_its_site(tmp_path: Path) -> None:
    inv = load_inventory(_base(tmp_path))
    site, copy = inv.site("comite-parents.test"), inv.site("staging.comite-parents.test")
    assert copy.staging_of == site.site and site.staging_of is None
    assert inv.staging_copy(site) == copy and inv.staging_copy(copy) is None
    assert (copy.client, copy.site.server, copy.site.cms) == (site.client, "web2", site.site.cms)
    assert copy.site.aliases == () and copy.site.staging is None
    # Its own name, so its own user, pool, database and database user.
    assert copy.site.system_name.startswith("staging_comite_parents_")
    assert copy.site.system_name != site.site.system_name
    # Listed wherever sites are: right after its site, in the run selectors, in `check`.
    domains = [p.site.domain for p in inv.placed_sites()]
    assert domains[domains.index("comite-parents.test") + 1] == "staging.comite-parents.test"
    assert [s.domain for s in select(inv, "staging")] == ["staging.comite-parents.test"]
    assert "staging.comite-parents.test" in {s.domain for s in select(inv, "server:web2")}
    shown = CliRunner().invoke(main, ["check", "--inventory", str(tmp_path), "--env", "inv"])
    assert shown.exit_code == 0 and "staging copies among them: 1" in shown.output


def test_the_staging_name_comes_from_the_setting(tmp_path: Path) -> None:
    root = _base(tmp_path, servers=lambda t: t.replace(
        "  ssh_user: root\n", '  ssh_user: root\n  staging_name: "{label}.essais.koumbit.test"\n'))
    inv = load_inventory(root)
    copy = inv.staging_copy(inv.site("comite-parents.test"))
    assert copy is not None and copy.site.domain == "comite-parents-test.essais.koumbit.test"


@pytest.mark.parametrize("pattern", [
    "{domain}", "{label}", "staging.{domain}.{domain}", "staging.{nom}", "staging.{Domain}",
    "Staging.{domain}", "staging.{domain};reboot", "$(id).{domain}", "staging .{domain}",
    "staging.{domain}\n", "staging.{{domain}}", "staging/{domain}", "staging..{domain}",
    "{label}-" + "x" * 60 + ".test", "staging.{domain}.123", "",
])
def test_a_staging_name_that_cannot_name_every_copy_is_refused(tmp_path: Path,
                                                               pattern: str) -> None:
    root = _base(tmp_path, servers=lambda t: t.replace(
        "  ssh_user: root\n", f"  ssh_user: root\n  staging_name: {json.dumps(pattern)}\n"))
    found = _problems(root)
    assert len(found) == 1 and found[0].startswith("servers.yaml:9: settings.staging_name:")


def test_copies_are_checked_like_sites_and_reported_at_their_line(tmp_path: Path) -> None:
    # Its name clashes with a site of another client.
    root = _base(tmp_path / "a")
    theatre = root / "clients" / "theatre-quartier.yaml"
    theatre.write_text(theatre.read_text().replace("domain: theatre-quartier.test",
                                                   "domain: staging.comite-parents.test"))
    assert _problems(root) == [
        "clients/theatre-quartier.yaml:8: domain 'staging.comite-parents.test' already used at"
        " clients/comite-parents.yaml:12"]
    # A copy that stays while its site is being removed.
    found = _problems(_base(tmp_path / "b", lambda t: t.replace(
        "    server: web2\n", "    server: web2\n    state: absent\n")))
    assert found == ["clients/comite-parents.yaml:13: site 'comite-parents.test' is absent but"
                     " its staging copy is active"]
    # Not a state.
    found = _problems(_base(tmp_path / "c", lambda t: t.replace("staging: active",
                                                                "staging: yes")))
    assert len(found) == 1 and found[0].startswith("clients/comite-parents.yaml:12:")
    # A name the pattern cannot make a domain of (a label over 63 characters).
    long = "x" * 60 + ".test"
    found = _problems(_base(tmp_path / "d", lambda t: t.replace("comite-parents.test", long),
                            servers=lambda t: t.replace("  ssh_user: root\n",
                                                        "  ssh_user: root\n  staging_name:"
                                                        ' "{label}.koumbit.test"\n')))
    assert len(found) == 1 and found[0].startswith(
        f"clients/comite-parents.yaml:12: the staging copy of '{long}' cannot be named")


def test_a_staging_copy_takes_a_quota_on_its_server(tmp_path: Path) -> None:
    with_copy = load_inventory(_base(tmp_path / "a"))
    without = load_inventory(_base(tmp_path / "b", lambda t: t.replace("staging: active",
                                                                       "staging: absent")))
    quota = with_copy.plan("essentiel").disk_quota_gib
    assert with_copy.committed_quota_gib("web2") == without.committed_quota_gib("web2") + quota


def test_people_reach_their_own_staging_copies_only(tmp_path: Path) -> None:
    key = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDnXk3LjJ44ralIWj0Qjn+5xHTBO8/WD7Y/J9UX2wrNZ"
           " dev@test")

    def person(sites: str) -> Callable[[str], str]:
        return lambda t: t + (f"people:\n  - name: dev\n    full_name: Dev\n    ssh_keys: [{key}]\n"
                              f"    sites: [{sites}]\n")

    inv = load_inventory(_base(tmp_path / "a", person("staging.comite-parents.test")))
    parents = next(c for c in inv.clients if c.slug == "comite-parents")
    assert parents.people[0].sites == ("staging.comite-parents.test",)
    root = _base(tmp_path / "b")
    theatre = root / "clients" / "theatre-quartier.yaml"
    theatre.write_text(person("staging.comite-parents.test")(theatre.read_text()))
    found = _problems(root)
    assert len(found) == 1 and "belongs to client 'comite-parents'" in found[0]


# --- the money -----------------------------------------------------------------------------


def _with_copies(rate: str, *states: SiteState | None) -> Inventory:
    plan = PLAN.model_copy(update={"staging_monthly_price_cad": D(rate)})
    regular = client("a", "a.test")
    solidarity = client("b", "b.test", paid="10.00", solidarity=JUNE.start)
    sites = [regular.sites[0].model_copy(update={"staging": states[0]}),
             solidarity.sites[0].model_copy(update={"staging": states[1]})]
    return inventory_from([web("web1")], [
        regular.model_copy(update={"sites": (sites[0],)}),
        solidarity.model_copy(update={"sites": (sites[1],)})], budget(), plans=[plan])


def test_staging_copies_are_charged_to_their_client_at_the_plans_staging_rate() -> None:
    none = allocate(_with_copies("7.50", None, None), JUNE, prices=PRICES)
    both = allocate(_with_copies("7.50", SiteState.ACTIVE, SiteState.DISABLED), JUNE,
                    prices=PRICES)
    (a0, b0), (a1, b1) = none.clients, both.clients
    # Billed on top of the plan, list price and price paid alike, a whole month.
    assert (a1.list_price_cad - a0.list_price_cad, a1.paid_cad - a0.paid_cad) == (
        D("7.50"), D("7.50"))
    assert (b1.list_price_cad - b0.list_price_cad, b1.paid_cad - b0.paid_cad) == (
        D("7.50"), D("7.50"))
    assert b1.subsidy_list_cad == b0.subsidy_list_cad  # the mission's cost is the same
    # The copy's own usage is charged to the same client, as a site of its own.
    copy = next(s for s in both.sites if s.site == "staging.a.test")
    assert copy.client == "a" and a1.cost_cad > a0.cost_cad
    assert both.allocated_cad + both.idle_cad == both.total_cad


def test_no_staging_rate_or_no_copy_charges_nothing() -> None:
    base = allocate(_with_copies("7.50", None, None), JUNE, prices=PRICES).clients[0]
    free = allocate(_with_copies("0", SiteState.ACTIVE, None), JUNE, prices=PRICES).clients[0]
    gone = allocate(_with_copies("7.50", SiteState.ABSENT, None), JUNE,
                    prices=PRICES).clients[0]
    assert free.list_price_cad == base.list_price_cad == gone.list_price_cad == D("40.00")
    assert PLAN.staging_monthly_price_cad == 0  # the default


# --- what the deploy writes ----------------------------------------------------------------


def _example_with_copies(tmp: Path) -> Inventory:
    """The example inventory, one WordPress and one Drupal site on each release copied."""
    def edit(clients: Clients) -> None:
        chosen: dict[tuple[str, str], dict[str, Any]] = {}
        for data in clients.values():
            for site in data.get("sites", []):
                chosen.setdefault((site["server"], site["cms"]), site)
        for (server, _), site in chosen.items():
            if server in ("web1", "web3"):
                site["staging"] = "active"
    env_file = write_variant(ROOT / "inventory" / "example", tmp, edit)
    return load_inventory(env_file.with_suffix(""))


def _copies(inv: Inventory) -> list[SiteLayout]:
    return [s for server in inv.servers for s in layouts(inv, server) if s.staging_of]


@pytest.fixture(scope="module")
def example() -> Iterator[Inventory]:
    with tempfile.TemporaryDirectory() as tmp:
        yield _example_with_copies(Path(tmp))


def _vhost(site: SiteLayout) -> str:
    return next(f.content for f in site_files(site) if f.dest == site.vhost_file)


def test_every_release_and_cms_has_a_copy_here(example: Inventory) -> None:
    found = {(s.release.name.split(" (")[0], s.cms.value) for s in _copies(example)}
    assert {r for r, _ in found} == {"Debian 12", "Debian 13"} and len(found) == 4


def test_a_copys_vhost_asks_for_its_password_and_says_noindex(example: Inventory,
                                                               tmp_path: Path) -> None:
    for i, site in enumerate(_copies(example)):
        text = _vhost(site)
        plain, pages = text.split("server {")[1:]
        assert f"auth_basic_user_file {site.htpasswd_file};" in pages
        assert f'auth_basic "Staging {site.staging_of}";' in pages
        # ACME's challenges and the redirect to HTTPS need no password.
        assert "listen 80;" in plain and "auth_basic" not in plain
        # Every server block says noindex: the copy's pages and its plain-HTTP redirect.
        for block in (plain, pages):
            assert f'add_header X-Robots-Tag "{STAGING_ROBOTS}" always;' in block
        assert site.htpasswd_file == f"{STAGING_AUTH_DIR}/{site.name}.htpasswd"
        (tmp_path / str(i)).mkdir()
        check_vhost(text, tmp_path / str(i))  # the host's nginx -t, as for every vhost
        # Its own address in its own configuration, never production's.
        config = next(f.content for f in site_files(site) if f.dest == site.config_file)
        assert site.domain in config and f"'{site.staging_of}'" not in config
        assert f"^{site.staging_of}" not in config.replace("\\.", ".")
    production = example.site(_copies(example)[0].staging_of or "")
    assert "auth_basic" not in _vhost(SiteLayout.of(example, production))
    assert "X-Robots-Tag" not in _vhost(SiteLayout.of(example, production))


def test_a_disabled_copy_says_noindex_on_its_maintenance_page_too(tmp_path: Path) -> None:
    def edit(clients: Clients) -> None:
        clients["cooperative-erables"]["sites"][0]["staging"] = "disabled"
    inv = load_inventory(write_variant(ROOT / "inventory" / "lab", tmp_path, edit).with_suffix(""))
    copy = SiteLayout.of(inv, inv.site("staging.erables.test"))
    text = _vhost(copy)
    maintenance = text.split("location = /503.html {", 1)[1].split("}", 1)[0]
    assert f'X-Robots-Tag "{STAGING_ROBOTS}" always' in maintenance
    (tmp_path / "check").mkdir()
    check_vhost(text, tmp_path / "check")


def test_probes_expect_a_copy_to_ask_for_its_password(example: Inventory) -> None:
    copies = {s.domain for s in _copies(example)}
    modules = {t.hostname: t.module for t in site_targets(example)}
    assert {d for d, m in modules.items() if m == STAGING_MODULE} == copies
    http = blackbox_modules(example)[STAGING_MODULE]["http"]
    assert http["valid_status_codes"] == [401]
    assert {h["header"] for h in http["fail_if_header_not_matches"]} == {
        "WWW-Authenticate", "X-Robots-Tag"}


@pytest.mark.skipif(shutil.which("prometheus-blackbox-exporter") is None,
                    reason="needs Debian's prometheus-blackbox-exporter")
def test_the_real_exporter_passes_a_closed_copy_only(tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        inv = _example_with_copies(Path(tmp))
    copy = next(t for t in site_targets(inv) if t.module == STAGING_MODULE)
    asks = ("WWW-Authenticate", f'Basic realm="Staging {copy.site}"')
    robots = ("X-Robots-Tag", STAGING_ROBOTS)
    web = FakeWeb({})
    with live_blackbox(blackbox_config(inv), web, tmp_path, (copy.hostname,)) as blackbox:
        def probe(answer: Answer) -> float:
            web.answers[copy.hostname] = answer
            url = f"https://127.0.0.1:{web.tls_port}/"
            return blackbox.probe(url, STAGING_MODULE, copy.hostname)["probe_success"]

        assert probe(Answer(401, b"closed", headers=(asks, robots))) == 1
        assert probe(Answer(200, b"open to all", headers=(robots,))) == 0  # no password
        assert probe(Answer(401, b"closed", headers=(asks,))) == 0  # indexable
        assert probe(Answer(401, b"closed", headers=(asks, ("X-Robots-Tag", "all")))) == 0


def _get(port: int, host: str, auth: str | None = None) -> tuple[int, dict[str, str]]:
    """One GET of / from the local nginx, as ``host``, with ``auth`` (user:password)."""
    headers = {} if auth is None else {
        "Authorization": "Basic " + b64encode(auth.encode()).decode()}
    status, answered, _ = get(port, host, "/", headers)
    return status, answered


@pytest.mark.skipif(shutil.which("nginx") is None or shutil.which("openssl") is None,
                    reason="needs nginx and openssl")
def test_nginx_lets_in_only_the_password_the_server_made(example: Inventory) -> None:
    site = next(s for s in _copies(example) if s.release.name.startswith("Debian 12"))
    # Outside pytest's private temporary folder: nginx's workers (www-data) read the file.
    tmp = Path(tempfile.mkdtemp(prefix="koumbit-staging-"))
    tmp.chmod(0o755)
    auth = tmp / "auth" / "site.htpasswd"
    try:
        made = subprocess.run(["sh", "-c", htpasswd_command(str(auth), "staging", show=True)],
                              capture_output=True, text=True, check=True)
        password = made.stdout.strip().removeprefix("password=")
        assert re.fullmatch(r"[A-Za-z0-9]{24}", password), made.stdout
        info = auth.stat()
        assert (oct(info.st_mode & 0o777), info.st_uid, auth.group()) == ("0o640", 0, "www-data")
        assert password not in auth.read_text() and auth.read_text().startswith("staging:$6$")
        vhost = _vhost(site).replace(site.htpasswd_file, str(auth))
        with serving(vhost, tmp) as port:
            status, headers = _get(port, site.domain)
            assert status == 401 and headers["WWW-Authenticate"].startswith("Basic ")
            assert headers["X-Robots-Tag"] == STAGING_ROBOTS
            assert _get(port, site.domain, "staging:" + password[:-1] + "x")[0] == 401
            status, headers = _get(port, site.domain, "staging:" + password)
            # In: the page itself is missing here (no PHP), but the password was taken.
            assert status != 401 and headers["X-Robots-Tag"] == STAGING_ROBOTS
            # The plain-HTTP redirect says noindex too.
            status, headers = _get(port + 1, site.domain)
            assert status == 301 and headers["X-Robots-Tag"] == STAGING_ROBOTS
    finally:
        shutil.rmtree(tmp)


# --- telling a WordPress copy its address --------------------------------------------------


def _replacer(inv: Inventory) -> str:
    server = inv.server("web1")
    return next(f.content for f in server_files(inv, server) if f.dest == WP_REPLACE_URL)


def test_the_address_changer_is_valid_php(example: Inventory, tmp_path: Path) -> None:
    check_php(_replacer(example), tmp_path)


PHP_CASES = r"""
$pairs = ['https://a.test' => 'https://staging.a.test', 'http://a.test' => 'https://staging.a.test'];
$kept = 0;
$o = new stdClass; $o->url = 'https://a.test/x'; $o->n = 3;
$cases = [
  'plain' => 'see https://a.test/page and http://a.test/',
  'serialized' => serialize(['home' => 'https://a.test', 'n' => 1, 'deep' => ['https://a.test/y']]),
  'double' => serialize(serialize(['https://a.test'])),
  'object' => serialize($o),
  'foreign' => 'O:8:"Evil_Cls":1:{s:3:"url";s:14:"https://a.test";}',
  'false' => 'b:0;',
  'broken' => 's:99:"https://a.test";',
  'none' => 'nothing to see',
];
$out = [];
foreach ($cases as $name => $value) {
  $new = koumbit_replaced($value, $pairs, $kept);
  $back = @unserialize($new, ['allowed_classes' => ['stdClass']]);
  $out[$name] = ['value' => $new, 'back' => $back];
}
$out['kept'] = $kept;
echo json_encode($out);
"""


@pytest.mark.skipif(shutil.which("php") is None, reason="needs php")
def test_urls_are_replaced_and_serialized_values_rebuilt(example: Inventory,
                                                         tmp_path: Path) -> None:
    script = tmp_path / "replace.php"
    script.write_text(_replacer(example))
    code = (f"define('KOUMBIT_REPLACE_FUNCTIONS_ONLY', true); require {str(script)!r};"
            + PHP_CASES)
    done = subprocess.run(["php", "-r", code, "--", "/srv/x", "https://staging.a.test",
                           "https://a.test"], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    assert out["plain"]["value"] == ("see https://staging.a.test/page and"
                                     " https://staging.a.test/")
    assert out["serialized"]["back"] == {"home": "https://staging.a.test", "n": 1,
                                         "deep": ["https://staging.a.test/y"]}
    assert out["double"]["back"] == 'a:1:{i:0;s:22:"https://staging.a.test";}'
    assert out["object"]["back"] == {"url": "https://staging.a.test/x", "n": 3}
    # A class the site's code would have to load is never made: its strings stay.
    assert out["foreign"]["value"].startswith('O:8:"Evil_Cls"')
    assert '"https://a.test"' in out["foreign"]["value"] and out["kept"] == 1
    assert out["false"]["value"] == "b:0;"
    # Not really serialized (a wrong length): plain text, replaced as such.
    assert out["broken"]["value"] == 's:99:"https://staging.a.test";'
    assert out["none"]["value"] == "nothing to see"


@pytest.mark.skipif(shutil.which("php") is None, reason="needs php")
@pytest.mark.parametrize("args", [
    ["/srv/x", "https://staging.a.test"],
    ["/srv/x", "https://staging.a.test", "https://a.test' OR 1=1"],
    ["/srv/x", "javascript:alert(1)", "https://a.test"],
    ["/srv/x", "https://staging.a.test/../", "https://a.test"],
    ["/srv/x", "https://STAGING.a.test\n", "https://a.test"],
])
def test_the_address_changer_refuses_what_is_not_a_site_url(example: Inventory,
                                                            tmp_path: Path,
                                                            args: list[str]) -> None:
    script = tmp_path / "replace.php"
    script.write_text(_replacer(example))
    with script.open() as stdin:
        done = subprocess.run(["php", "--", *args], stdin=stdin, capture_output=True,
                              text=True, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "wp-load.php" not in done.stderr  # stopped before WordPress was asked anything


def test_the_address_is_changed_as_the_copys_own_user(tmp_path: Path) -> None:
    inv = load_inventory(_base(tmp_path))
    site = SiteLayout.of(inv, inv.site("comite-parents.test"))
    copy = SiteLayout.of(inv, inv.site("staging.comite-parents.test"))
    line = new_address_command(site, copy)
    assert line is not None
    words = shlex.split(line)
    assert words[words.index("flock") + 5] == copy.lock_file  # under the copy's lock
    inner = shlex.split(words[words.index("sh") + 2])
    assert inner[:4] == ["runuser", "-u", copy.name, "--"]  # as its user, never root
    assert f"PHP_INI_SCAN_DIR={copy.php_cli_env}" in inner  # with its PHP limits
    assert inner[-2].endswith(
        f"{copy.php.cli} -- {copy.docroot} https://staging.comite-parents.test"
        f" https://comite-parents.test http://comite-parents.test < {WP_REPLACE_URL}")
    assert new_address_command(site, site) is None  # a migrated site keeps its address


def test_a_drupal_copy_only_rebuilds_its_caches(tmp_path: Path) -> None:
    inv = load_inventory(_base(tmp_path, lambda t: t.replace("cms: wordpress", "cms: drupal")))
    site = SiteLayout.of(inv, inv.site("comite-parents.test"))
    copy = SiteLayout.of(inv, inv.site("staging.comite-parents.test"))
    line = new_address_command(site, copy)
    assert line is not None and "cache:rebuild" in line and "mariadb" not in line
    assert copy.trusted_host_patterns == ("^staging\\.comite-parents\\.test$",)


# --- the command ---------------------------------------------------------------------------


class CopyServer(FakeServer):
    """test_recover_logic's fake server (answers by needle, records every command), with
    files moved through the operator's machine as ``copy_content`` moves them."""

    def get(self, remote: str, local: str) -> None:
        Path(local).write_text(f"from {remote}")

    def put(self, local: str, remote: str) -> None:
        self.log.append((f"put {remote}", None))

    def steps(self) -> list[str]:
        return [command for command, _ in self.log]


def _pair(tmp: Path) -> tuple[SiteLayout, SiteLayout]:
    return staging.pair(load_inventory(_base(tmp)), "comite-parents.test")


def _server(made: bool, import_code: int = 0) -> CopyServer:
    """web2 as the command meets it: the copy made or not, its import (the archive first)
    done or failed, and a password shown by the line that makes it."""
    imported = ("archived 0123456789abcdef\nimported" if import_code == 0 else
                "the archive of what the copy would replace failed; nothing was changed")
    answers = [("test -f", 0 if made else 1, ""), ("koumbit-site-import", import_code, imported),
               ("openssl passwd", 0, "password=" + "A1b2" * 6 + "\n"), ("", 0, "")]
    return CopyServer("web2", [(needle, _answer(code, out)) for needle, code, out in answers])


def _answer(code: int, out: str) -> Callable[[str, str | None], tuple[int, str]]:
    return lambda _command, _stdin: (code, out)


def test_the_first_copy_packs_as_production_unpacks_as_the_copy_and_shows_a_password(
        tmp_path: Path) -> None:
    site, copy = _pair(tmp_path)
    conn = _server(made=False)
    done = staging.copy_into_staging(conn, site, copy, refresh=False,
                                     password=False)
    assert done == staging.Copied(True, ["0123456789abcdef"], "A1b2" * 6)
    steps = conn.steps()
    pack = next(c for c in steps if "outgoing" in c and "tar" in c)
    assert f"runuser -u {site.name} --" in pack and copy.name not in pack
    imported = next(c for c in steps if "koumbit-site-import" in c)
    assert imported.split()[1:] == [copy.name, f"/var/backups/koumbit/sites/{copy.name}.incoming",
                                    "--force"]
    order = [next(i for i, c in enumerate(steps) if needle in c)
             for needle in ("test -f", "koumbit-site-import", WP_REPLACE_URL,
                            "staging-copied.new", "openssl passwd")]
    assert order == sorted(order)
    told = steps[order[2]]
    assert f"runuser -u {copy.name} --" in told and f"runuser -u {site.name}" not in told


def test_a_refresh_keeps_the_password_unless_asked(tmp_path: Path) -> None:
    site, copy = _pair(tmp_path)
    conn = _server(made=True)
    done = staging.copy_into_staging(conn, site, copy, refresh=True,
                                     password=False)
    assert done.password is None and done.archives == ["0123456789abcdef"]
    assert not any("openssl" in c for c in conn.steps())


def test_new_credentials_alone_copy_nothing(tmp_path: Path) -> None:
    site, copy = _pair(tmp_path)
    conn = _server(made=True)
    done = staging.copy_into_staging(conn, site, copy, refresh=False, password=True)
    assert done == staging.Copied(False, [], "A1b2" * 6)
    steps = conn.steps()
    assert len(steps) == 2 and "openssl passwd" in steps[1]
    assert copy.htpasswd_file in steps[1]


def test_a_copy_already_made_is_replaced_only_with_refresh(tmp_path: Path) -> None:
    site, copy = _pair(tmp_path)
    for made, refresh in ((True, False), (False, True)):
        conn = _server(made=made)
        with pytest.raises(SiteCommandError) as refused:
            staging.copy_into_staging(conn, site, copy, refresh=refresh,
                                      password=False)
        assert refused.value.exit_code == 2 and "nothing was done" in str(refused.value)
        assert conn.steps() == [f"test -f {copy.staging_marker}"]  # asked, touched nothing


def test_a_failed_archive_of_the_copy_stops_the_refresh(tmp_path: Path) -> None:
    site, copy = _pair(tmp_path)
    conn = _server(made=True, import_code=7)
    with pytest.raises(SiteCommandError) as failed:
        staging.copy_into_staging(conn, site, copy, refresh=True,
                                  password=True)
    assert "archive" in str(failed.value) and failed.value.exit_code == 1
    assert not any(WP_REPLACE_URL in c or "staging-copied.new" in c or "openssl" in c
                   for c in conn.steps())


def _cli(tmp: Path, *args: str) -> Any:
    return CliRunner().invoke(main, [*args, "--inventory", str(tmp), "--env", "inv"])


def test_no_command_copies_staging_over_production(tmp_path: Path) -> None:
    _base(tmp_path)
    # `site staging` on a copy: refused before any server is contacted (none exists here).
    done = _cli(tmp_path, "site", "staging", "staging.comite-parents.test", "--refresh")
    assert done.exit_code == 2
    assert "nothing copies staging over production" in done.output
    # `site clone` from a copy onto its production site, or onto any other site.
    for target in ("comite-parents.test", "erables.test"):
        done = _cli(tmp_path, "site", "clone", "staging.comite-parents.test", target, "--force")
        assert done.exit_code == 2 and "nothing copies a staging copy" in done.output
    # A copy lives on its site's server: it is not migrated on its own.
    done = _cli(tmp_path, "site", "migrate", "staging.comite-parents.test", "--to", "web1")
    assert done.exit_code == 2 and "migrate that site instead" in done.output


def test_a_site_is_migrated_without_a_staging_copy_left_behind(tmp_path: Path) -> None:
    _base(tmp_path)
    done = _cli(tmp_path, "site", "migrate", "comite-parents.test", "--to", "web1")
    assert done.exit_code == 2 and "set 'staging: absent'" in done.output


def test_a_site_without_an_active_copy_is_refused(tmp_path: Path) -> None:
    _base(tmp_path)
    done = _cli(tmp_path, "site", "staging", "erables.test")
    assert done.exit_code == 2 and "add 'staging: active'" in done.output
    other = tmp_path / "other"
    _base(other, lambda t: t.replace("staging: active", "staging: disabled"))
    done = _cli(other, "site", "staging", "comite-parents.test")
    assert done.exit_code == 2 and "is disabled" in done.output


def test_the_copys_site_model_is_rebuilt_not_copied(tmp_path: Path) -> None:
    inv = load_inventory(_base(tmp_path))
    site = inv.site("comite-parents.test").site
    assert site.system_name  # cached on the production site first
    copy = inv.site("staging.comite-parents.test").site
    assert isinstance(copy, Site) and copy.system_name != site.system_name
