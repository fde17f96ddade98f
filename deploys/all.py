"""Every server concern, in order: `koumbit-infra deploy --env ENV` runs this file.

Order: the base (firewall, sshd, admins) first; TLS trust before anything
that talks TLS; web and database before sites; backups last, so the first
backup holds the finished server. A new concern is one import and one call.
"""

from __future__ import annotations

from deploys.backups import backups
from deploys.database import database
from deploys.monitoring import monitoring
from deploys.prometheus import prometheus
from deploys.server import base
from deploys.sites import sites
from deploys.tls import tls
from deploys.web import web

base()
tls()
web()
database()
sites()
monitoring()
prometheus()
backups()
