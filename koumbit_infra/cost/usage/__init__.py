"""Usage sources: what each site used over a month, and where that is read from.

``records`` (the ``Usage`` record, the ``UsageSource`` protocol, reserved-only and recorded
sources), ``prometheus`` (the exporter's series over HTTP), ``prometheus_ssh`` (the same on a
monitoring server, through SSH), ``synthetic`` (generated inventories and usage).

Imports only ``cost.period`` from the cost model; ``allocation``, ``ledger`` and the facade
(``koumbit_infra.cost``) import it.
"""
