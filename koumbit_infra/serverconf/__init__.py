"""Values the server deploys need, derived in Python from the inventory.

Templates receive these finished values; nothing here touches a server, so
unit tests check every figure and every rendered file without a lab.
"""
