"""Generated inventories and usage, built in memory: for benchmarks and property tests."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

from koumbit_infra.cost.period import Month
from koumbit_infra.cost.usage.records import Usage
from koumbit_infra.inventory import Inventory, Role
from koumbit_infra.inventory import synthetic as inventory_synthetic
from koumbit_infra.inventory.models import (
    GIB,
    Admin,
    Budget,
    BudgetCategory,
    BudgetLine,
    Client,
    Cms,
    Contact,
    Plan,
    Server,
    ServerCost,
    Settings,
    SharedPolicy,
    Site,
    SiteState,
    Size,
    Solidarity,
)

# The same catalogue as the generated example inventories on disk.
PLANS = tuple(Plan.model_validate(plan) for plan in inventory_synthetic.PLANS)

_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICRqnvZA1x5XzknoC+YbTV0MkLB8+zgraS2XFDgf9Ryk x"


def generated_inventory(
    clients: int = 2000,
    sites: int = 5000,
    *,
    sites_per_server: int = 100,
    fiscal_year: str = "2026-2027",
    policy: SharedPolicy = SharedPolicy.BY_RESERVED,
    seed: int = 7,
) -> Inventory:
    """An inventory of ``clients`` clients holding ``sites`` sites, the same for a given seed.

    About one client in seven holds a solidarity account, some of them
    started during the fiscal year; a few servers enter service mid-year.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not secrets
    first_year = int(fiscal_year[:4])
    web_count = max(1, -(-sites // sites_per_server))
    servers = [
        Server(
            name=f"web{i + 1}", address=f"10.1.{i // 250}.{i % 250 + 1}",
            roles=frozenset({Role.WEB, Role.DB}),
            size=Size(cpus=32, memory_gib=128, disk_gib=4000),
            cost=ServerCost(monthly_cad=Decimal(rng.choice(("420.00", "510.00", "600.00")))),
            since=date(first_year, rng.randint(4, 12), rng.randint(1, 28)) if i % 7 == 6 else None,
        )
        for i in range(web_count)
    ]
    servers.append(Server(
        name="backup1", address="10.2.0.1", roles=frozenset({Role.BACKUP}),
        size=Size(cpus=4, memory_gib=8, disk_gib=20000),
        cost=ServerCost(purchase_cad=Decimal("9000.00"), amortisation_months=60,
                        hosting_monthly_cad=Decimal("80.00")),
    ))
    servers.append(Server(
        name="mon1", address="10.2.0.2", roles=frozenset({Role.MONITOR}),
        size=Size(cpus=2, memory_gib=4, disk_gib=200), cost=ServerCost(monthly_cad=Decimal(40)),
    ))
    counts = [sites // clients + (1 if i < sites % clients else 0) for i in range(clients)]
    made: list[Client] = []
    number = 0
    for index, count in enumerate(counts):
        plan = rng.choice(PLANS)
        solidarity = None
        paid = plan.monthly_price_cad
        if index % 7 == 3:
            month = rng.randint(1, 24)
            start = date(first_year - 1 + (month - 1) // 12, (month - 1) % 12 + 1, 1)
            solidarity = Solidarity(since=start)
            paid = Decimal(rng.choice(("0.00", "5.00", "10.00", "15.00")))
        client_sites = []
        for _ in range(count):
            number += 1
            client_sites.append(Site(
                domain=f"site{number}.client{index}.test",
                cms=Cms.WORDPRESS if number % 3 else Cms.DRUPAL,
                server=f"web{(number - 1) % web_count + 1}",
                state=SiteState.DISABLED if number % 41 == 0 else SiteState.ACTIVE,
            ))
        made.append(Client(
            slug=f"client{index}", name=f"Organisme {index}", plan=plan.name,
            monthly_price_paid_cad=paid, solidarity=solidarity,
            contact=Contact(name="Contact", email=f"c{index}@example.test"),
            sites=tuple(client_sites),
        ))
    budget = Budget(
        fiscal_year=fiscal_year, start_month=4, allocated_cad=Decimal("400000.00"),
        shared_policy=policy,
        lines=(
            BudgetLine(name="Stockage hors site", category=BudgetCategory.BACKUP_STORAGE,
                       monthly_cad=Decimal("400.00")),
            BudgetLine(name="Transit", category=BudgetCategory.TRANSIT,
                       monthly_cad=Decimal("600.00")),
            BudgetLine(name="Domaines", category=BudgetCategory.DOMAINS,
                       yearly_cad=Decimal("3000.00")),
            BudgetLine(name="Heures Infra", category=BudgetCategory.STAFF_HOURS,
                       hours_per_month=Decimal(160), hourly_rate_cad=Decimal("32.50")),
        ),
    )
    return inventory_from(servers, made, budget, env="generated")


def inventory_from(
    servers: Sequence[Server],
    clients: Sequence[Client],
    budget: Budget,
    plans: Sequence[Plan] = PLANS,
    env: str = "test",
) -> Inventory:
    """An inventory from models built in code (not validated across files like a loaded one)."""
    return Inventory(
        env=env,
        root=Path(env),
        settings=Settings(admin_email="infra@example.test"),
        admins=(Admin(name="infra", full_name="Infra", ssh_keys=(_KEY,)),),
        servers=tuple(servers),
        plans=tuple(plans),
        clients=tuple(clients),
        budget=budget,
    )


def generated_usage(inv: Inventory, month: Month, seed: int = 7) -> tuple[Usage, ...]:
    """Plausible usage for most sites of ``inv``: partial data, a few moves, some heavy users."""
    rng = random.Random(f"{seed}-{month}")  # noqa: S311 - reproducible sample data
    web = [s.name for s in inv.servers if s.has(Role.WEB)]
    seconds = Decimal(month.hours * 3600)
    found: list[Usage] = []
    for placed in inv.placed_sites():
        roll = rng.random()
        if roll < 0.1:
            continue  # no data at all: charged its reservation
        site = placed.site.domain
        disk = Decimal(rng.randint(1, 30) * GIB)
        cores = Decimal(rng.choice(("0.02", "0.05", "0.3", "1.5")))
        if roll < 0.12 and len(web) > 1:
            other = web[(web.index(placed.site.server) + 1) % len(web)]
            for server, coverage in ((other, Decimal("0.4")), (placed.site.server,
                                                              Decimal("0.6"))):
                found.append(Usage(site, server, coverage, cores * seconds * coverage,
                                   None, disk))
            continue
        coverage = Decimal(1) if roll > 0.3 else Decimal(rng.randint(1, 99)) / 100
        found.append(Usage(site, placed.site.server, coverage, cores * seconds * coverage,
                           None, disk))
    return tuple(found)
