"""Publishing: what leaves the cost model, for reports and for Prometheus.

``period_costs`` (a period's months, from the ledger or computed, added up: what reports
read), ``metrics`` (the cost and budget metrics), ``textfile`` (those metrics written on a
monitoring server for node_exporter).

Imports ``ledger``, ``allocation``, ``usage`` and the shared modules; only the facade and
``cost/cli.py`` import it.
"""
