"""The whole inventory of one environment, loaded and valid."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from koumbit_infra.inventory.models import (
    Admin,
    Alerting,
    Budget,
    Client,
    LineChange,
    Plan,
    Role,
    Server,
    ServerOffer,
    Settings,
    Site,
    SiteState,
)
from koumbit_infra.inventory.problems import Problem
from koumbit_infra.inventory.staging import staging_site


@dataclass(frozen=True)
class PlacedSite:
    """A site with the client that owns it: what deploys, exporter and costs iterate over."""

    client: Client
    site: Site
    # The client's site this one is the staging copy of; None for a site of its own.
    staging_of: Site | None = None

    @property
    def plan_name(self) -> str:
        return self.client.plan

    @property
    def is_staging(self) -> bool:
        return self.staging_of is not None


@dataclass(frozen=True)
class Inventory:
    """Servers, plans, clients with their sites, and the budget of one environment."""

    env: str
    root: Path
    settings: Settings
    admins: tuple[Admin, ...]
    servers: tuple[Server, ...]
    plans: tuple[Plan, ...]
    clients: tuple[Client, ...]
    budget: Budget
    warnings: tuple[Problem, ...] = ()
    catalogue: tuple[ServerOffer, ...] = ()  # budget.yaml: servers to buy or rent next
    line_changes: tuple[LineChange, ...] = ()  # budget.yaml: known changes in shared lines
    alerting_section: Alerting | None = None  # servers.yaml's alerting:, when written
    _servers: dict[str, Server] = field(init=False, repr=False, compare=False)
    _plans: dict[str, Plan] = field(init=False, repr=False, compare=False)
    _placed: tuple[PlacedSite, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_servers", {s.name: s for s in self.servers})
        object.__setattr__(self, "_plans", {p.name: p for p in self.plans})
        placed = []
        for client in self.clients:
            for site in client.sites:
                placed.append(PlacedSite(client, site))
                if site.staging is not None:
                    copy = staging_site(site, self.settings.staging_name)
                    placed.append(PlacedSite(client, copy, site))
        object.__setattr__(self, "_placed", tuple(placed))

    @property
    def alerting(self) -> Alerting:
        """Where alerts go: servers.yaml's ``alerting:``, or every alert to admin_email."""
        return self.alerting_section or Alerting.to_admin(self.settings.admin_email)

    def server(self, name: str) -> Server:
        return self._servers[name]

    def plan(self, name: str) -> Plan:
        return self._plans[name]

    def servers_with(self, role: Role) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if role in s.roles)

    def placed_sites(self) -> Iterator[PlacedSite]:
        """Every site of every client, each staging copy right after its site."""
        yield from self._placed

    def staging_copy(self, placed: PlacedSite) -> PlacedSite | None:
        """The staging copy of ``placed`` in the inventory, if it has one."""
        return next((p for p in self._placed if p.staging_of is not None
                     and p.staging_of.domain == placed.site.domain), None)

    def sites_on(self, server: str) -> tuple[PlacedSite, ...]:
        """Sites that live on ``server``, in a stable order (by domain)."""
        found = [p for p in self.placed_sites() if p.site.server == server]
        return tuple(sorted(found, key=lambda p: p.site.domain))

    def site(self, domain: str) -> PlacedSite:
        """The site whose primary domain or alias is ``domain``; KeyError if none."""
        wanted = domain.lower().removesuffix(".")  # the inventory holds canonical spellings
        for placed in self.placed_sites():
            if wanted in placed.site.all_domains:
                return placed
        raise KeyError(domain)

    def php_version(self, site: Site) -> str:
        return site.php_version or self.server(site.server).php_versions[0]

    def disk_quota_gib(self, placed: PlacedSite) -> int:
        return placed.site.disk_quota_gib or self.plan(placed.client.plan).disk_quota_gib

    def committed_quota_gib(self, server: str) -> int:
        """Sum of the disk quotas of the sites (not absent) on ``server``."""
        return sum(
            self.disk_quota_gib(p)
            for p in self.sites_on(server)
            if p.site.state is not SiteState.ABSENT
        )
