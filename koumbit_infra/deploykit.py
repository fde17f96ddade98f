"""What every deploy file needs: the typed inventory of the current host, and
config files written from ``serverconf.files`` with one named operation each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.operations import files

from koumbit_infra.inventory import Inventory, Server
from koumbit_infra.pyinfra_inventory import cached_inventory
from koumbit_infra.serverconf.files import ConfigFile
from koumbit_infra.templating import jinja_env_kwargs, template_path


def current() -> tuple[Inventory, Server]:
    """The validated inventory and the server pyinfra is deploying right now."""
    inv = cached_inventory(Path(host.data.koumbit_inventory))
    return inv, inv.server(host.name)


def write(cfg: ConfigFile) -> OperationMeta:
    """Render ``cfg`` onto the host (root-owned, its explicit mode); the op is named by path."""
    return files.template(
        name=f"{cfg.concern}: {cfg.dest}",
        src=template_path(cfg.template),
        dest=cfg.dest,
        user="root",
        group=cfg.group,
        mode=cfg.mode,
        jinja_env_kwargs=jinja_env_kwargs(),
        **cfg.context,
    )


def write_all(cfgs: Iterable[ConfigFile]) -> list[OperationMeta]:
    return [write(cfg) for cfg in host.loop(list(cfgs))]  # type: ignore[no-untyped-call]


def any_changed(metas: Iterable[OperationMeta]) -> Callable[[], bool]:
    """An ``_if`` condition true when any of ``metas`` changed something (checked at run time)."""
    found = list(metas)
    return lambda: any(m.did_change() for m in found)
