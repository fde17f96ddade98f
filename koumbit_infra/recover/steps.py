"""The steps of a recovery, each printed as it goes: what runs on the target and on the server.

Every step can be run again after an interruption. The server keeps what a recovery
did in ``STATE_DIR``: when it began (snapshots made from then on, such as the archive
of the empty site a restore replaces, are never restored from) and which sites are
already back. The password reaches the server only through a command's stdin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import paramiko
from fabric import Connection

from koumbit_infra.inventory import Inventory, Server
from koumbit_infra.recover import escrow
from koumbit_infra.recover.errors import RecoverError
from koumbit_infra.recover.plan import (
    Recovery,
    ServerState,
    age_text,
    candidates,
    check_state,
    parse_state,
    recovery,
    site_snapshots,
)
from koumbit_infra.remote import run
from koumbit_infra.serverconf.backup import CLIENT_DIR
from koumbit_infra.sites import backups
from koumbit_infra.sites.backups import Snapshot
from koumbit_infra.sites.errors import SiteCommandError, must
from koumbit_infra.sites.layout import STATE_ROOT, SiteLayout

STATE_DIR = f"{STATE_ROOT}/recover"
PASSWORD_FILE = f"{CLIENT_DIR}/password"
# On each target: restic on one client's repository, as that client's account (the lead's).
REPO_TOOL = "/usr/local/sbin/koumbit-backup-repo"

Connect = Callable[[str], AbstractContextManager[Connection]]
Say = Callable[[str], None]

# What the server holds of a recovery; stdin: the escrow's password, compared, never shown.
STATE = f"""set -eu
d={STATE_DIR}; pw={PASSWORD_FILE}
echo "now=$(date +%s)"
if [ -f "$d/started" ]; then echo "started=$(cat "$d/started")"; else echo started=; fi
if [ ! -e "$pw" ]; then cat > /dev/null; echo password=none
elif cmp -s "$pw" -; then echo password=same; else echo password=other; fi
for f in "$d"/*.restored; do
    [ -f "$f" ] || continue
    n=${{f##*/}}; echo "restored ${{n%.restored}} $(cat "$f")"
done"""

# The recovery begins: its time noted once, the password written from stdin unless there.
# On a server re-installed empty, /var/lib/koumbit is made here, before the deploy: 0755,
# not the 0700 umask 077 would give it, or the sites' cron could not reach their locks.
BEGIN = f"""set -eu
umask 077
d={STATE_DIR}; pw={PASSWORD_FILE}
install -d -m 755 -o root -g root {STATE_ROOT}
mkdir -p "$d"
if [ ! -f "$d/started" ]; then date +%s > "$d/started.new"; mv -f "$d/started.new" "$d/started"; fi
install -d -m 755 -o root -g root {CLIENT_DIR.rsplit("/", 1)[0]}
install -d -m 700 -o root -g root {CLIENT_DIR}
if [ -e "$pw" ]; then cat > /dev/null
else cat > "$pw.new"; chmod 600 "$pw.new"; mv -f "$pw.new" "$pw"; fi"""


def mark_command(site: SiteLayout, snap: Snapshot) -> str:
    """Root's line noting on the server that ``site`` is back (from ``snap``)."""
    path = f"{STATE_DIR}/{site.name}.restored"
    return f"umask 077 && echo {snap.id} > {path}.new && mv -f {path}.new {path}"


@contextmanager
def reach(connect: Connect, name: str) -> Iterator[Connection]:
    """An open connection to server ``name``; one that cannot be made says what to check."""
    with connect(name) as conn:
        try:
            conn.open()
        except (OSError, paramiko.SSHException) as exc:
            raise RecoverError(
                f"{name}: cannot reach it over SSH ({exc or type(exc).__name__}). Is it up,"
                " with an admin's key in root's authorized_keys? A re-installed server has a"
                " new host key: check it (on its console) and put it in known_hosts, then run"
                " recover again") from None
        yield conn


@dataclass(frozen=True)
class SiteOutcome:
    """What became of one site: the snapshot it came back from, and whether it did."""

    domain: str
    snapshot: Snapshot | None
    restored: bool
    note: str

    def line(self, now: datetime) -> str:
        if self.snapshot is None:
            return f"{self.domain}: {self.note}"
        when = self.snapshot.time.isoformat(timespec="seconds")
        return (f"{self.domain}: snapshot {self.snapshot.id[:8]} of {when}"
                f" ({age_text(self.snapshot.time, now)} old): {self.note}")


def open_escrow(rec: Recovery, connect: Connect, identity: Path, say: Say) -> tuple[str, Server]:
    """The server's password, from the first target that holds its escrow, and that target."""
    problems = []
    for target in rec.targets:
        try:
            with reach(connect, target.name) as conn:
                ciphertext = escrow.fetch(conn, rec.server.name, target.name)
        except RecoverError as exc:
            say(f"   {target.name}: {exc.message}")
            problems.append(exc.message)
            continue
        password = escrow.decrypt(ciphertext, identity, rec.server.name)
        say(f"   decrypted {escrow.escrow_file(rec.server.name)} of {target.name}"
            f" with {identity}")
        return password, target
    raise RecoverError(f"no backup target gave {rec.server.name}'s escrow; nothing was"
                       " changed:\n" + "\n".join(problems))


