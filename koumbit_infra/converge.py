"""A deploy that asks each server its questions in one round trip and calls only the
operations that have work.

pyinfra runs every operation on every host in lockstep and asks each one's
facts over SSH when it runs; a converged lab still cost about 700 facts and
135 operation steps (about 20 s) to learn that nothing had to change. Here a
deploy file's concerns run in passes while pyinfra prepares each host:

1. **survey passes** run the concerns without adding any operation: every
   operation handed to :func:`need` is asked what it would do (its generator,
   pyinfra's own code) and every fact it reads is noted; the facts not yet
   known are then read all at once (``facts.batch``), and the concerns run
   again, until a pass asks nothing new (two or three passes, one round trip
   each);
2. the **apply pass** runs them once more and adds, in order, only the
   operations whose generator yields a command.

The decision uses the state read before anything ran. It holds for as long as
nothing has run: once a host has one operation with work, every later
operation of that host is added unconditionally, and pyinfra decides it when
it executes, on the server's state of that moment, as it always did. So a
first converge or a run with a change behaves exactly as before; a converged
server costs its handful of round trips.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from inspect import getcallargs
from typing import Any, TypeVar, cast

from pyinfra.api.command import StringCommand
from pyinfra.api.facts import FactBase, ShortFactBase
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.files import (
    LINUX_STAT_COMMAND,
    Directory,
    File,
    Link,
    Md5File,
    Sha1File,
    Sha256File,
)
from pyinfra.facts.server import Users
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus

from koumbit_infra.facts.batch import Answer, Batch, guarded

T = TypeVar("T")
logger = logging.getLogger(__name__)
MAX_SURVEYS = 6
FactKey = tuple[type[FactBase[Any]], str]


@dataclass(frozen=True)
class _Asked:
    """A fact to read: the object that made its command (some keep state), and its arguments."""

    fact: FactBase[Any]
    command: str
    requires: str | None
    arguments: dict[str, Any]


@dataclass
class _HostRun:
    """What one host's preparation knows: facts read, facts asked, and the pass it is in."""

    answers: dict[FactKey, Any] = field(default_factory=dict)
    asked: dict[FactKey, _Asked] = field(default_factory=dict)
    unanswerable: set[FactKey] = field(default_factory=set)
    surveying: bool = False
    lazy: bool = False  # an operation with work was added: the rest decide when they run
    evaluating: bool = False
    round_trips: int = 0
    added: int = 0


_RUNS: dict[str, _HostRun] = {}


def _run() -> _HostRun:
    return _RUNS.setdefault(host.name, _HostRun())


def _key(cls: type[FactBase[Any]], args: tuple[Any, ...],
         kwargs: dict[str, Any]) -> tuple[FactKey, dict[str, Any]]:
    """A fact's identity (its class and arguments, as pyinfra binds them) and those arguments."""
    call = {k: v for k, v in kwargs.items() if not k.startswith("_")}
    if args or call:
        call = getcallargs(cls().command, *args, **call)
        call.pop("self", None)
    return (cls, repr(sorted(call.items()))), call


def _question(cls: type[FactBase[Any]], call: dict[str, Any]) -> _Asked:
    """The command that reads a fact, made by the object that will process its output."""
    fact = cls()

    def text(attr: Any) -> str | None:
        value = attr(**call) if callable(attr) else attr
        if value is None:
            return None
        return value.get_raw_value() if isinstance(value, StringCommand) else str(value)

    return _Asked(fact, text(fact.command) or "true", text(fact.requires_command), call)


