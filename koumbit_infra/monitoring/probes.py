"""Every site probed from outside: the blackbox exporter's modules and targets, from the inventory.

The monitoring servers run Debian's ``prometheus-blackbox-exporter`` on loopback
(127.0.0.1:9115); their Prometheus asks it to probe each site the way a visitor
would, and keeps what it answers (``probe_success``, ``probe_http_status_code``,
``probe_duration_seconds``, ``probe_ssl_earliest_cert_expiry``...).

What is probed, for every site that is not ``absent``:

- its canonical URL (``https://<domain>/``, or ``http://`` for a site without
  TLS): an ``active`` site must answer 2xx without redirect and without the
  maintenance page; a ``disabled`` site must answer 503 with the maintenance
  page (``templates/var/www/koumbit-maintenance/503.html.j2``); a staging copy,
  whatever its state, must ask for its password (401, ``WWW-Authenticate: Basic``)
  and say ``X-Robots-Tag: noindex, nofollow``: one that answers 200 is open to
  anyone, and its probe fails with that status (``KoumbitSiteDown``);
- its redirects (job ``koumbit-redirects``): plain HTTP and every alias must
  answer 301 with ``Location: <canonical URL>/`` (the vhost's own redirects).

Each probe connects to the address of the web server that hosts the site (the
inventory's), never to what DNS says, and names the site in the request: the
blackbox exporter's ``hostname`` URL parameter sets both the Host header and
the TLS server name (SNI, and the name the certificate is checked against).
It exists since blackbox_exporter 0.20, so Debian 12's 0.23 and Debian 13's
0.26 both have it. A site is therefore one target of a shared module, and the
configuration does not grow with the number of sites, except for one small
redirect module per site: the Location a redirect must carry names the site's
canonical domain, and a module's regular expression cannot come from the URL.
The same probe works in the lab (no DNS) and in production (before DNS moves,
too). The served chain is verified against the CAs the monitoring server
trusts (its system store: no ``ca_file`` is written), so a certificate the
server would not trust counts as a site down.

Targets go to Prometheus as file_sd JSON files (``TARGETS_DIR``), written by the
deploy: a new site is probed from the deploy that creates it, without reloading
Prometheus (it watches the files). Every value is checked again here, and the
files are written by ``json`` and ``yaml`` (never by string templates), so a
hostile inventory value can neither break out of a string nor add a module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

import yaml

from koumbit_infra.errors import KoumbitError
from koumbit_infra.inventory import Inventory, PlacedSite, SiteState
from koumbit_infra.serverconf.files import ConfigFile
from koumbit_infra.sites.layout import STAGING_ROBOTS

BLACKBOX_PACKAGE = "prometheus-blackbox-exporter"
BLACKBOX_SERVICE = "prometheus-blackbox-exporter"
BLACKBOX_BINARY = "/usr/bin/prometheus-blackbox-exporter"
# Loopback only: an open prober would let anyone make the monitoring server fetch any URL.
BLACKBOX_LISTEN = "127.0.0.1:9115"
# Debian's own paths (the package's unit reads ARGS from its /etc/default file).
BLACKBOX_CONFIG = "/etc/prometheus/blackbox.yml"
BLACKBOX_DEFAULTS = "/etc/default/prometheus-blackbox-exporter"
TARGETS_DIR = "/etc/prometheus/koumbit-probes"
SITES_FILE = f"{TARGETS_DIR}/sites.json"
REDIRECTS_FILE = f"{TARGETS_DIR}/redirects.json"

SITES_JOB = "koumbit-sites"
REDIRECTS_JOB = "koumbit-redirects"
# A site every 30 s: the site-down alert waits 2 minutes (rules say why), so four
# probes in a row must fail. Redirects change only with a deploy: every 2 minutes.
SITE_INTERVAL_SECONDS = 30
REDIRECT_INTERVAL_SECONDS = 120
# Prometheus gives up on a scrape after SCRAPE_TIMEOUT; the probe's own timeout is
# shorter, so a slow site comes back as a failed probe, not as a failed scrape.
SCRAPE_TIMEOUT_SECONDS = 10
PROBE_TIMEOUT_SECONDS = 8

# The maintenance page's title: what a disabled site answers (with 503), and what an
# active site must never show. tests/unit/test_site_probes.py renders the page and checks it.
MAINTENANCE_MARKER = "<title>Site en maintenance / Site under maintenance</title>"

SITE_MODULE = "koumbit_site"
MAINTENANCE_MODULE = "koumbit_maintenance"
STAGING_MODULE = "koumbit_staging"
REDIRECT_MODULE_PREFIX = "koumbit_redirect_"

# What a domain and a server name may hold once the inventory validated them; checked
# again here because these strings end up in a regular expression, a URL and JSON.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}\Z)(?:{_LABEL}\.)+{_LABEL}")
_WORD = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# What RE2 (the exporter's regular expressions) treats as special.
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


class ProbeTargetError(KoumbitError):
    """A value that cannot be probed safely; the inventory's own checks should have refused it."""

    exit_code = 2