def dry_listing(conn: Connection, rec: Recovery, target: Server, now: datetime,
                say: Say) -> int:
    """Print, from ``target``, the snapshot each site would come back from; answers how
    many sites have none. The server being recovered is not contacted."""
    out = must(conn, f"{REPO_TOOL} {rec.server.name} snapshots --json --tag koumbit-site",
               f"listing {rec.server.name}'s snapshots on {target.name}")
    found = backups.parse_snapshots(out, f"{rec.server.name}'s repository on {target.name}")
    missing = 0
    for site in rec.sites:
        newest = site_snapshots(found, site)[-1:]
        if newest:
            say(SiteOutcome(site.domain, newest[0], False, "would be restored").line(now))
        else:
            missing += 1
            say(f"{site.domain}: NO snapshot on {target.name}: it could not be restored")
    return missing


def begin(conn: Connection, server: str, password: str) -> ServerState:
    """Check the server may be recovered, note the start, put the password on it."""
    state = read_state(conn, server, password)
    check_state(state, server, PASSWORD_FILE, STATE_DIR)
    done = run(conn, BEGIN, timeout=60, stdin=password)
    if not done.ok:
        raise RecoverError(f"{server}: writing {PASSWORD_FILE} failed (exit {done.exit_code}):"
                           f" {done.stderr.strip()[-300:]}")
    return state


def read_state(conn: Connection, server: str, password: str) -> ServerState:
    done = run(conn, STATE, timeout=60, stdin=password)
    if not done.ok:
        raise RecoverError(f"{server}: reading its recovery state failed"
                           f" (exit {done.exit_code}): {done.stderr.strip()[-300:]}")
    return parse_state(done.stdout, server)


def restore_site(conn: Connection, site: SiteLayout, state: ServerState, target: str | None,
                 say: Say) -> SiteOutcome:
    """Bring ``site`` back from its newest snapshot taken before the recovery began, or
    the next older ones (``plan.RESTORE_TRIES`` in all) if a restore fails."""
    if site.name in state.restored:
        return SiteOutcome(site.domain, None, True,
                           f"already restored from {state.restored[site.name][:8]} by an"
                           f" earlier run (to restore again: koumbit-infra site restore"
                           f" {site.domain})")
    try:
        tries = candidates(backups.snapshots(conn, site, target), state.cutoff)
    except SiteCommandError as exc:
        return SiteOutcome(site.domain, None, False, f"NOT restored: {exc.message}")
    if not tries:
        return SiteOutcome(site.domain, None, False,
                           f"NOT restored: no snapshot of it on {target or 'the primary target'}"
                           " from before the recovery; see koumbit-infra site restore"
                           f" {site.domain} --list")
    for n, snap in enumerate(tries):
        try:
            backups.restore(conn, site, snap, target)
        except SiteCommandError as exc:
            more = "; trying the next older snapshot" if n + 1 < len(tries) else ""
            say(f"{site.domain}: the restore from {snap.id[:8]} failed: {exc.message}{more}")
            continue
        must(conn, mark_command(site, snap), f"noting that {site.domain} is restored")
        after = f" (after {n} newer snapshot(s) failed)" if n else ""
        return SiteOutcome(site.domain, snap, True, f"restored{after}")
    return SiteOutcome(site.domain, tries[0], False,
                       f"NOT restored: {len(tries)} snapshot(s) tried, every restore failed")


@dataclass(frozen=True)
class Seams:
    """How a recovery reaches the world, passed in so tests give fakes."""

    connect: Connect
    deploy: Callable[[tuple[str, ...]], int]
    say: Say
    now: Callable[[], datetime]


def recover(inv: Inventory, name: str, *, identity: Path, source: str | None, dry: bool,
            seams: Seams) -> list[SiteOutcome]:
    """Rebuild server ``name``: escrow, password, deploy, every site restored.

    Answers each site's outcome (with ``dry``: none, after printing what would be done;
    a site without a snapshot then raises). Refusals raise RecoverError before anything
    is touched.
    """
    say = seams.say
    rec = recovery(inv, name, source)
    say(f"1. {name}: {len(rec.sites)} site(s) to restore"
        f" ({', '.join(s.domain for s in rec.sites) or 'none'});"
        f" backup target(s): {', '.join(t.name for t in rec.targets)}")
    say(f"2. {name}'s repository password, from a target's escrow")
    password, target = open_escrow(rec, seams.connect, identity, say)
    via = None if target.name == rec.primary.name else target.name
    if dry:
        say(f"3. (dry) what would be restored, as {target.name} holds it; {name} untouched")
        with reach(seams.connect, target.name) as conn:
            missing = dry_listing(conn, rec, target, seams.now(), say)
        if missing:
            raise RecoverError(f"{missing} site(s) of {name} have no snapshot on {target.name}")
        return []
    say(f"3. the password onto {name} ({PASSWORD_FILE}, root only)")
    with reach(seams.connect, name) as conn:
        begin(conn, name, password)
    deployed = (name, *(t.name for t in rec.targets))
    say(f"4. deploy of {', '.join(deployed)} (the targets authorise {name}'s new key)")
    status = seams.deploy(deployed)
    if status != 0:
        raise RecoverError(f"the deploy of {', '.join(deployed)} failed (pyinfra exit {status});"
                           " fix what it says and run recover again: it goes on from where it"
                           " stopped. If a backup target is down, use --from with one that"
                           " answers.")
    say(f"5. every site of {name}, from {target.name}")
    with reach(seams.connect, name) as conn:
        state = read_state(conn, name, password)
        outcomes = []
        for site in rec.sites:
            outcome = restore_site(conn, site, state, via, say)
            say(outcome.line(seams.now()))
            outcomes.append(outcome)
    return outcomes
