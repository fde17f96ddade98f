"""Next fiscal year's Infra budget request, built from the ledger, the inventory and growth.

``propose(inventory, fiscal_year, ledger, scenario=..., growth=...)`` -> ``Proposal``:
per line this year's plan, the spending projected without change, the capacity purchases
needed (with their month), and the proposed allocation with a low and a high bound; what
the solidarity accounts will cost; the sources of every figure. ``render_proposal`` writes
it as PDF, HTML or CSV, in French or English.
"""
