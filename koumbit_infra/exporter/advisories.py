"""What each site runs and the advisories open against it, from its ``audit.json``.

koumbit-site-audit writes ``<site_state_root>/<system_name>/audit.json`` every few hours
(root's folder, 0644). Each refresh reads every local site's file without following a
link (a FIFO, a link or an oversized file is that site's error, not the exporter's hang).
A site without a file yet, or with one that cannot be read, has no series here but
``koumbit_site_audit_success 0``; the other sites are still published.

    # HELP koumbit_site_cms_info The site's CMS and core version, as its last audit read it.
    # TYPE koumbit_site_cms_info gauge
    koumbit_site_cms_info{client="...",cms="drupal",server="web1",site="...",version="10.2.4"} 1.0
    # HELP koumbit_site_advisories Advisories open against the site, by severity.
    # TYPE koumbit_site_advisories gauge
    koumbit_site_advisories{client="...",server="web1",severity="unknown",site="..."} 34.0
    # HELP koumbit_site_advisory_oldest_first_seen_timestamp_seconds When the longest-open
    #   advisory of the severity was first seen on the site.
    # HELP koumbit_site_audit_timestamp_seconds When the site's last audit ran.
    # HELP koumbit_site_audit_success 1 if the site's last audit read its code and advisories.
    # HELP koumbit_advisory_alert_after_seconds How long a critical or unrated advisory may
    #   stay open before KoumbitSiteAdvisoryOpen fires (settings.codebases.advisory_alert_days).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric

from koumbit_infra.exporter.config import ExporterConfig, SiteEntry
from koumbit_infra.exporter.measurement import SITE_LABELS, Measurement, paged
from koumbit_infra.exporter.sitestate import (
    SEVERITIES,
    AuditFileError,
    SiteAudit,
    parse_audit,
    read_nofollow,
)


@dataclass(frozen=True)
class _Snapshot:
    audits: tuple[tuple[SiteEntry, SiteAudit], ...] = ()
    failed: tuple[SiteEntry, ...] = ()


class AdvisoryCollector(Measurement):
    """Each local site's CMS, core version and open advisories by severity."""

    name = "advisories"

    def __init__(self, config: ExporterConfig) -> None:
        self.config = config
        self._snapshot = _Snapshot()

    def refresh(self) -> list[str]:
        audits, failed, problems = [], [], []
        root = self.config.paths.site_state_root
        for site in self.config.local_sites:
            try:
                text = read_nofollow(root / site.system_name / "audit.json")
                if text is None:
                    failed.append(site)  # not audited yet: no success, no problem
                    continue
                audits.append((site, parse_audit(text)))
            except AuditFileError as exc:
                failed.append(site)
                problems.append(f"{site.domain}: audit.json: {exc}")
        self._snapshot = _Snapshot(tuple(audits), tuple(failed))
        return problems

    def collect(self, limit: int | None = None) -> Iterable[Metric]:
        snap = self._snapshot
        yield from paged(lambda: InfoMetricFamily(
            "koumbit_site_cms", "The site's CMS and core version, as its last audit read it.",
            labels=SITE_LABELS),
            ((s.labels, {"cms": a.cms, "version": a.core or ""}) for s, a in snap.audits),
            limit)
        yield from paged(lambda: GaugeMetricFamily(
            "koumbit_site_advisories", "Advisories open against the site, by severity.",
            labels=(*SITE_LABELS, "severity")),
            ((( *s.labels, sev), n) for s, a in snap.audits for sev, n in a.counts().items()),
            limit)
        yield from paged(lambda: GaugeMetricFamily(
            "koumbit_site_advisory_oldest_first_seen_timestamp_seconds",
            "When the longest-open advisory of the severity was first seen on the site.",
            labels=(*SITE_LABELS, "severity")),
            (((*s.labels, sev), when.timestamp()) for s, a in snap.audits
             for sev, when in sorted(a.oldest().items(), key=lambda i: SEVERITIES.index(i[0]))),
            limit)
        yield from paged(lambda: GaugeMetricFamily(
            "koumbit_site_audit_timestamp_seconds", "When the site's last audit ran.",
            labels=SITE_LABELS), ((s.labels, a.at.timestamp()) for s, a in snap.audits), limit)
        yield from paged(lambda: GaugeMetricFamily(
            "koumbit_site_audit_success",
            "1 if the site's last audit read its code and advisories.", labels=SITE_LABELS),
            [*((s.labels, 0 if a.error else 1) for s, a in snap.audits),
             *((s.labels, 0) for s in snap.failed)], limit)
        alert_after = GaugeMetricFamily(
            "koumbit_advisory_alert_after_seconds",
            "How long a critical or unrated advisory may stay open before"
            " KoumbitSiteAdvisoryOpen fires (settings.codebases.advisory_alert_days).",
            labels=("server",))
        alert_after.add_metric((self.config.server,), self.config.advisories.alert_after_days
                               * 86400)
        yield alert_after
