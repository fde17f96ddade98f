"""What each site is and what its plan promises, from the configuration."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric

from koumbit_infra.exporter.config import ExporterConfig
from koumbit_infra.exporter.measurement import SITE_LABELS, PagedCollector, paged


class SiteInfoCollector(PagedCollector):
    """The info metric tying a site to its client, CMS, plan and solidarity, and its limits.

    # HELP koumbit_site_info The site's client, CMS, plan and solidarity status.
    # TYPE koumbit_site_info gauge
    koumbit_site_info{client="...",cms="drupal",plan="standard",server="web1",site="...",
                      solidarity="false"} 1.0
    # HELP koumbit_site_disk_quota_bytes Disk quota of the site (its plan's, or its override).
    # TYPE koumbit_site_disk_quota_bytes gauge
    # HELP koumbit_site_php_max_workers PHP-FPM max_children of the site's pool.
    # TYPE koumbit_site_php_max_workers gauge
    # HELP koumbit_site_php_memory_limit_bytes PHP memory_limit of one worker of the site.
    # TYPE koumbit_site_php_memory_limit_bytes gauge
    """

    def __init__(self, config: ExporterConfig) -> None:
        self.config = config

    def collect(self, limit: int | None = None) -> Iterable[Metric]:
        sites = self.config.local_sites
        # InfoMetricFamily appends `_info` itself: this is koumbit_site_info.
        yield from paged(lambda: InfoMetricFamily(
            "koumbit_site", "The site's client, CMS, plan and solidarity status.",
            labels=SITE_LABELS),
            ((s.labels, {"cms": s.cms, "plan": s.plan,
                         "solidarity": "true" if s.solidarity else "false"}) for s in sites),
            limit)
        yield from paged(lambda: GaugeMetricFamily(
            "koumbit_site_disk_quota_bytes",
            "Disk quota of the site (its plan's, or its override).", labels=SITE_LABELS),
            ((s.labels, s.disk_quota_bytes) for s in sites), limit)
        yield from paged(lambda: GaugeMetricFamily(
            "koumbit_site_php_max_workers", "PHP-FPM max_children of the site's pool.",
            labels=SITE_LABELS), ((s.labels, s.php_workers) for s in sites), limit)
        yield from paged(lambda: GaugeMetricFamily(
            "koumbit_site_php_memory_limit_bytes", "PHP memory_limit of one worker of the site.",
            labels=SITE_LABELS), ((s.labels, s.php_memory_limit_bytes) for s in sites), limit)
