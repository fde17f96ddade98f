"""``koumbit-infra site update SEL [--to VERSION] [--dry]``: core updates, rolled back on failure.

Each selected site is updated on its own server by ``koumbit-site-update``
(templates/usr/local/sbin/koumbit-site-update.j2), under the site's lock: a
verified snapshot (koumbit-site-archive), the code (koumbit-site-code), the
database (drush updatedb and cache:rebuild; WordPress's wp_upgrade), a smoke
test through the server's nginx; any failure after the snapshot puts it back
(koumbit-site-restore). A site nothing would change for is left alone, with no
snapshot taken. This module picks the sites (``selection.select``, as ``run
--sites``), runs the tool one site at a time per server, servers in parallel
(as ``run`` acts on several servers at once), reads what the tool said, and
sums it up, French first.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from enum import Enum

from koumbit_infra.inventory import Inventory, SiteState
from koumbit_infra.remote import Result as Ran
from koumbit_infra.remote import connect, run
from koumbit_infra.sites.errors import SiteCommandError
from koumbit_infra.sites.layout import SITE_STATE_ROOT, UPDATE, SiteLayout

# What --to may name, and what the tool's answers must look like before they are shown.
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]{0,39}")
_SNAPSHOT = re.compile(r"[0-9a-f]{8,64}")
# A composer update or a large database upgrade may be long; the tool's own steps bound
# their waits (the lock: 600 s).
TOOL_SECONDS = 3600
DETAIL_LINES = 8

Execute = Callable[[str], Ran]
Reach = Callable[[str], AbstractContextManager[Execute]]


class Result(Enum):
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    PLANNED = "planned"  # --dry: would be updated
    SKIPPED = "skipped"  # a disabled site
    FAILED = "failed"  # refused or failed before anything changed
    ROLLED_BACK = "rolled back"
    ROLLBACK_FAILED = "rollback failed"
    LOST = "lost"  # the connection went away after the snapshot: the outcome is on the server

    @property
    def ok(self) -> bool:
        return self in {Result.UPDATED, Result.UNCHANGED, Result.PLANNED, Result.SKIPPED}


# How each step and each result reads, in French then in English.
STEPS = {"snapshot": ("instantané", "snapshot"), "code": ("code", "code"),
         "database": ("base de données", "database"), "smoke": ("essai par nginx", "smoke test")}
COUNTS = {
    Result.UPDATED: ("mis à jour", "updated"),
    Result.UNCHANGED: ("inchangé(s)", "unchanged"),
    Result.PLANNED: ("à mettre à jour", "to update"),
    Result.SKIPPED: ("ignoré(s) (désactivés)", "skipped (disabled)"),
    Result.FAILED: ("en échec, rien changé", "failed, nothing changed"),
    Result.ROLLED_BACK: ("REVENU(S) EN ARRIÈRE", "ROLLED BACK"),
    Result.ROLLBACK_FAILED: ("RETOUR EN ARRIÈRE ÉCHOUÉ", "ROLLBACK FAILED"),
    Result.LOST: ("CONNEXION PERDUE", "CONNECTION LOST"),
}


@dataclass(frozen=True)
class Outcome:
    """What updating one site did, as its server's tool told it."""

    domain: str
    server: str
    name: str
    result: Result
    old: str | None = None
    new: str | None = None
    step: str | None = None
    snapshot: str | None = None
    kept: str | None = None
    serving: bool | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    detail: tuple[str, ...] = ()


def check_version(version: str | None, sites: list[SiteLayout]) -> None:
    """Refuse (exit 2, nothing contacted) a --to that is not a version, or one given for
    sites of both CMSes (a WordPress version means nothing to a Drupal site)."""
    if version is None:
        return
    if not VERSION.fullmatch(version):
        raise SiteCommandError(f"--to {version!r}: not a version (like 6.8.3 or 10.3.6)", 2)
    cms = sorted({s.cms.value for s in sites})
    if len(cms) > 1:
        raise SiteCommandError(
            f"--to {version} names one CMS's version, and the selection holds {' and '.join(cms)}"
            " sites: select one CMS's sites (cms:wordpress, cms:drupal, or their domains), or"
            " leave --to out (each site then goes to koumbit-site-code's default); nothing was"
            " done", 2)


def tool_command(site: SiteLayout, version: str | None, dry: bool) -> str:
    """Root's line running koumbit-site-update for ``site`` (every word from the inventory,
    validated there, or a checked --to)."""
    words = [UPDATE, *(["--dry"] if dry else []), site.name, site.cms.value, site.php_version,
             site.url, *([version] if version else [])]
    return shlex.join(words)


