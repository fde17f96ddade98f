"""What every deploy file needs: the typed inventory of the current host, and
config files written from ``serverconf.files`` with one named operation each.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

from gevent.lock import BoundedSemaphore
from pyinfra.api.facts import FactBase
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host, inventory
from pyinfra.operations import files

from koumbit_infra.converge import need
from koumbit_infra.inventory import Inventory, Server
from koumbit_infra.pyinfra_inventory import cached_inventory
from koumbit_infra.serverconf.files import ConfigFile
from koumbit_infra.templating import jinja_env_kwargs, template_path

T = TypeVar("T")


def current() -> tuple[Inventory, Server]:
    """The validated inventory and the server pyinfra is deploying right now."""
    inv = cached_inventory(Path(host.data.koumbit_inventory))
    return inv, inv.server(host.name)


def write(cfg: ConfigFile) -> OperationMeta | None:
    """Render ``cfg`` onto the host (root-owned, its explicit mode); the op is named by path.

    ``None`` when the file on the server is already this one (see ``converge``).
    """
    return need(
        files.template,
        name=f"{cfg.concern}: {cfg.dest}",
        src=template_path(cfg.template),
        dest=cfg.dest,
        user="root",
        group=cfg.group,
        mode=cfg.mode,
        jinja_env_kwargs=jinja_env_kwargs(),
        **cfg.context,
    )


def write_all(cfgs: Iterable[ConfigFile]) -> list[OperationMeta | None]:
    return [write(cfg) for cfg in host.loop(list(cfgs))]


_FACT_CACHE: dict[tuple[str, str, str], Any] = {}
_FACT_LOCK = BoundedSemaphore()


def fact_of(host_name: str, fact: type[FactBase[T]], **kwargs: str) -> T:
    """A fact of another host, read once per deploy and shared by every host asking.

    Every client asks the backup server for the same host key at the same
    moment; sshd's MaxSessions (4 here) refuses that many
    parallel channels on one connection, so the reads are serialised and
    cached. Only for facts that the deploy itself does not change.
    """
    key = (host_name, fact.__name__, repr(sorted(kwargs.items())))
    with _FACT_LOCK:
        if key not in _FACT_CACHE:
            _FACT_CACHE[key] = inventory.get_host(host_name).get_fact(fact, **kwargs)
    return cast(T, _FACT_CACHE[key])
