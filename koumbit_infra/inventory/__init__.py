"""The inventory: typed, frozen models of servers, plans, clients, sites and budget."""

from koumbit_infra.inventory.environment import Inventory, PlacedSite
from koumbit_infra.inventory.loader import load_inventory
from koumbit_infra.inventory.models import (
    Admin,
    Budget,
    BudgetCategory,
    BudgetLine,
    Client,
    Cms,
    Person,
    Plan,
    Role,
    Server,
    Site,
    SiteState,
)
from koumbit_infra.inventory.problems import InventoryError, Problem, Severity

__all__ = [
    "Admin",
    "Budget",
    "BudgetCategory",
    "BudgetLine",
    "Client",
    "Cms",
    "Inventory",
    "InventoryError",
    "Person",
    "PlacedSite",
    "Plan",
    "Problem",
    "Role",
    "Server",
    "Severity",
    "Site",
    "SiteState",
    "load_inventory",
]
