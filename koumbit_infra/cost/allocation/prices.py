"""How a server's cost is split between CPU, memory and disk.

As in OpenCost, each resource has a reference price per hour; a server's
share of cost for a resource is that resource's reference value on the
server (quantity times price) over the sum of all three. Only the ratios
between the three prices matter: the server's real monthly cost is what gets
split. The defaults are OpenCost's own default on-demand prices (USD in
OpenCost; the currency cancels out in the ratio), so a 2-core, 4 GiB, 80 GiB
server puts about 75 % of its cost on CPU, 20 % on memory and 5 % on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from koumbit_infra.inventory.models import Server


class Resource(StrEnum):
    CPU = "cpu"
    MEMORY = "memory"
    DISK = "disk"


@dataclass(frozen=True)
class ResourcePrices:
    """Reference prices per hour whose ratios split a server's cost between resources."""

    cpu_core_per_hour: Decimal = Decimal("0.031611")
    memory_gib_per_hour: Decimal = Decimal("0.004237")
    # OpenCost's 0.04 per GiB-month, over its 730-hour month.
    disk_gib_per_hour: Decimal = Decimal("0.04") / 730

    def weights(self, server: Server) -> dict[Resource, Decimal]:
        """Share of ``server``'s cost carried by each resource; the three add up to 1."""
        values = {
            Resource.CPU: self.cpu_core_per_hour * server.size.cpus,
            Resource.MEMORY: self.memory_gib_per_hour * server.size.memory_gib,
            Resource.DISK: self.disk_gib_per_hour * server.size.disk_gib,
        }
        total = sum(values.values(), Decimal(0))
        if total <= 0:
            raise ValueError("resource prices must not all be zero")
        return {resource: value / total for resource, value in values.items()}
