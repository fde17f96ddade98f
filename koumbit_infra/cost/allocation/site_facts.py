"""What the cost model needs to know about an inventory's sites, worked out once."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from koumbit_infra.cost.allocation.reservation import Reservation, hosted_hours, reservation
from koumbit_infra.cost.period import Month
from koumbit_infra.inventory import Inventory, PlacedSite, Role, Server


@dataclass
class SiteFacts:
    """The inventory's sites by domain, their reservations, and who each shared server serves.

    Built once per inventory and reused for every month it is allocated over.
    """

    inv: Inventory
    placed: list[PlacedSite] = field(init=False)
    by_domain: dict[str, PlacedSite] = field(init=False)
    reserved: dict[str, Reservation] = field(init=False)
    web: frozenset[str] = field(init=False)
    _by_system_name: dict[str, PlacedSite] | None = field(init=False, default=None)
    _tenants: dict[str, list[PlacedSite]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.placed = sorted(self.inv.placed_sites(), key=lambda p: p.site.domain)
        self.by_domain = {p.site.domain: p for p in self.placed}
        self.reserved = {p.site.domain: reservation(self.inv, p) for p in self.placed}
        self.web = frozenset(s.name for s in self.inv.servers if s.has(Role.WEB))

    def find(self, label: str) -> PlacedSite | None:
        """The site a usage label names: its domain (what the exporter uses) or system name."""
        found = self.by_domain.get(label)
        if found is None:
            if self._by_system_name is None:
                self._by_system_name = {p.site.system_name: p for p in self.placed}
            found = self._by_system_name.get(label)
        return found

    def hosted_hours(self, month: Month) -> dict[str, Decimal]:
        """Hours of ``month`` each site could be hosted, by domain."""
        return {p.site.domain: Decimal(hosted_hours(self.inv, p, month)) for p in self.placed}

    def tenants(self, server: Server) -> list[PlacedSite]:
        """Sites a server with no site of its own serves: all, or those whose databases it holds."""
        if server.name not in self._tenants:
            users = {s.name for s in self.inv.servers
                     if s.has(Role.WEB) and s.database_host == server.name}
            self._tenants[server.name] = (
                [p for p in self.placed if p.site.server in users] if users else self.placed
            )
        return self._tenants[server.name]
