"""Memory and disk budgets of the services on one server, from its declared size."""

from __future__ import annotations

from koumbit_infra.inventory import Role, Server

MIB_PER_GIB = 1024


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def opcache_memory_mib(server: Server) -> int:
    """OPcache shared memory per PHP version: 3 % of RAM, between 128 and 512 MiB.

    A Drupal or WordPress codebase compiles to 20-40 MiB of opcodes and sites
    share nothing, so 128 MiB holds a handful of sites and 512 MiB about
    twenty distinct codebases; beyond that memory serves PHP workers better.
    """
    mib = server.size.memory_gib * MIB_PER_GIB * 3 // 100
    return _clamp(mib, 128, 512)


# How often OPcache looks at a script's time: a code update is served whole at most this
# many seconds later (koumbit-site-update's smoke test waits that long).
OPCACHE_REVALIDATE_S = 2


def opcache_max_files(server: Server) -> int:
    """Scripts OPcache can hold: a Drupal core alone counts about 15 000 files."""
    return 20000 if opcache_memory_mib(server) < 256 else 60000


def innodb_buffer_pool_mib(server: Server) -> int:
    """InnoDB buffer pool: a quarter of RAM beside PHP, half of it on a database-only server.

    Rounded down to 128 MiB, InnoDB's chunk size, so the configured value is
    the value the server reports; never below 128 MiB.
    """
    share = 4 if server.has(Role.WEB) else 2
    mib = server.size.memory_gib * MIB_PER_GIB // share
    return max(128, mib // 128 * 128)


def innodb_log_file_mib(server: Server) -> int:
    """Redo log: a quarter of the buffer pool, capped at 1 GiB (MariaDB's guidance)."""
    return _clamp(innodb_buffer_pool_mib(server) // 4, 64, 1024)


def journald_max_use_mib(server: Server) -> int:
    """Persistent journal size: 1 % of the declared disk, between 256 MiB and 2 GiB."""
    return _clamp(server.size.disk_gib * MIB_PER_GIB // 100, 256, 2048)
