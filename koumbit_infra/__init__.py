"""koumbit-infra: the Infra team's toolkit (inventory, deploys, exporter, costs)."""

__version__ = "0.1.0"
