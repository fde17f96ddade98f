"""Hostile strings in every field of a valid inventory: refused with exit 2 and file:line, or
accepted and then harmless in every file the deploys would write (checked by the real tool).

The fields come from walking the models beside the base fixture (tests/fixtures/inventory/
base), not from a hand-made list: a field added to a model is attacked here at once, and
``test_every_model_field_is_attacked`` fails if the fixture gives it no place to live.
"""

from __future__ import annotations

import copy
import re
import tempfile
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from blackboxrun import check_blackbox, check_file_sd
from brokencases import BASE
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from test_alertmanager import check_alertmanager_config, check_aliases, check_exim_settings
from test_prometheus_rules import check_config as check_prometheus_config
from test_sites_templates import CHECKERS as SITE_CHECKERS
from test_templates import CHECKERS as SERVER_CHECKERS
from test_templates import HOST_KEY

from koumbit_infra.cli import main
from koumbit_infra.exporter.config import parse_config
from koumbit_infra.inventory import Inventory, Role, SiteState, load_inventory
from koumbit_infra.inventory.models import (
    BudgetFile,
    Client,
    Codebases,
    EarlierPrice,
    LineChange,
    PlansFile,
    ServerOffer,
    ServersFile,
)
from koumbit_infra.inventory.pydantic_problems import inner_annotation
from koumbit_infra.inventory.reference import field_type
from koumbit_infra.inventory.text import invisible_character
from koumbit_infra.inventory.yamlsource import YamlPath, load_yaml
from koumbit_infra.monitoring import alerting, mail
from koumbit_infra.monitoring.exporter import exporter_config
from koumbit_infra.monitoring.probes import BLACKBOX_CONFIG, probe_files
from koumbit_infra.monitoring.prometheus import CONFIG_DEST, prometheus_files
from koumbit_infra.serverconf.files import all_files
from koumbit_infra.sites.files import layouts, server_files, site_files
from koumbit_infra.templating import render

Docs = dict[str, Any]

# A list of models that the base fixture leaves empty gets valid items, so that its
# fields have a place to be attacked.
FILLERS: dict[type[BaseModel], list[dict[str, Any]]] = {
    EarlierPrice: [{"until": date(2025, 1, 1), "monthly_price_cad": "1.00"}],
    ServerOffer: [{"name": "web-loue", "label_fr": "Serveur loué", "label_en": "Rented server",
                   "roles": ["web", "db"], "size": {"cpus": 2, "memory_gib": 4, "disk_gib": 80},
                   "cost": {"monthly_cad": "95.00"}}],
    LineChange: [{"line": "Transit et bande passante", "since": date(2026, 7, 1),
                  "monthly_cad": "30.00", "why": "Nouveau contrat"},
                 {"line": "Heures de l'équipe Infra", "since": date(2026, 7, 1),
                  "yearly_cad": "100.00", "hours_per_month": "10", "hourly_rate_cad": "30.00"}],
}


# A model the base fixture leaves out gets a valid one, for the same reason.
MISSING: dict[type[BaseModel], dict[str, Any]] = {
    Codebases: {"wordpress_source": "https://10.77.0.1:8443/wordpress",
                "composer_repositories": ["https://10.77.0.1:8443/composer"],
                "advisory_alert_days": 7},
}


@dataclass(frozen=True)
class Slot:
    """One place of one field: the file, the keys to it, the model field, its kind."""

    file: str
    path: YamlPath
    field: str
    kind: str
    is_string: bool


def _model_of(file: str) -> type[BaseModel]:
    top = {"servers.yaml": ServersFile, "plans.yaml": PlansFile, "budget.yaml": BudgetFile}
    return top.get(file, Client)


def _is_list(annotation: Any) -> bool:
    while typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return typing.get_origin(annotation) in (tuple, list, frozenset)


def _walk(model: type[BaseModel], data: dict[str, Any], file: str,
          at: YamlPath) -> Iterator[Slot]:
    """Every leaf field of ``model`` under ``data``, filling empty lists of models on the way."""
    for name, info in model.model_fields.items():
        inner, here = inner_annotation(info.annotation), (*at, name)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            if _is_list(info.annotation):
                if not data.get(name) and inner in FILLERS:
                    data[name] = copy.deepcopy(FILLERS[inner])
                for i, item in enumerate(data.get(name) or ()):
                    yield from _walk(inner, item, file, (*here, i))
            elif isinstance(data.get(name), dict) or inner in MISSING:
                data.setdefault(name, copy.deepcopy(MISSING.get(inner)))
                yield from _walk(inner, data[name], file, here)
            continue
        where = (*here, 0) if _is_list(info.annotation) else here
        yield Slot(file, where, f"{model.__name__}.{name}", _group(field_type(info)), inner is str)


def _group(kind: str) -> str:
    """Fields attacked together: the reference's words for their type, a few families merged
    (so that the examples go where the checks differ)."""
    kind = re.sub(r" \(.*\)$", "", re.sub(r"^list of |, at most \d+$", "", kind))
    families = {"`": "choice or number", "int": "choice or number", "bool": "choice or number",
                "CAD amount": "amount", "number": "amount", "text on one line": "free text",
                "person's name": "free text", "phone number": "free text", "login": "name",
                "slug": "name", "time zone name": "budget words", "two years": "budget words"}
    return next((family for start, family in families.items() if kind.startswith(start)), kind)


