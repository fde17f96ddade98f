"""Alertmanager on the monitoring servers: who hears of which alert, derived from the inventory.

Prometheus (same server) sends its alerts to Alertmanager on 127.0.0.1:9093, which:

- **groups** them by ``concern``, ``server`` and ``site``: one e-mail for a site's
  alerts, one for a server's, one for the budget; a group waits ``GROUP_WAIT`` for its
  companions before its first notice, ``GROUP_INTERVAL`` between two notices (new or
  resolved alerts), and repeats an unchanged one every ``REPEAT_INTERVAL``;
- **routes** by ``concern`` and ``severity`` (the labels every rule carries): the
  inventory's ``alerting.routes`` in order, the first receiver for the rest;
- **inhibits**: while ``KoumbitServerDown`` fires for a server, every other alert with
  the same ``server`` (its sites, its exporters, its backups) stays quiet, so a dead
  server sends one notice, not one per site;
- honours **silences** (``amtool silence add`` on the monitoring server);
- sends **e-mail** through the server's own exim (koumbit_infra/monitoring/mail.py),
  with the text template ``templates/etc/prometheus/alertmanager_templates/koumbit.tmpl``
  (French first, then English; it names the site, client and server), and, for a
  receiver that has one, posts to its webhook (Alertmanager's JSON).

Like Prometheus, it listens on the loopback only (koumbit_infra.monitoring.prometheus
says why), and its cluster port is off: each monitoring server runs its own. Only fields
that Alertmanager 0.25 (Debian 12) and 0.28 (Debian 13) both read are written; the
inventory's strings go into the YAML as JSON strings.
"""

from __future__ import annotations

from dataclasses import dataclass

from koumbit_infra.inventory import Inventory
from koumbit_infra.inventory.models import AlertRoute, Receiver
from koumbit_infra.monitoring import mail
from koumbit_infra.serverconf.files import ConfigFile

LISTEN = "127.0.0.1:9093"
EXTERNAL_URL = f"http://{LISTEN}/"
CONFIG_DEST = "/etc/prometheus/alertmanager.yml"
DEFAULTS_DEST = "/etc/default/prometheus-alertmanager"
AMTOOL_DEST = "/etc/prometheus/amtool.yml"
TEMPLATES_DIR = "/etc/prometheus/alertmanager_templates"
# Copied as it is (Go templates, not Jinja) from templates/ to the same path.
EMAIL_TEMPLATE = f"{TEMPLATES_DIR}/koumbit.tmpl"
CHECK = f"amtool check-config {CONFIG_DEST}"

GROUP_BY = ("concern", "server", "site")
GROUP_WAIT = "30s"
GROUP_INTERVAL = "2m"
REPEAT_INTERVAL = "6h"
SERVER_DOWN = "KoumbitServerDown"
# Go templates of koumbit.tmpl that Alertmanager fills for each e-mail.
SUBJECT = '{{ template "koumbit.subject" . }}'
TEXT = '{{ template "koumbit.text" . }}'


@dataclass(frozen=True)
class Route:
    """A child of the root route: alerts matching all ``matchers`` go to ``receiver``."""

    receiver: str
    matchers: tuple[str, ...]


@dataclass(frozen=True)
class Inhibition:
    """While an alert matching ``source`` fires, alerts matching ``target`` that have the
    same values of ``equal`` stay quiet."""

    source: tuple[str, ...]
    target: tuple[str, ...]
    equal: tuple[str, ...]


@dataclass(frozen=True)
class AlertmanagerConfig:
    """Everything alertmanager.yml says, in the order it says it."""

    smarthost: str
    sender: str
    email_template: str
    default_receiver: str
    routes: tuple[Route, ...]
    inhibitions: tuple[Inhibition, ...]
    receivers: tuple[Receiver, ...]
    group_by: tuple[str, ...] = GROUP_BY
    group_wait: str = GROUP_WAIT
    group_interval: str = GROUP_INTERVAL
    repeat_interval: str = REPEAT_INTERVAL
    subject: str = SUBJECT
    text: str = TEXT


def _one_of(label: str, values: tuple[str, ...]) -> str:
    """A matcher on ``label``: equal to the one value, or to any of several."""
    if len(values) == 1:
        return f'{label}="{values[0]}"'
    return f'{label}=~"{"|".join(values)}"'


def route(route: AlertRoute) -> Route:
    """The Alertmanager route of one inventory route (concerns and severities, both must match)."""
    matchers = []
    if route.concerns:
        matchers.append(_one_of("concern", tuple(c.value for c in route.concerns)))
    if route.severities:
        matchers.append(_one_of("severity", tuple(s.value for s in route.severities)))
    return Route(route.receiver, tuple(matchers))


# A server that is down silences every other alert that names it.
SERVER_DOWN_INHIBITS = Inhibition(
    source=(f'alertname="{SERVER_DOWN}"',),
    target=(f'alertname!="{SERVER_DOWN}"',),
    equal=("server",),
)


def alertmanager_config(inv: Inventory) -> AlertmanagerConfig:
    alerting = inv.alerting
    return AlertmanagerConfig(
        smarthost=f"{mail.LISTEN}:{mail.SMTP_PORT}",
        sender=alerting.sender or inv.settings.admin_email,
        email_template=EMAIL_TEMPLATE,
        default_receiver=alerting.receivers[0].name,
        routes=tuple(route(r) for r in alerting.routes),
        inhibitions=(SERVER_DOWN_INHIBITS,),
        receivers=alerting.receivers,
    )


def alertmanager_files(inv: Inventory) -> tuple[ConfigFile, ...]:
    """Files of Alertmanager on a monitoring server (its e-mail template is copied, not
    rendered): its flags, its configuration, and amtool's defaults."""
    return (
        ConfigFile("alertmanager", "etc/default/prometheus-alertmanager.j2", DEFAULTS_DEST,
                   "644", {"listen": LISTEN, "external_url": EXTERNAL_URL}),
        ConfigFile("alertmanager", "etc/prometheus/alertmanager.yml.j2", CONFIG_DEST, "644",
                   {"am": alertmanager_config(inv)}),
        ConfigFile("alertmanager", "etc/prometheus/amtool.yml.j2", AMTOOL_DEST, "644",
                   {"url": EXTERNAL_URL}),
    )