def _version(text: str | None) -> str | None:
    return text if text and VERSION.fullmatch(text) and text != "unknown" else None


def _tool_lines(stdout: str) -> tuple[dict[str, str], dict[str, float]]:
    """The tool's lines for koumbit-infra (see the template's header), and its step times."""
    facts: dict[str, str] = {}
    timings: dict[str, float] = {}
    for line in stdout.splitlines():
        key, _, rest = line.partition(" ")
        if key == "took":
            step, _, value = rest.partition(" ")
            if step in {*STEPS, "rollback"} and re.fullmatch(r"[0-9]{1,6}\.[0-9]", value):
                timings[step] = float(value)
        elif key in {"current", "plan", "snapshot", "failed", "kept", "serving", "result"}:
            facts[key] = rest
    return facts, timings


def _result(exit_code: int, facts: dict[str, str], dry: bool) -> Result:
    said = facts.get("result", "")
    if exit_code == 0 and said.startswith("updated"):
        return Result.UPDATED
    if exit_code == 0 and (said or facts.get("plan", "")).startswith("unchanged"):
        return Result.UNCHANGED
    if exit_code == 0 and dry and "plan" in facts:
        return Result.PLANNED
    if exit_code in {1, 2, 75}:
        return Result.FAILED
    if exit_code == 3 and said == "rolled back":
        return Result.ROLLED_BACK
    if exit_code == 4 and said == "rollback failed":
        return Result.ROLLBACK_FAILED
    # No outcome said, or an exit the tool never gives (the connection dropped, it was
    # killed): once a snapshot was taken, only the server knows how it ended.
    return Result.LOST if "snapshot" in facts else Result.FAILED


def read_outcome(site: SiteLayout, ran: Ran, seconds: float, dry: bool) -> Outcome:
    """The outcome the tool reported on stdout, its exit status deciding; what it told
    people (stderr) kept for a site that did not go well."""
    facts, timings = _tool_lines(ran.stdout)
    result = _result(ran.exit_code, facts, dry)
    # Versions from the outcome when it names them (the code tool's own), else the plan.
    said = facts.get("result", "")
    words = (said if said.startswith(("updated", "unchanged")) else facts.get("plan", "")).split()
    old, new = _version(facts.get("current")), None
    if "from" in words and "to" in words:
        old, new = _version(words[words.index("from") + 1]), _version(words[-1])
    elif words[:1] == ["unchanged"] and len(words) == 2:
        old = new = _version(words[1])
    snapshot, kept = facts.get("snapshot", ""), facts.get("kept", "")
    step = facts.get("failed", "")
    detail = () if result.ok else tuple((ran.stderr or ran.stdout).strip().splitlines()
                                        [-DETAIL_LINES:])
    return Outcome(
        domain=site.domain, server=site.placed.site.server, name=site.name, result=result,
        old=old, new=new, step=step if step in STEPS else None,
        snapshot=snapshot if _SNAPSHOT.fullmatch(snapshot) else None,
        kept=kept if _SNAPSHOT.fullmatch(kept) else None,
        serving={"yes": True, "no": False}.get(facts.get("serving", "")),
        timings=timings, seconds=seconds, detail=detail)


def update_one(execute: Execute, site: SiteLayout, version: str | None, dry: bool) -> Outcome:
    """Update one site with its server's tool (a disabled site is skipped: its maintenance
    page cannot prove the update)."""
    if site.state is SiteState.DISABLED:
        return Outcome(site.domain, site.placed.site.server, site.name, Result.SKIPPED)
    start = time.perf_counter()
    ran = execute(tool_command(site, version, dry))
    return read_outcome(site, ran, time.perf_counter() - start, dry)


def update_sites(sites: list[SiteLayout], *, version: str | None, dry: bool, reach: Reach,
                 say: Callable[[Outcome], None]) -> list[Outcome]:
    """Every site updated, one at a time on each server, the servers in parallel; ``say`` is
    told each outcome as it comes; answers them all in the selection's order."""
    by_server: dict[str, list[SiteLayout]] = {}
    for site in sites:
        by_server.setdefault(site.placed.site.server, []).append(site)

    def one_server(server: str, group: list[SiteLayout]) -> list[Outcome]:
        done: list[Outcome] = []
        running: list[SiteLayout] = []
        try:
            with reach(server) as execute:
                for site in group:
                    running[:] = [site]
                    done.append(update_one(execute, site, version, dry))
                    running.clear()
                    say(done[-1])
        except Exception as exc:  # one unreachable server must not stop the others
            for site in group[len(done):]:
                # The tool goes on on the server when the connection drops: only there is
                # it known how the site's update ended.
                lost = not dry and site in running
                done.append(Outcome(site.domain, server, site.name,
                                    Result.LOST if lost else Result.FAILED,
                                    detail=(f"{server}: {exc}",)))
                say(done[-1])
        return done

    with ThreadPoolExecutor(max_workers=max(1, len(by_server))) as pool:
        per_server = list(pool.map(lambda item: one_server(*item), by_server.items()))
    order = {site.domain: i for i, site in enumerate(sites)}
    return sorted((o for group in per_server for o in group), key=lambda o: order[o.domain])