def _base() -> tuple[Docs, list[Slot]]:
    docs: Docs = {}
    for path in sorted(BASE.rglob("*.yaml")):
        docs[str(path.relative_to(BASE))] = yaml.safe_load(path.read_text(encoding="utf-8"))
    slots = [s for file, data in docs.items() for s in _walk(_model_of(file), data, file, ())]
    first: dict[str, Slot] = {}
    for slot in slots:  # one place per field is enough: the same code checks every place
        first.setdefault(slot.field, slot)
    return docs, list(first.values())


DOCS, SLOTS = _base()
KINDS = sorted({s.kind for s in SLOTS})


def _all_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    out = set()
    for name, info in model.model_fields.items():
        inner = inner_annotation(info.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            out |= _all_fields(inner, seen)
        else:
            out.add(f"{model.__name__}.{name}")
    return out


def _place(docs: Docs, slot: Slot, value: str) -> Docs:
    """A copy of ``docs`` with ``value`` at ``slot``."""
    out = copy.deepcopy(docs)
    node: Any = out[slot.file]
    for key in slot.path[:-1]:
        node = node.setdefault(key, []) if isinstance(node, dict) else node[key]
    last = slot.path[-1]
    if isinstance(last, int) and not node:
        node.append(value)
    else:
        node[last] = value
    return out


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True)


def _write(docs: Docs, root: Path, changed: str | None = None) -> Path:
    """The inventory ``docs`` under ``root``; only ``changed`` differs from the base, if given."""
    (root / "clients").mkdir(parents=True)
    for rel, data in docs.items():
        text = BASE_TEXTS[rel] if changed not in (None, rel) else _dump(data)
        (root / rel).write_text(text, encoding="utf-8")
    return root


BASE_TEXTS = {rel: _dump(data) for rel, data in DOCS.items()}


# --- what an inventory turns into: every file of every server, with its real checker -------


def _files(inv: Inventory) -> dict[tuple[str, str], tuple[str, Any]]:
    """(server or site, destination) -> (rendered text, checker)."""
    out: dict[tuple[str, str], tuple[str, Any]] = {}
    for server in inv.servers:
        for cfg in all_files(inv, server, HOST_KEY):
            out[server.name, cfg.dest] = (render(cfg.template, **cfg.context),
                                          _checker(SERVER_CHECKERS, cfg.dest))
        if server.has(Role.MONITOR):
            for cfg in prometheus_files(inv, server):
                checker = (check_prometheus_config if cfg.dest == CONFIG_DEST
                           else _checker(SERVER_CHECKERS, cfg.dest))
                out[server.name, cfg.dest] = (render(cfg.template, **cfg.context), checker)
            for cfg in (*alerting.alertmanager_files(inv), *mail.mail_files(inv)):
                out[server.name, cfg.dest] = (render(cfg.template, **cfg.context),
                                              ALERTING_CHECKERS[cfg.dest])
            for probe in probe_files(inv):
                out[server.name, probe.dest] = (probe.content, check_blackbox
                                                if probe.dest == BLACKBOX_CONFIG
                                                else check_file_sd)
        out[server.name, "exporter.toml"] = (exporter_config(inv, server), _check_exporter)
        sites = [s for s in layouts(inv, server) if s.state is not SiteState.ABSENT]
        if sites:
            for f in server_files(inv, server):
                out[server.name, f.dest] = (f.content, _checker(SITE_CHECKERS, f.dest))
        for site in sites:
            for f in site_files(site):
                out[site.domain, f.dest] = (f.content, _checker(SITE_CHECKERS, f.dest))
    return out


def _checker(checkers: dict[str, Any], dest: str) -> Any:
    return next(c for prefix, c in checkers.items() if prefix in dest)


def _check_exporter(text: str, tmp: Path) -> None:
    parse_config(text, "exporter.toml")


def _check_yaml(text: str, tmp: Path) -> None:
    assert isinstance(yaml.safe_load(text), dict)


ALERTING_CHECKERS = {
    alerting.CONFIG_DEST: check_alertmanager_config,
    alerting.DEFAULTS_DEST: _checker(SERVER_CHECKERS, alerting.DEFAULTS_DEST),
    alerting.AMTOOL_DEST: _check_yaml,
    mail.EXIM_CONF: check_exim_settings,
    mail.ALIASES: check_aliases,
}


