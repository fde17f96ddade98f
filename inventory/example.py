"""pyinfra inventory of the example environment, built from inventory/example/ (validated)."""

from pathlib import Path

from koumbit_infra.pyinfra_inventory import groups as _groups

globals().update(_groups(Path(__file__).with_suffix("")))