@contextmanager
def _server(inv: Inventory, server: str) -> Iterator[Execute]:
    with connect(inv, server) as conn:
        yield lambda command: run(conn, command, TOOL_SECONDS)


def reach_servers(inv: Inventory) -> Reach:
    """How the command reaches each server: one SSH connection per server (koumbit_infra.remote)."""
    return lambda server: _server(inv, server)


def _step(step: str | None) -> tuple[str, str]:
    return STEPS.get(step or "", ("inconnue", "unknown"))


def outcome_lines(o: Outcome) -> list[str]:
    """What a person reads about one site: French, then English."""
    head = f"{o.domain} ({o.server}):"
    fr, en = _step(o.step)
    snap = o.snapshot[:8] if o.snapshot else "?"
    if o.result is Result.UPDATED:
        lines = [f"{head} mis à jour / updated, {o.old or '?'} -> {o.new or '?'}"
                 f" ({o.seconds:.1f} s; instantané d'avant / snapshot before: {snap})"]
    elif o.result is Result.UNCHANGED:
        lines = [f"{head} inchangé / unchanged, {o.new or '?'}"]
    elif o.result is Result.PLANNED:
        lines = [f"{head} {o.old or '?'} -> {o.new or '?'}"
                 + ("" if o.new else " (la version par défaut de koumbit-site-code / the"
                    " default version of koumbit-site-code)")]
    elif o.result is Result.SKIPPED:
        lines = [f"{head} ignoré : site désactivé / skipped: disabled site"]
    elif o.result is Result.ROLLED_BACK:
        lines = [f"{head} ÉCHEC à l'étape « {fr} », remis tel qu'avant (instantané {snap})"
                 f" / FAILED at the {en} step, rolled back to snapshot {snap}"]
        if o.kept:
            lines.append(f"  l'état raté est gardé / the failed state is kept: {o.kept[:8]}")
        if o.serving is False:
            lines.append("  ATTENTION : il ne répond pas comme avant / WARNING: it does not"
                         " answer as before")
    elif o.result is Result.ROLLBACK_FAILED:
        lines = [f"!!! {head} ÉCHEC à l'étape « {fr} » ET DU RETOUR EN ARRIÈRE / FAILED at the"
                 f" {en} step AND ITS ROLLBACK",
                 f"!!! instantané d'avant / snapshot before: {o.snapshot or '?'}; à remettre /"
                 f" put it back: koumbit-site-restore {o.name} {o.snapshot or 'ID'}"
                 f" (sur / on {o.server})"]
    elif o.result is Result.LOST:
        lines = [f"!!! {head} connexion perdue pendant la mise à jour, qui continue sur le"
                 f" serveur / connection lost during the update, which goes on on the server"
                 f" (instantané / snapshot {snap}): voir / see"
                 f" {SITE_STATE_ROOT}/{o.name}/update.log, update.json (sur / on {o.server})"]
    else:
        lines = [f"{head} échec, rien n'a changé / failed, nothing changed"]
    return lines + [f"  {line}" for line in o.detail]


def summary(outcomes: list[Outcome], dry: bool) -> list[str]:
    """The end of the command: counts, French then English, and the sites to look at."""
    counts = [(r, sum(o.result is r for o in outcomes)) for r in Result]
    shown = [(r, n) for r, n in counts if n]
    fr = ", ".join(f"{n} {COUNTS[r][0]}" for r, n in shown)
    en = ", ".join(f"{n} {COUNTS[r][1]}" for r, n in shown)
    lines = [f"Résumé{' (essai : rien n’a changé)' if dry else ''} : {fr}",
             f"Summary{' (dry run: nothing changed)' if dry else ''}: {en}"]
    for o in outcomes:
        if not o.result.ok:
            fr_step, en_step = _step(o.step)
            at = f" ({fr_step} / {en_step})" if o.step else ""
            lines.append(f"  {o.domain} ({o.server}): {COUNTS[o.result][0]} /"
                         f" {COUNTS[o.result][1]}{at}")
    return lines
