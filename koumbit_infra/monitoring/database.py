"""The exporter's MariaDB account: who it is, what it may do, where its password lives.

Per koumbit_infra.exporter's docstring: ``koumbit_exporter@localhost`` with
``SHOW VIEW ON *.*`` only (enough for information_schema.TABLES to list
every table's size, and nothing to read rows with), and the password in a
root-only option file that systemd hands to the service (LoadCredential).
The fact and the operation that make it are facts/monitoring.py and
operations/monitoring.py.
"""

from __future__ import annotations

USER = "koumbit_exporter"
OPTION_FILE = "/etc/koumbit/exporter-mariadb.cnf"
GRANT = "SHOW VIEW"
