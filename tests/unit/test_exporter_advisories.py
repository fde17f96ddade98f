"""The exporter's advisory metrics, read from fixture audit.json files as the audit writes
them, and what a hostile or broken file does (that site's error, never a hang or a guess)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fixtures.exporter.fakes import SITES, make_config
from prometheus_client import CollectorRegistry

from koumbit_infra.advisories import siteaudit
from koumbit_infra.exporter import sitestate
from koumbit_infra.exporter.advisories import AdvisoryCollector
from koumbit_infra.sites.layout import SITE_STATE_ROOT

ALPHA, BETA, GAMMA = (s[1] for s in SITES[:3])
ALPHA_DOMAIN = SITES[0][0]


def _advisory(id_: str, severity: str | None, first_seen: str) -> dict[str, Any]:
    return {"id": id_, "package": "twig/twig", "title": "t", "cve": "", "severity": severity,
            "link": "https://x", "first_seen": first_seen}


def _write(root: Path, name: str, data: dict[str, Any] | str) -> Path:
    folder = root / SITE_STATE_ROOT.lstrip("/") / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "audit.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


AUDIT = {"at": "2026-12-01T06:00:00Z", "cms": "drupal", "core": "10.2.4", "php": "8.2",
         "error": None, "advisories": [
             _advisory("a1", None, "2026-11-20T00:00:00Z"),
             _advisory("a2", "critical", "2026-11-25T00:00:00Z"),
             _advisory("a3", "critical", "2026-11-22T00:00:00Z"),
             _advisory("a4", "moderate", "2026-11-30T00:00:00Z")]}


def _collect(tmp_path: Path) -> tuple[CollectorRegistry, list[str]]:
    collector = AdvisoryCollector(make_config(tmp_path))
    problems = collector.refresh()
    registry = CollectorRegistry()
    registry.register(collector)
    return registry, problems


def _labels(name: str, **extra: str) -> dict[str, str]:
    site = next(s for s in SITES if s[1] == name)
    return {"server": "web1", "site": site[0], "client": site[2], **extra}


def test_counts_by_severity_cms_version_and_the_oldest_open(tmp_path: Path) -> None:
    _write(tmp_path, ALPHA, AUDIT)
    registry, problems = _collect(tmp_path)
    assert problems == []
    value = registry.get_sample_value
    assert value("koumbit_site_cms_info", _labels(ALPHA, cms="drupal", version="10.2.4")) == 1
    counts = {s: value("koumbit_site_advisories", _labels(ALPHA, severity=s))
              for s in sitestate.SEVERITIES}
    # "moderate" is not a word audit.json holds: unknown, never low or medium by guess.
    assert counts == {"critical": 2, "high": 0, "medium": 0, "low": 0, "unknown": 2}
    oldest = value("koumbit_site_advisory_oldest_first_seen_timestamp_seconds",
                   _labels(ALPHA, severity="critical"))
    assert oldest == datetime(2026, 11, 22, tzinfo=UTC).timestamp()
    assert value("koumbit_site_advisory_oldest_first_seen_timestamp_seconds",
                 _labels(ALPHA, severity="high")) is None
    assert value("koumbit_site_audit_success", _labels(ALPHA)) == 1
    assert value("koumbit_advisory_alert_after_seconds", {"server": "web1"}) == 7 * 86400


def test_a_site_not_audited_yet_has_no_advisory_series_and_no_success(tmp_path: Path) -> None:
    _write(tmp_path, ALPHA, AUDIT)
    registry, problems = _collect(tmp_path)
    assert problems == []
    assert registry.get_sample_value("koumbit_site_audit_success", _labels(GAMMA)) == 0
    assert registry.get_sample_value("koumbit_site_advisories",
                                     _labels(GAMMA, severity="critical")) is None


def test_a_failed_audit_says_so_and_keeps_what_it_carried(tmp_path: Path) -> None:
    _write(tmp_path, ALPHA, dict(AUDIT, error="composer audit failed: timeout"))
    registry, _ = _collect(tmp_path)
    assert registry.get_sample_value("koumbit_site_audit_success", _labels(ALPHA)) == 0
    assert registry.get_sample_value("koumbit_site_advisories",
                                     _labels(ALPHA, severity="critical")) == 2


@pytest.mark.parametrize("trick", ["link", "fifo", "not json", "bad time", "huge",
                                   "wrong cms"])
def test_a_broken_or_planted_file_is_that_sites_problem_only(tmp_path: Path,
                                                            trick: str) -> None:
    _write(tmp_path, ALPHA, AUDIT)
    path = _write(tmp_path, BETA, AUDIT)
    path.unlink()
    if trick == "link":
        path.symlink_to(_write(tmp_path, ALPHA, AUDIT))
    elif trick == "fifo":
        os.mkfifo(path)
    elif trick == "not json":
        path.write_text("{")
    elif trick == "bad time":
        path.write_text(json.dumps(dict(AUDIT, at="yesterday")))
    elif trick == "huge":
        path.write_text(" " * (sitestate.MAX_BYTES + 1))
    else:
        path.write_text(json.dumps(dict(AUDIT, cms='drupal"} 1\nevil{')))
    registry, problems = _collect(tmp_path)
    assert len(problems) == 1 and problems[0].startswith(SITES[1][0])
    assert registry.get_sample_value("koumbit_site_audit_success", _labels(BETA)) == 0
    assert registry.get_sample_value("koumbit_site_audit_success", _labels(ALPHA)) == 1


def test_hostile_strings_are_cut_and_stripped_of_control_characters() -> None:
    text = json.dumps(dict(AUDIT, core="10.2.4\n# HELP x", advisories=[
        dict(_advisory("x" * 1000, "critical", "2026-11-22T00:00:00Z"),
             title="a\x1b[31m\u202ebad" + "y" * 2000)]))
    audit = sitestate.parse_audit(text)
    assert audit.core == "10.2.4# HELP x"
    advisory = audit.advisories[0]
    assert len(advisory.id) == 200 and len(advisory.title) == 500
    assert "\x1b" not in advisory.title and "\u202e" not in advisory.title


def test_the_audit_program_and_the_readers_agree_on_severities() -> None:
    assert siteaudit.SEVERITIES == sitestate.SEVERITIES
    assert siteaudit.ALERTING == sitestate.ALERTING


def test_update_json_as_site_update_writes_it() -> None:
    update = sitestate.parse_update(json.dumps(
        {"at": "2026-12-01T10:00:00Z", "from": "6.1.7", "to": "6.8.3", "result": "rolled back",
         "step": "smoke"}))
    assert (update.from_version, update.to_version, update.step) == ("6.1.7", "6.8.3", "smoke")
    with pytest.raises(sitestate.AuditFileError):
        sitestate.parse_update(json.dumps({"at": "2026-12-01T10:00:00Z", "result": "ok"}))