def _resolved(run: _HostRun, cls: type[FactBase[Any]], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """(known, value) of a fact for the current host from what the batches read."""
    key, call = _key(cls, args, kwargs)
    if key in run.answers:
        return True, run.answers[key]
    if key not in run.unanswerable and key not in run.asked:
        run.asked[key] = _question(cls, call)
        # What pyinfra's operations ask next about the same path or unit, asked now:
        # one pass and one round trip fewer.
        for follower in _FOLLOWERS.get(cls, ()):
            _resolved(run, follower, args, kwargs)
    return False, cls().default()


_original_get_fact = Host.get_fact
_original_noop = Host.noop


def _get_fact(self: Host, name_or_cls: Any, *args: Any, **kwargs: Any) -> Any:
    run = _RUNS.get(self.name)
    if run is None or not run.evaluating:
        return _original_get_fact(self, name_or_cls, *args, **kwargs)
    if issubclass(name_or_cls, ShortFactBase):
        short = name_or_cls()
        return short.process_data(_get_fact(self, short.fact, *args, **kwargs))
    known, value = _resolved(run, name_or_cls, args, kwargs)
    if not known and not run.surveying:
        raise _Unknown
    return value


def _noop(self: Host, description: str) -> None:
    run = _RUNS.get(self.name)
    if run is None or not run.evaluating:
        _original_noop(self, description)


# The only change to pyinfra: while an operation is asked what it would do,
# its facts come from the batch and its "nothing to do" notes are not printed.
Host.get_fact = _get_fact  # type: ignore[method-assign]
Host.noop = _noop  # type: ignore[method-assign]


class _Unknown(Exception):
    """A fact the batches could not answer: the operation decides when it runs."""


@contextlib.contextmanager
def _evaluating(run: _HostRun) -> Iterator[None]:
    run.evaluating = True
    try:
        yield
    finally:
        run.evaluating = False


def fact(cls: type[FactBase[T]], **kwargs: Any) -> T:
    """A fact of the current host for the deploy's own decisions, read with the batch."""
    run = _run()
    with _evaluating(run):
        known, value = _resolved(run, cls, (), kwargs)
    if known or run.surveying:
        return cast(T, value)
    return host.get_fact(cls, **kwargs)


def _has_work(op: Any, kwargs: dict[str, Any]) -> bool:
    args = {k: v for k, v in kwargs.items() if k != "name" and not k.startswith("_")}
    run = _run()
    with _evaluating(run):
        try:
            return any(True for _ in op._inner(**args))
        except _Unknown:
            return True
        except Exception:  # the operation raises it again when it runs, as before
            return True


def need(op: Any, **kwargs: Any) -> OperationMeta | None:
    """Call the pyinfra operation ``op`` only if it has something to do on this host.

    Answers its ``OperationMeta``, or ``None`` when it was not called (nothing
    to do; and during a survey pass, always).
    """
    run = _run()
    if run.surveying:
        _has_work(op, kwargs)
        return None
    if not run.lazy and not _has_work(op, kwargs):
        return None
    return _send(run, op, kwargs)


def need_now(op: Any, **kwargs: Any) -> OperationMeta | None:
    """Like :func:`need`, but decided from the facts already read even after work was
    added: for operations that, by design, decide on one snapshot taken before the run
    (the sites' batched fact), so later work cannot make that decision stale.
    """
    run = _run()
    if not _has_work(op, kwargs) or run.surveying:
        return None
    return _send(run, op, kwargs)


def _send(run: _HostRun, op: Any, kwargs: dict[str, Any]) -> OperationMeta:
    """Add ``op``: from now on this host's later operations decide when they run."""
    run.lazy = True
    run.added += 1
    return cast(OperationMeta, op(**kwargs))


def call(op: Any, **kwargs: Any) -> OperationMeta | None:
    """Call ``op`` in the apply pass whatever the facts say: an operation that orders
    hosts (a barrier) or whose work is known only when it runs. ``None`` while surveying.
    """
    run = _run()
    if run.surveying:
        return None
    return cast(OperationMeta, op(**kwargs))


def ran(*metas: OperationMeta | None) -> list[OperationMeta]:
    """The operations among ``metas`` that were called (the others had nothing to do)."""
    return [m for m in metas if m is not None]


# pyinfra's Users fact asks lastlog and id once per account (most of a second on a
# small server); the same lines from one awk over the account files, without the
# last-login times no operation here reads.
_USERS_FAST = (
    "awk -F: 'FILENAME==\"/etc/group\" {g[$3]=$1; n=split($4,m,\",\");"
    " for (i=1;i<=n;i++) if (m[i]!=\"\") s[m[i]]=s[m[i]] \" \" $1; next}"
    " FILENAME==\"/etc/shadow\" {p[$1]=$2; next}"
    " {print $0 \"|\" g[$4] \"|\" g[$4] s[$1] \"||\" p[$1]}'"
    " /etc/group /etc/shadow /etc/passwd"
)
# File, Directory and Link facts: one stat for all their paths instead of one each.
_STAT_FORMAT = re.sub(r"^stat -c '(.*)'$", r"\1", LINUX_STAT_COMMAND)
_STAT_FACTS = (File, Directory, Link)
_HASH_TOOLS = {Sha1File: "sha1sum", Sha256File: "sha256sum", Md5File: "md5sum"}


_SYSTEMD_FACTS = (SystemdStatus, SystemdEnabled)
_FOLLOWERS: dict[type[FactBase[Any]], tuple[type[FactBase[Any]], ...]] = {
    File: (Sha1File,), SystemdStatus: (SystemdEnabled,),
}


def _group_of(key: FactKey, asked: _Asked) -> tuple[str, str] | None:
    """(group, path or unit) of a fact read together with others of its kind, else ``None``."""
    args = asked.arguments
    if key[0] in _STAT_FACTS or key[0] in _HASH_TOOLS:
        path = args.get("path")
        if set(args) != {"path"} or not isinstance(path, str) or path.startswith("~"):
            return None
        tool = _HASH_TOOLS.get(cast(Any, key[0]), "stat")
        return tool, path
    if key[0] in _SYSTEMD_FACTS:
        services = args.get("services")
        plain = (not args.get("user_mode") and args.get("machine") is None
                 and args.get("user_name") is None)
        if plain and isinstance(services, list) and len(services) == 1:
            return "systemd", str(services[0])
    return None


def _grouped_commands(groups: dict[str, list[str]]) -> dict[str, str]:
    """One command per group, printing ``path<TAB>line`` (systemd: its own blocks)."""
    commands = {}
    for kind, names in groups.items():
        quoted = " ".join(shlex.quote(n) for n in sorted(set(names)))
        if kind == "stat":
            commands[kind] = (f"stat --printf '%n\\t{_STAT_FORMAT}\\n' -- {quoted}"
                              " 2>/dev/null; true")
        elif kind == "systemd":
            commands[kind] = ("systemctl show --all --property Id --property SubState"
                              f" --property UnitFileState -- {quoted}")
        else:
            commands[kind] = (f"for p in {quoted}; do [ -f \"$p\" ] &&"
                              f" printf '%s\\t' \"$p\" && {kind} -- \"$p\"; done 2>/dev/null;"
                              " true")
    return commands


def _read_batch(run: _HostRun) -> None:
    asked = dict(run.asked)
    run.asked.clear()
    members = {key: _group_of(key, a) for key, a in asked.items()}
    groups: dict[str, list[str]] = {}
    for member in members.values():
        if member is not None:
            groups.setdefault(member[0], []).append(member[1])
    grouped = _grouped_commands(groups)
    single = [k for k, member in members.items() if member is None]
    commands = [*grouped.values()]
    commands += [_USERS_FAST if k[0] is Users else guarded(asked[k].command, asked[k].requires)
                 for k in single]
    answers: dict[int, Answer] = host.get_fact(Batch, commands=tuple(commands))
    run.round_trips += 1
    outputs = {kind: answers.get(i) for i, kind in enumerate(grouped)}
    for key, member in members.items():
        fact_obj = asked[key].fact
        if member is None:
            answer = answers.get(len(grouped) + single.index(key))
        else:
            answer = outputs[member[0]]
        if answer is None or (answer.status != 0 and not answer.missing):
            run.unanswerable.add(key)
        elif member is not None and member[0] == "systemd":
            run.answers[key] = fact_obj.process(list(answer.lines))
        elif member is not None:
            lines = dict(line.split("\t", 1) for line in answer.lines if "\t" in line)
            found = lines.get(member[1])
            run.answers[key] = fact_obj.default() if found is None \
                else fact_obj.process([found])
        elif answer.missing or not answer.lines:
            run.answers[key] = fact_obj.default()
        else:
            run.answers[key] = fact_obj.process(list(answer.lines))


def converge(*concerns: Callable[[], object]) -> None:
    """Run ``concerns`` (deploy functions) on the current host: surveys, then the apply pass."""
    run = _run()
    for _ in range(MAX_SURVEYS):
        run.surveying = True
        try:
            for concern in concerns:
                concern()
        finally:
            run.surveying = False
        if not run.asked:
            break
        _read_batch(run)
    # pyinfra names an operation by the line numbers of its call stack, not the files: two
    # concerns with an operation on the same line would share a name, and a host where only
    # the second runs then orders it where the other host ran the first (a cycle). The
    # concern's position in this loop is part of every name.
    for concern in host.loop(concerns):
        concern()
    logger.debug("%s: %d batch round trip(s), %d operation(s) with work", host.name,
                 run.round_trips, run.added)


def surveying() -> bool:
    """True while the concerns run only to learn which facts they read."""
    return _run().surveying
