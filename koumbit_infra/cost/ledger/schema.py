"""The ledger's tables, in SQL that runs unchanged on SQLite and PostgreSQL.

Money is stored as BIGINT whole cents. Every amount is already rounded to
the cent before it is written, so integer cents are exact; unlike a TEXT
decimal they can be summed in SQL on both engines; and unlike NUMERIC they
keep their exactness in SQLite, whose NUMERIC affinity would store 12.30 as
a binary float. Ratios (the solidarity share) are TEXT decimals, read back
with ``Decimal``. Dates and times are ISO-8601 TEXT; booleans are SMALLINT
0/1. No engine-specific types, no AUTOINCREMENT/SERIAL: rows are keyed by
(env, month, version), with ``version`` chosen by the writer. ``reason`` is NULL
unless the version replaced another with ``--revise``; ``lines_hash`` is the hash of
the version's cost lines alone (NULL in versions closed before it existed).
"""

from __future__ import annotations

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS cost_close (
        env TEXT NOT NULL,
        month TEXT NOT NULL,
        version INTEGER NOT NULL,
        closed_at TEXT NOT NULL,
        inventory_revision TEXT,
        usage_source TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        total_cents BIGINT NOT NULL,
        idle_cents BIGINT NOT NULL,
        warnings TEXT NOT NULL,
        reason TEXT,
        lines_hash TEXT,
        PRIMARY KEY (env, month, version)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS cost_line (
        env TEXT NOT NULL,
        month TEXT NOT NULL,
        version INTEGER NOT NULL,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        name_en TEXT NOT NULL,
        resource TEXT NOT NULL,
        amount_cents BIGINT NOT NULL,
        PRIMARY KEY (env, month, version, position),
        FOREIGN KEY (env, month, version) REFERENCES cost_close (env, month, version)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS cost_site_server (
        env TEXT NOT NULL,
        month TEXT NOT NULL,
        version INTEGER NOT NULL,
        site TEXT NOT NULL,
        server TEXT NOT NULL,
        cpu_cents BIGINT NOT NULL,
        memory_cents BIGINT NOT NULL,
        disk_cents BIGINT NOT NULL,
        PRIMARY KEY (env, month, version, site, server),
        FOREIGN KEY (env, month, version) REFERENCES cost_close (env, month, version)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS cost_site (
        env TEXT NOT NULL,
        month TEXT NOT NULL,
        version INTEGER NOT NULL,
        site TEXT NOT NULL,
        client TEXT NOT NULL,
        plan TEXT NOT NULL,
        shared_cents BIGINT NOT NULL,
        idle_share_cents BIGINT NOT NULL,
        PRIMARY KEY (env, month, version, site),
        FOREIGN KEY (env, month, version) REFERENCES cost_close (env, month, version)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS cost_idle (
        env TEXT NOT NULL,
        month TEXT NOT NULL,
        version INTEGER NOT NULL,
        server TEXT NOT NULL,
        amount_cents BIGINT NOT NULL,
        PRIMARY KEY (env, month, version, server),
        FOREIGN KEY (env, month, version) REFERENCES cost_close (env, month, version)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS cost_client (
        env TEXT NOT NULL,
        month TEXT NOT NULL,
        version INTEGER NOT NULL,
        client TEXT NOT NULL,
        name TEXT NOT NULL,
        plan TEXT NOT NULL,
        is_solidarity SMALLINT NOT NULL,
        solidarity_share TEXT NOT NULL,
        list_price_cents BIGINT NOT NULL,
        paid_cents BIGINT NOT NULL,
        cost_cents BIGINT NOT NULL,
        full_cost_cents BIGINT NOT NULL,
        solidarity_cost_cents BIGINT NOT NULL,
        solidarity_list_cents BIGINT NOT NULL,
        solidarity_paid_cents BIGINT NOT NULL,
        PRIMARY KEY (env, month, version, client),
        FOREIGN KEY (env, month, version) REFERENCES cost_close (env, month, version)
    )
    """,
)

ADDED_COLUMNS = (
    # (a query that names the table's columns, the column, the statement adding it): for
    # a ledger made before the column existed. ADD COLUMN runs on SQLite and PostgreSQL.
    ("SELECT * FROM cost_close WHERE 1 = 0", "reason",
     "ALTER TABLE cost_close ADD COLUMN reason TEXT"),
    ("SELECT * FROM cost_close WHERE 1 = 0", "lines_hash",
     "ALTER TABLE cost_close ADD COLUMN lines_hash TEXT"),
)
