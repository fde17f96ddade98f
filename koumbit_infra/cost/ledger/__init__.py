"""The ledger: closed months, kept and checked, and the fiscal year read back from them.

``store`` (the ``Ledger``: SQLite or PostgreSQL), ``schema`` (its tables), ``stored_month``
(a month as stored rows and their hash), ``trust`` (what the ledger refuses), ``closing``
(allocate a month and record it), ``git_revision`` (the inventory's commit),
``budget_projection`` (spent, run-rate and projection over the fiscal year).

Imports ``allocation``, ``usage`` and the shared modules; ``publishing`` and the facade
import it.
"""