@dataclass(frozen=True)
class ProbeTarget:
    """One probe: the URL the exporter connects to, the name it asks for, what it expects.

    ``url`` holds the web server's address (``https://10.77.0.11/``); ``hostname``
    the name sent as Host and SNI; ``instance`` the public URL people know.
    """

    url: str
    hostname: str
    module: str
    instance: str
    site: str
    client: str
    server: str
    state: str

    def file_sd(self) -> dict[str, Any]:
        """This target as one entry of a Prometheus file_sd list."""
        return {"targets": [self.url], "labels": {
            "__param_module": self.module, "__param_hostname": self.hostname,
            "instance": self.instance, "site": self.site, "client": self.client,
            "server": self.server, "state": self.state}}


def _checked(placed: PlacedSite, inv: Inventory) -> None:
    site, where = placed.site, f"site {placed.site.domain!r} (client {placed.client.slug!r})"
    for domain in site.all_domains:
        if not _DOMAIN.fullmatch(domain):
            raise ProbeTargetError(f"{where}: {domain!r} is not a domain the probes can name;"
                                   " fix it in the client's file (koumbit-infra check)")
    for word in (placed.client.slug, site.server, site.system_name):
        if not _WORD.fullmatch(word):
            raise ProbeTargetError(f"{where}: {word!r} cannot be a probe label; fix it in the"
                                   " inventory (koumbit-infra check)")
    address = str(inv.server(site.server).address)
    try:
        IPv4Address(address)
    except ValueError:
        raise ProbeTargetError(f"{where}: server address {address!r} is not an IPv4 address"
                               ) from None


def _probed(inv: Inventory) -> list[PlacedSite]:
    """Every site that exists on a server (absent ones are gone), checked, by domain."""
    sites = [p for p in inv.placed_sites() if p.site.state is not SiteState.ABSENT]
    for placed in sites:
        _checked(placed, inv)
    return sorted(sites, key=lambda p: p.site.domain)


def _scheme(tls: bool) -> str:
    return "https" if tls else "http"


def canonical_url(placed: PlacedSite) -> str:
    """The site's public home page: where every redirect of it must lead."""
    return f"{_scheme(placed.site.tls)}://{placed.site.domain}/"


def redirect_module(placed: PlacedSite) -> str:
    return REDIRECT_MODULE_PREFIX + placed.site.system_name


def _target(inv: Inventory, placed: PlacedSite, tls: bool, hostname: str,
            module: str) -> ProbeTarget:
    site = placed.site
    address = inv.server(site.server).address
    return ProbeTarget(url=f"{_scheme(tls)}://{address}/", hostname=hostname, module=module,
                       instance=f"{_scheme(tls)}://{hostname}/", site=site.domain,
                       client=placed.client.slug, server=site.server, state=site.state.value)


def site_targets(inv: Inventory) -> tuple[ProbeTarget, ...]:
    """Each site's canonical URL, expecting its page (active) or the maintenance page."""
    out = []
    for placed in _probed(inv):
        module = (STAGING_MODULE if placed.is_staging
                  else MAINTENANCE_MODULE if placed.site.state is SiteState.DISABLED
                  else SITE_MODULE)
        out.append(_target(inv, placed, placed.site.tls, placed.site.domain, module))
    return tuple(out)


def redirect_targets(inv: Inventory) -> tuple[ProbeTarget, ...]:
    """Every URL of a site that must answer 301 to its canonical URL: plain HTTP of the
    canonical domain (TLS sites), and each alias (over HTTPS and HTTP for TLS sites)."""
    out = []
    for placed in _probed(inv):
        site, module = placed.site, redirect_module(placed)
        if site.tls:
            out.append(_target(inv, placed, False, site.domain, module))
        for alias in site.aliases:
            out.append(_target(inv, placed, site.tls, alias, module))
            if site.tls:
                out.append(_target(inv, placed, False, alias, module))
    return tuple(out)


def _re2_literal(text: str) -> str:
    return _RE2_SPECIAL.sub(r"\\\1", text)


