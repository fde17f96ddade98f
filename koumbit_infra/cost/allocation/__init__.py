"""Allocation: one month's costs split over sites and clients, to the cent (OpenCost-style).

``allocator`` (the steps, in order), ``prices`` (a server's cost split by resource),
``site_facts`` and ``reservation`` (what each site holds), ``demand`` (max(reserved, used)),
``shared_weights`` (the shared-cost policies), ``charges`` (rounding once, top down, into an
``Allocation``), ``client_cost`` (a client's price, cost and solidarity share).

Imports ``usage`` and the shared ``period``, ``cents`` and ``results``; ``ledger``,
``publishing`` and the facade import it.
"""
