"""`koumbit-infra sites status` and `sites advisories`: the servers' audit.json and
update.json read in one round trip per server, parsed as hostile, and shown per site or
grouped by advisory in French then English (text, HTML, CSV), with every injection tried."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from koumbit_infra.advisories.report import render_csv, render_html, render_text
from koumbit_infra.cli import main
from koumbit_infra.envs import load_env
from koumbit_infra.inventory import Inventory
from koumbit_infra.sites import status as status_module
from koumbit_infra.sites.selection import select
from koumbit_infra.sites.status import READER, SiteStatus, gather, reader_command, render_table

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DRUPAL, WORDPRESS = "centre-femmes.test", "erables.test"   # on web1, as the lab has them
ON_WEB2 = "logiciel-libre.test"


def _audit(cms: str, core: str, advisories: list[dict[str, Any]]) -> str:
    return json.dumps({"at": "2026-12-01T06:00:00Z", "cms": cms, "core": core, "php": "8.2",
                       "error": None, "advisories": advisories})


def _advisory(id_: str, severity: str, title: str = "Twig sandbox escape",
              link: str = "https://symfony.com/x") -> dict[str, Any]:
    return {"id": id_, "package": "twig/twig", "title": title, "cve": "CVE-2024-1",
            "severity": severity, "link": link, "first_seen": "2026-11-20T06:00:00Z"}


UPDATE = json.dumps({"at": "2026-11-30T10:00:00Z", "from": "6.1.7", "to": "6.8.3",
                     "result": "updated", "step": None})


@pytest.fixture
def inv() -> Inventory:
    return load_env("lab", None)


def _fetcher(files: dict[str, dict[str, Any]], down: set[str] | None = None,
             asked: list[tuple[str, list[str]]] | None = None) -> Any:
    def fetch(inv: Inventory, server: str, names: list[str]) -> dict[str, Any]:
        if asked is not None:
            asked.append((server, names))
        if down and server in down:
            raise OSError("Connection refused")
        return {n: files.get(n, {"audit.json": None, "update.json": None}) for n in names}
    return fetch


def _name(inv: Inventory, domain: str) -> str:
    return next(s.name for s in select(inv, domain))


def _statuses(inv: Inventory, files: dict[str, dict[str, Any]], **kw: Any) -> list[SiteStatus]:
    return gather(inv, select(inv, "all"), _fetcher(files, **kw))


def test_one_round_trip_per_server_and_one_line_per_site(inv: Inventory) -> None:
    asked: list[tuple[str, list[str]]] = []
    files = {_name(inv, DRUPAL): {"audit.json": _audit("drupal", "10.2.4", [
        _advisory("a1", "unknown"), _advisory("a2", "critical")]), "update.json": None},
             _name(inv, WORDPRESS): {"audit.json": _audit("wordpress", "6.8.3", []),
                                     "update.json": UPDATE}}
    statuses = _statuses(inv, files, asked=asked)
    assert sorted(server for server, _ in asked) == ["web1", "web2"]
    table = render_table(statuses).splitlines()
    assert len([line for line in table if line.endswith(".test") or ".test " in line]) == len(
        select(inv, "all"))
    drupal = next(line for line in table if line.startswith(DRUPAL))
    assert "drupal 10.2.4" in drupal and drupal.endswith("1/0/0/0/1")
    wordpress = next(line for line in table if line.startswith(WORDPRESS))
    assert "wordpress 6.8.3" in wordpress and "6.1.7->6.8.3 updated" in wordpress
    assert wordpress.endswith("0/0/0/0/0")
    not_audited = next(line for line in table if line.startswith(ON_WEB2))
    assert "drupal ?" in not_audited and not_audited.endswith("?")


def test_an_unreachable_server_is_its_sites_problem_only(inv: Inventory) -> None:
    files = {_name(inv, DRUPAL): {"audit.json": _audit("drupal", "10.2.4", []),
                                  "update.json": None}}
    statuses = _statuses(inv, files, down={"web2"})
    by_site = {s.site.domain: s for s in statuses}
    assert by_site[ON_WEB2].problems and "web2" in by_site[ON_WEB2].problems[0]
    assert by_site[DRUPAL].problems == () and by_site[DRUPAL].audit is not None


@pytest.mark.parametrize("audit", [
    {"error": "not a regular file"}, "{", json.dumps({"cms": "joomla"}), " " * (5 << 20)])
def test_a_planted_or_broken_audit_file_is_reported_not_believed(inv: Inventory,
                                                                 audit: Any) -> None:
    statuses = _statuses(inv, {_name(inv, DRUPAL): {"audit.json": audit, "update.json": None}})
    mine = next(s for s in statuses if s.site.domain == DRUPAL)
    assert mine.audit is None and mine.problems[0].startswith("audit.json: ")


def test_the_reader_never_follows_a_link_nor_opens_a_fifo(tmp_path: Path) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "audit.json").write_text("{}")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "audit.json").symlink_to("/etc/shadow")
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "audit.json")
    done = subprocess.run(["/usr/bin/python3", "-I", "-c", READER, str(tmp_path), "100",
                           "good", "link", "fifo", "none"], capture_output=True, text=True,
                          timeout=30, check=True)
    got = json.loads(done.stdout)
    assert got["good"]["audit.json"] == "{}"
    assert got["link"]["audit.json"] == {"error": "Too many levels of symbolic links"}
    assert got["fifo"]["audit.json"] == {"error": "not a regular file"}
    assert got["none"] == {"audit.json": None, "update.json": None}


def test_the_reader_command_takes_system_names_only() -> None:
    assert "erables_test_41a771b4" in reader_command(["erables_test_41a771b4"])
    with pytest.raises(ValueError):
        reader_command(["x; rm -rf /"])


def test_status_json_and_exit_status(inv: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {_name(inv, DRUPAL): {"audit.json": _audit("drupal", "10.2.4", [
        _advisory("a1", "high")]), "update.json": UPDATE}}
    monkeypatch.setattr(status_module, "fetch_over_ssh", _fetcher(files))
    done = CliRunner().invoke(main, ["sites", "status", "--json", "--sites", DRUPAL])
    assert done.exit_code == 0, done.output
    [row] = json.loads(done.output)
    assert row["site"] == DRUPAL and row["core"] == "10.2.4" and row["php"]
    assert row["advisories"]["high"] == 1 and row["advisories"]["unknown"] == 0
    assert row["last_update"]["to"] == "6.8.3"
    monkeypatch.setattr(status_module, "fetch_over_ssh", _fetcher({}, down={"web1"}))
    assert CliRunner().invoke(main, ["sites", "status", "--sites", DRUPAL]).exit_code == 1


HOSTILE_TITLE = '=HYPERLINK("http://evil","x")<script>alert(1)</script>'
HOSTILE_LINK = 'javascript:alert(1)" onmouseover="x'


def _hostile(inv: Inventory) -> list[SiteStatus]:
    files = {_name(inv, DRUPAL): {"audit.json": _audit("drupal", "10.2.4", [
        _advisory("a1", "critical", HOSTILE_TITLE, HOSTILE_LINK), _advisory("a2", "low")]),
        "update.json": None},
             _name(inv, WORDPRESS): {"audit.json": _audit("wordpress", "6.1.1", [
                 _advisory("a1", "critical", HOSTILE_TITLE, HOSTILE_LINK)]),
                 "update.json": None}}
    statuses = _statuses(inv, files)
    # The worst an inventory could hold, past its validation: a client's name as a formula.
    out = []
    for s in statuses:
        client = s.site.placed.client.model_copy(update={"name": "@SUM(1)<b>Org</b>"})
        placed = s.site.placed.__class__(**{**vars(s.site.placed), "client": client})
        out.append(SiteStatus(s.site.__class__(**{**vars(s.site), "placed": placed}),
                              s.audit, s.update, s.problems))
    return out


def test_the_text_report_is_grouped_by_advisory_french_first(inv: Inventory) -> None:
    text = render_text(_hostile(inv), NOW)
    french, english = text.split("-" * 72)
    assert french.index("[critique]") < french.index("[faible]")
    assert "[critical]" in english and "[low]" in english
    critical = french[french.index("[critique]"):french.index("[faible]")]
    assert DRUPAL in critical and WORDPRESS in critical  # one advisory, both its sites
    contact = select(inv, DRUPAL)[0].placed.client.contact
    assert contact.email in critical and contact.name in critical
    blind = french[french.index("Sites sans audit lisible"):]
    assert f"{ON_WEB2} : pas encore audité" in blind and DRUPAL not in blind
    assert f"{ON_WEB2}: not audited yet" in english


def test_the_html_report_escapes_every_hostile_string(inv: Inventory) -> None:
    page = render_html(_hostile(inv), NOW)
    assert "<script>" not in page and "<b>Org" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;Org" in page
    assert "href=\"javascript" not in page and 'onmouseover="x' not in page
    assert page.index('lang="fr"') < page.index('lang="en"')
    assert '<a href="https://symfony.com/x">' in page


def test_the_csv_report_never_starts_a_formula(inv: Inventory) -> None:
    rows = list(csv.reader(io.StringIO(render_csv(_hostile(inv), NOW))))
    assert rows[0][0].startswith("avis_id")
    body = rows[1:]
    assert len(body) == 3  # a1 on two sites, a2 on one
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert any(cell == "'" + HOSTILE_TITLE for row in body for cell in row)


def test_a_staging_copy_is_listed_and_says_whose_copy_it_is(tmp_path: Path) -> None:
    from koumbit_infra.inventory import load_inventory
    from koumbit_infra.sites.variant import Clients, scratch_client, write_variant

    def edit(clients: Clients) -> None:
        clients["essai-staging"] = scratch_client("essai-staging", [
            {"domain": "preprod.essai.test", "cms": "wordpress", "server": "web1",
             "state": "active", "title": "Essai", "staging": "active"}])

    inv = load_inventory(write_variant(Path(__file__).resolve().parents[2] / "inventory/lab",
                                       tmp_path, edit).with_suffix(""))
    staging = "staging.preprod.essai.test"
    files = {_name(inv, staging): {"audit.json": _audit("wordpress", "6.8.3", []),
                                   "update.json": None}}
    statuses = _statuses(inv, files)
    rows = {r["site"]: r for r in status_module.as_rows(statuses)}
    assert rows[staging]["staging_of"] == "preprod.essai.test"
    assert rows[staging]["core"] == "6.8.3" and rows[staging]["server"] == "web1"
    assert rows["preprod.essai.test"]["staging_of"] is None
    table = render_table(statuses).splitlines()
    copy = next(line for line in table if line.startswith(staging))
    assert "active, copie/staging" in copy and "wordpress 6.8.3" in copy
    production = next(line for line in table if line.startswith("preprod.essai.test"))
    assert "copie/staging" not in production