def _baseline() -> dict[tuple[str, str], tuple[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        return _files(load_inventory(_write(DOCS, Path(tmp) / "inv")))


BASELINE = _baseline()


def _invisible(text: str) -> set[str]:
    return {c for c in text if c not in "\n\t" and invisible_character(c)}


CHECKED: set[tuple[str, str]] = set()


def _assert_harmless(inv: Inventory, slot: Slot, value: str) -> None:
    """Every file that the value changed passes its real checker, with nothing invisible."""
    if slot.is_string:  # a string field keeps the string: it would reach a file as it is
        assert not invisible_character(value), f"{slot.field} accepted {value!r}"
    for key, (text, checker) in _files(inv).items():
        before = BASELINE.get(key)
        if (before is not None and before[0] == text) or (key[1], text) in CHECKED:
            continue  # unchanged (proven by test_templates, test_sites_templates), or seen
        assert _invisible(text) <= _invisible(before[0] if before else ""), key
        with tempfile.TemporaryDirectory() as tmp:
            try:
                checker(text, Path(tmp))
            except pytest.skip.Exception:
                continue  # a checker that needs root, on a machine where tests are not root
        CHECKED.add((key[1], text))


LINE = re.compile(r"^(\S+\.ya?ml):(\d+): ")


def _verdict(slot: Slot, value: str) -> bool:
    """Through ``koumbit-infra check``: exit 2 naming file:line, or a harmless inventory;
    True when refused."""
    docs = _place(DOCS, slot, value)
    with tempfile.TemporaryDirectory() as tmp:
        root = _write(docs, Path(tmp) / "inv", changed=slot.file)
        result = CliRunner().invoke(main, ["check", "--inventory", tmp, "--env", "inv"])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{slot.field}={value!r} crashed: {result.exception!r}"
        )
        if result.exit_code == 0:
            _assert_harmless(load_inventory(root), slot, value)
            return False
        assert result.exit_code == 2, result.output
        lines = result.output.rstrip("\n").split("\n")
        assert lines[-1].endswith("no server was contacted"), result.output
        assert all(LINE.match(line) for line in lines[:-1]), result.output
        assert not _invisible(result.output), "the message would print what it quotes raw"
        if invisible_character(value) and slot.is_string:
            line = load_yaml(root / slot.file).line_of(slot.path)
            assert f"{root / slot.file}:{line}: " in result.output, (slot, result.output)
        return True


# --- hostile strings --------------------------------------------------------------------

CONTROLS = ["\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\u202e",
            "\u2066", "\u200b", "\ufeff", "\x1b[2J", "\r\n"]
PIECES = ['"', "'", ";", "{", "}", "$", "`", "\\", "%", " ", "#", ":", ",", "=", "<", ">", "&",
          "|", "*", "/", "..", "@", "[", "]", "$(id)", "${IFS}", "{{ 7*7 }}", "%n", "é", "İ",
          "\u0661", "\uff18", "\u00a0", "ß", "-", ".", "_", "0", "xn--"]
WHOLE = ["evil\n.example.test", "0.0.0.0", "255.255.255.255", "10.77.0.255", "127.0.0.1",
         "224.0.0.1", "169.254.1.1", "1e3", "1E3", "-0", "0x10", "NaN", "Infinity", "1_000",
         "2025-02-30", "root", "www-data", "mysql", "", " ", "x" * 5000, "../../etc/passwd",
         'http://10.77.0.1:3142"; DPkg::Pre-Invoke {"id";}; #',
         "ssh-ed25519 AAAA\nssh-rsa AAAA", "=cmd|' /C calc'!A0", "xn--", "a." * 130 + "test"]


def hostile(original: str) -> st.SearchStrategy[str]:
    """Strings an attacker (or a slip of the fingers) could put where ``original`` was."""
    inserted = st.tuples(st.integers(0, len(original)), st.sampled_from(CONTROLS + PIECES)).map(
        lambda at: original[:at[0]] + at[1] + original[at[0]:])
    return st.one_of(
        st.sampled_from(CONTROLS).map(lambda c: original + c),  # Python's $ matches before \n
        inserted,
        st.sampled_from(WHOLE),
        st.text(max_size=40),
        st.integers(2, 300).map(lambda n: original * n),
        # Values that may well be valid, so that the files they change meet their checkers.
        st.ip_addresses(v=4).map(str),
        st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True).map(lambda x: f"{x}.{original}"),
    )


def _original(slot: Slot) -> str:
    node: Any = DOCS[slot.file]
    for key in slot.path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return ""
    return "" if node is None else str(node)


# --- the tests ---------------------------------------------------------------------------


def test_every_model_field_is_attacked() -> None:
    every = set()
    for model in (ServersFile, PlansFile, BudgetFile, Client):
        every |= _all_fields(model, set())
    assert {s.field for s in SLOTS} == every, "give the missing fields a place in FILLERS"


def test_the_completed_base_is_valid_and_renders() -> None:
    assert len(BASELINE) > 100  # every server's and every site's files


@pytest.mark.parametrize("slot", [s for s in SLOTS if s.is_string], ids=lambda s: s.field)
def test_line_breaks_and_controls_are_refused_in_every_string_field(slot: Slot) -> None:
    for value in (_original(slot) + "\n", "\u202e" + _original(slot) + "\x1b[2J\x00"):
        assert _verdict(slot, value), f"{slot.field} accepted {value!r}"


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_strings_are_refused_or_harmless(kind: str, data: st.DataObject) -> None:
    slot = data.draw(st.sampled_from([s for s in SLOTS if s.kind == kind]), label="slot")
    value = data.draw(hostile(_original(slot)), label="value")
    _verdict(slot, value)
