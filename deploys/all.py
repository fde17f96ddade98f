"""Every server concern, in order: `koumbit-infra deploy --env ENV` runs this file.

Order: the base (firewall, sshd, admins) first; TLS trust before anything
that talks TLS; web and database before sites; clients' SFTP once their
sites' trees exist; backups last, so the first
backup holds the finished server; the site probes before Prometheus, whose
scrape jobs read their target files. A new concern is one import and one call.
"""

from __future__ import annotations

from deploys.alerting import alerts
from deploys.backups import backups
from deploys.database import database
from deploys.monitoring import monitoring
from deploys.probes import probes
from deploys.prometheus import prometheus
from deploys.server import base
from deploys.sftp import client_sftp
from deploys.sites import sites
from deploys.tls import tls
from deploys.web import web
from koumbit_infra.converge import converge

# Each host answers every concern's questions in a few round trips, and only
# operations with work are sent (koumbit_infra.converge says how).
converge(base, tls, web, database, sites, client_sftp, monitoring, probes, prometheus, alerts,
         backups)
