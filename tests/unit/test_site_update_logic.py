"""``koumbit-infra site update``'s own logic, no server: which sites, in which order on each
server, what the tool's answers mean, what a person reads, and the exit status.

The servers are stand-ins that answer with what koumbit-site-update prints (its lines are
proven against the real script in test_site_update_script.py).
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from koumbit_infra.cli import main
from koumbit_infra.inventory import load_inventory
from koumbit_infra.remote import Result as Ran
from koumbit_infra.sites import update
from koumbit_infra.sites.errors import SiteCommandError
from koumbit_infra.sites.layout import UPDATE
from koumbit_infra.sites.selection import one, select
from koumbit_infra.sites.update import (
    Execute,
    Outcome,
    Result,
    check_version,
    outcome_lines,
    read_outcome,
    summary,
    tool_command,
    update_sites,
)

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "inventory" / "lab"
INV = load_inventory(LAB)

UPDATED = Ran(True, 0, "current 6.1.7\nplan from 6.1.7 to 6.8.3\nsnapshot 0123abcd\n"
              "took snapshot 3.2\ntook code 4.0\ntook database 1.1\ntook smoke 0.4\n"
              "result updated from 6.1.7 to 6.8.3\n", "")
UNCHANGED = Ran(True, 0, "current 6.8.3\nplan unchanged 6.8.3\nresult unchanged 6.8.3\n", "")
ROLLED_BACK = Ran(False, 3, "current 6.1.7\nplan from 6.1.7 to 6.8.3\nsnapshot 0123abcd\n"
                  "took snapshot 3.2\ntook code 4.0\nfailed database\ntook rollback 6.5\n"
                  "kept 89abcdef\nserving yes\nresult rolled back\n",
                  "x: the database step failed: the database update exited 1\n")
ROLLBACK_FAILED = Ran(False, 4, "current 6.1.7\nsnapshot 0123abcd\nfailed smoke\n"
                      "took rollback 1.0\nresult rollback failed\n",
                      "!!! x: THE ROLLBACK FAILED\n")
SNAPSHOT_FAILED = Ran(False, 1, "current 6.1.7\nplan from 6.1.7 to 6.8.3\n",
                      "x: the snapshot before the update failed; nothing was changed\n")
CUT = Ran(False, -1, "current 6.1.7\nplan from 6.1.7 to 6.8.3\nsnapshot 0123abcd\n", "")


def _site(domain: str = "erables.test") -> update.SiteLayout:
    return one(INV, domain)


# --- the tool's answers ------------------------------------------------------------------


@pytest.mark.parametrize(("ran", "dry", "want"), [
    (UPDATED, False, Result.UPDATED), (UNCHANGED, False, Result.UNCHANGED),
    (ROLLED_BACK, False, Result.ROLLED_BACK), (ROLLBACK_FAILED, False, Result.ROLLBACK_FAILED),
    (SNAPSHOT_FAILED, False, Result.FAILED), (CUT, False, Result.LOST),
    (Ran(False, -1, "current 6.1.7\n", ""), False, Result.FAILED),
    (Ran(True, 0, "current 6.1.7\nplan from 6.1.7 to 6.8.3\n", ""), True, Result.PLANNED),
    (Ran(True, 0, "current 6.8.3\nplan unchanged 6.8.3\n", ""), True, Result.UNCHANGED),
    (Ran(False, 75, "", "x: still locked after 600 s; nothing was done\n"), False, Result.FAILED),
    # An exit the tool gives without the line that must come with it is not believed.
    (Ran(False, 3, "current 6.1.7\nsnapshot 0123abcd\n", ""), False, Result.LOST),
    (Ran(True, 0, "current 6.1.7\n", ""), False, Result.FAILED),
])
def test_what_the_tool_said_decides_the_result(ran: Ran, dry: bool, want: Result) -> None:
    assert read_outcome(_site(), ran, 1.0, dry).result is want


def test_an_update_reads_versions_snapshot_and_step_times() -> None:
    o = read_outcome(_site(), UPDATED, 9.0, False)
    assert (o.old, o.new, o.snapshot, o.step) == ("6.1.7", "6.8.3", "0123abcd", None)
    assert o.timings == {"snapshot": 3.2, "code": 4.0, "database": 1.1, "smoke": 0.4}
    assert o.detail == ()


def test_a_rollback_reads_its_step_what_was_kept_and_whether_it_serves() -> None:
    o = read_outcome(_site(), ROLLED_BACK, 9.0, False)
    assert (o.step, o.kept, o.serving, o.timings["rollback"]) == ("database", "89abcdef",
                                                                  True, 6.5)
    assert o.detail == ("x: the database step failed: the database update exited 1",)


def test_words_that_are_not_versions_or_snapshots_are_dropped() -> None:
    ran = Ran(False, 3, "current $(id)\nplan from ';x to 6.8.3\nsnapshot ../etc\n"
              "failed everything\nkept zz\ntook code 1e9\nresult rolled back\n", "")
    o = read_outcome(_site(), ran, 1.0, False)
    assert (o.old, o.new, o.snapshot, o.kept, o.step) == (None, "6.8.3", None, None, None)
    assert o.timings == {}


# --- what is asked of the server ------------------------------------------------------------


def test_the_tool_gets_the_site_s_words_from_the_inventory() -> None:
    site = _site("centre-femmes.test")
    words = shlex.split(tool_command(site, "10.3.6", dry=False))
    assert words == [UPDATE, site.name, "drupal", site.php_version, "https://centre-femmes.test",
                     "10.3.6"]
    assert shlex.split(tool_command(site, None, dry=True))[1] == "--dry"


@pytest.mark.parametrize("version", ["6.8;id", "-x", "../6", "$(id)", "6 8", "é", "x" * 41])
def test_a_bad_version_is_refused_before_any_server(version: str) -> None:
    with pytest.raises(SiteCommandError) as err:
        check_version(version, select(INV, "cms:wordpress"))
    assert err.value.exit_code == 2 and "not a version" in err.value.message


def test_a_version_for_sites_of_both_cms_is_refused() -> None:
    with pytest.raises(SiteCommandError) as err:
        check_version("6.8.3", select(INV, "server:web1"))
    assert err.value.exit_code == 2 and "select one CMS's sites" in err.value.message
    check_version("6.8.3", select(INV, "cms:wordpress"))
    check_version(None, select(INV, "all"))


# --- one site at a time per server, servers in parallel -------------------------------------


class Servers:
    """Stand-in servers: each answers every command with ``answer(site name)``, and counts
    how many updates run at once on it."""

    def __init__(self, answer: Callable[[str], Ran], down: frozenset[str] = frozenset(),
                 meet: threading.Barrier | None = None) -> None:
        self.answer, self.down, self.meet = answer, down, meet
        self.busy: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.commands: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def reach(self, server: str) -> AbstractContextManager[Execute]:
        @contextmanager
        def opened() -> Iterator[Execute]:
            if server in self.down:
                raise OSError(f"connection refused by {server}")
            yield lambda command: self.run(server, command)
        return opened()

    def run(self, server: str, command: str) -> Ran:
        with self.lock:
            self.busy[server] = self.busy.get(server, 0) + 1
            self.most[server] = max(self.most.get(server, 0), self.busy[server])
            self.commands.append((server, command))
        if self.meet is not None:
            self.meet.wait()  # every server's first site at once, or it times out
            self.meet = None
        with self.lock:
            self.busy[server] -= 1
        return self.answer(shlex.split(command)[1])


def test_sites_go_one_at_a_time_per_server_and_servers_at_once() -> None:
    sites = select(INV, "state:active")
    servers = Servers(lambda name: UPDATED, meet=threading.Barrier(2, timeout=10))
    heard: list[Outcome] = []
    done = update_sites(sites, version=None, dry=False, reach=servers.reach, say=heard.append)
    assert all(o.result is Result.UPDATED for o in done)  # the barrier was met: in parallel
    assert servers.most == {"web1": 1, "web2": 1}
    assert [o.domain for o in done] == [s.domain for s in sites]  # the selection's order
    assert sorted(o.domain for o in heard) == sorted(s.domain for s in sites)
    # Each server got its own sites only, in the selection's order.
    for server in ("web1", "web2"):
        names = [shlex.split(c)[1] for s, c in servers.commands if s == server]
        assert names == [s.name for s in sites if s.placed.site.server == server]


def test_a_disabled_site_is_skipped_without_asking_its_server() -> None:
    sites = select(INV, "erables.test,droits-humains.test")
    servers = Servers(lambda name: UPDATED)
    done = update_sites(sites, version=None, dry=False, reach=servers.reach, say=lambda o: None)
    assert [(o.domain, o.result) for o in done] == [("erables.test", Result.UPDATED),
                                                   ("droits-humains.test", Result.SKIPPED)]
    assert len(servers.commands) == 1


def test_an_unreachable_server_fails_its_sites_and_not_the_others() -> None:
    sites = select(INV, "erables.test,banque-rosemont.test,comite-parents.test")
    servers = Servers(lambda name: UPDATED, down=frozenset({"web2"}))
    done = update_sites(sites, version=None, dry=False, reach=servers.reach, say=lambda o: None)
    results = {o.domain: o.result for o in done}
    assert results == {"erables.test": Result.UPDATED, "banque-rosemont.test": Result.FAILED,
                       "comite-parents.test": Result.FAILED}
    failed = next(o for o in done if o.domain == "banque-rosemont.test")
    assert "connection refused by web2" in failed.detail[0]


def test_a_connection_lost_mid_update_is_told_apart_from_sites_never_begun() -> None:
    sites = select(INV, "erables.test,journal-alternatif.test,centre-femmes.test")
    second = sites[1].name

    def answer(name: str) -> Ran:
        if name == second:
            raise EOFError("SSH session not active")
        return UPDATED
    done = update_sites(sites, version=None, dry=False, reach=Servers(answer).reach,
                        say=lambda o: None)
    assert [o.result for o in done] == [Result.UPDATED, Result.LOST, Result.FAILED]
    assert outcome_lines(done[1])[0].startswith(
        f"!!! {sites[1].domain} (web1): connexion perdue pendant la mise à jour")
    assert f"/var/lib/koumbit/sites/{second}/update.log" in outcome_lines(done[1])[0]


def test_one_site_failing_does_not_stop_the_next_one_on_its_server() -> None:
    sites = select(INV, "erables.test,journal-alternatif.test")
    first = sites[0].name
    servers = Servers(lambda name: ROLLED_BACK if name == first else UPDATED)
    done = update_sites(sites, version=None, dry=False, reach=servers.reach, say=lambda o: None)
    assert [o.result for o in done] == [Result.ROLLED_BACK, Result.UPDATED]


# --- what a person reads ---------------------------------------------------------------------


def test_each_site_s_line_is_french_then_english() -> None:
    rolled = read_outcome(_site(), ROLLED_BACK, 9.0, False)
    lines = outcome_lines(rolled)
    assert lines[0] == ("erables.test (web1): ÉCHEC à l'étape « base de données », remis tel"
                        " qu'avant (instantané 0123abcd) / FAILED at the database step, rolled"
                        " back to snapshot 0123abcd")
    assert "89abcdef" in lines[1] and lines[-1].startswith("  x: the database step failed")
    broken = read_outcome(_site(), ROLLBACK_FAILED, 9.0, False)
    assert outcome_lines(broken)[1] == (
        f"!!! instantané d'avant / snapshot before: 0123abcd; à remettre / put it back:"
        f" koumbit-site-restore {_site().name} 0123abcd (sur / on web1)")


def test_the_summary_counts_in_french_then_english_and_names_the_failures() -> None:
    site = _site()
    outcomes = [read_outcome(site, UPDATED, 1.0, False), read_outcome(site, UNCHANGED, 1.0, False),
                read_outcome(site, ROLLED_BACK, 1.0, False)]
    lines = summary(outcomes, dry=False)
    assert lines[0] == "Résumé : 1 mis à jour, 1 inchangé(s), 1 REVENU(S) EN ARRIÈRE"
    assert lines[1] == "Summary: 1 updated, 1 unchanged, 1 ROLLED BACK"
    assert lines[2:] == ["  erables.test (web1): REVENU(S) EN ARRIÈRE / ROLLED BACK"
                         " (base de données / database)"]
    dry = summary([read_outcome(site, Ran(True, 0, "plan from 6.1.7 to 6.8.3\n", ""), 1.0,
                                True)], dry=True)
    assert dry == ["Résumé (essai : rien n’a changé) : 1 à mettre à jour",
                   "Summary (dry run: nothing changed): 1 to update"]


# --- the command -------------------------------------------------------------------------------


def _cli(monkeypatch: pytest.MonkeyPatch, answer: Callable[[str], Ran],
         *args: str) -> tuple[int, str]:
    servers = Servers(answer)
    monkeypatch.setattr(update, "reach_servers", lambda inv: servers.reach)
    done = CliRunner().invoke(main, ["site", "update", *args, "--inventory", str(LAB.parent)])
    return done.exit_code, done.output


def test_the_command_exits_0_when_every_site_went_well(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _cli(monkeypatch, lambda name: UPDATED, "cms:wordpress,server:web1")
    assert code == 0, out
    assert "erables.test (web1): mis à jour / updated, 6.1.7 -> 6.8.3" in out
    assert "droits-humains.test (web1): ignoré : site désactivé / skipped: disabled site" in out
    assert out.splitlines()[-2].startswith("Résumé : ")


def test_the_command_exits_1_when_a_site_rolled_back(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _cli(monkeypatch, lambda name: ROLLED_BACK, "erables.test")
    assert code == 1 and "ROLLED BACK" in out


def test_the_command_refuses_bad_input_before_any_server(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(name: str) -> Ran:
        raise AssertionError("a server was asked")
    code, out = _cli(monkeypatch, never, "nothing.test")
    assert code == 2 and "no site matches 'nothing.test'" in out
    code, out = _cli(monkeypatch, never, "all", "--to", "6.8.3")
    assert code == 2 and "select one CMS's sites" in out