def _http_module(http: dict[str, Any]) -> dict[str, Any]:
    # Redirects are never followed: the site must answer itself, and a redirect to
    # its own public name would be resolved by DNS (none in the lab), not by the address.
    return {"prober": "http", "timeout": f"{PROBE_TIMEOUT_SECONDS}s",
            "http": {"method": "GET", "follow_redirects": False, **http}}


def blackbox_modules(inv: Inventory) -> dict[str, Any]:
    """The exporter's modules: two shared ones, and one redirect module per site.

    Only fields that blackbox_exporter 0.23 (Debian 12) and 0.26 (Debian 13) both
    accept, checked by the real ``--config.check`` in the unit tests. TLS is
    neither required nor refused by the shared modules (``fail_if_not_ssl`` is not
    set): a site's scheme is its target URL's, and with TLS the chain is always
    verified, against the system's CAs.
    """
    marker = _re2_literal(MAINTENANCE_MARKER)
    modules: dict[str, Any] = {
        # An active site: 2xx, and not the maintenance page.
        SITE_MODULE: _http_module({"fail_if_body_matches_regexp": [marker]}),
        # A disabled site: the maintenance page, with its 503.
        MAINTENANCE_MODULE: _http_module({"valid_status_codes": [503],
                                          "fail_if_body_not_matches_regexp": [marker]}),
        # A staging copy: closed by its password, and never to be indexed.
        STAGING_MODULE: _http_module({"valid_status_codes": [401], "fail_if_header_not_matches": [
            {"header": "WWW-Authenticate", "regexp": "^Basic "},
            {"header": "X-Robots-Tag", "regexp": f"^{_re2_literal(STAGING_ROBOTS)}$"}]}),
    }
    for placed in _probed(inv):
        modules[redirect_module(placed)] = redirect_check(canonical_url(placed))
    return modules


def redirect_check(canonical: str) -> dict[str, Any]:
    """A module passing only on a 301 whose Location is exactly ``canonical``."""
    location = f"^{_re2_literal(canonical)}$"
    return _http_module({
        "valid_status_codes": [301],
        "fail_if_header_not_matches": [{"header": "Location", "regexp": location}],
    })


def blackbox_config(inv: Inventory) -> str:
    """``/etc/prometheus/blackbox.yml``, written by ``yaml`` so every string is quoted safely."""
    header = ("# Rendered by koumbit-infra from the inventory (koumbit_infra/monitoring/"
              "probes.py):\n# edit the inventory, not this file.\n")
    return header + yaml.safe_dump({"modules": blackbox_modules(inv)}, sort_keys=True,
                                   default_flow_style=False, allow_unicode=False, width=1000)


def targets_file(targets: tuple[ProbeTarget, ...]) -> str:
    """A file_sd JSON file: one entry per target, the same bytes on every run."""
    return json.dumps([t.file_sd() for t in targets], indent=1, sort_keys=True,
                      ensure_ascii=True) + "\n"


@dataclass(frozen=True)
class ProbeJob:
    """A Prometheus scrape job that hands its file_sd targets to the blackbox exporter."""

    name: str
    targets_file: str
    interval_seconds: int
    timeout_seconds: int = SCRAPE_TIMEOUT_SECONDS
    exporter: str = BLACKBOX_LISTEN


PROBE_JOBS = (ProbeJob(SITES_JOB, SITES_FILE, SITE_INTERVAL_SECONDS),
              ProbeJob(REDIRECTS_JOB, REDIRECTS_FILE, REDIRECT_INTERVAL_SECONDS))


@dataclass(frozen=True)
class ProbeFile:
    """One file the probes deploy writes on a monitoring server, its text made here."""

    dest: str
    content: str
    mode: str = "644"


def probe_files(inv: Inventory) -> tuple[ProbeFile, ...]:
    """The exporter's configuration and both target lists, as a monitoring server gets them."""
    return (ProbeFile(BLACKBOX_CONFIG, blackbox_config(inv)),
            ProbeFile(SITES_FILE, targets_file(site_targets(inv))),
            ProbeFile(REDIRECTS_FILE, targets_file(redirect_targets(inv))))


def blackbox_defaults() -> ConfigFile:
    """The exporter's command line (Debian's unit reads ARGS): our file, loopback only."""
    return ConfigFile("probes", "etc/default/prometheus-blackbox-exporter.j2", BLACKBOX_DEFAULTS,
                      "644", {"config": BLACKBOX_CONFIG, "listen": BLACKBOX_LISTEN})


def blackbox_check(config: str = BLACKBOX_CONFIG) -> str:
    """The command that validates a configuration before the exporter loads it."""
    return f"{BLACKBOX_BINARY} --config.check --config.file={config}"
