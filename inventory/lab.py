"""pyinfra inventory of the 'lab' environment, built from inventory/lab/ (validated first)."""

from pathlib import Path

from koumbit_infra.pyinfra_inventory import groups as _groups

globals().update(_groups(Path(__file__).with_suffix("")))
