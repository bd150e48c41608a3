"""Versioned creation and upgrade of the SQL backend's tables.

The database records the version of its tables in ``scim_schema_version``.
A new database is created at :data:`~.schema.SCHEMA_VERSION` in one step (the
current table definitions); an existing one is brought forward by the steps
in :data:`STEPS`, one per version, in one transaction. A database of a
version this code does not know (a newer release wrote it) is refused, never
used: reading tables whose meaning changed would corrupt them quietly.

Upgrades take a lock first (``pg_advisory_xact_lock`` on PostgreSQL; SQLite's
write lock through ``BEGIN IMMEDIATE``), so several app processes starting
together upgrade once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sqlalchemy import Connection
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.schema import CreateSchema

from . import schema

__all__ = ["STEPS", "SchemaVersionError", "current_version", "opens", "upgrade"]

_LOCK_KEY: Final = 0x5C1A_0001
"""The advisory lock PostgreSQL upgrades serialise on."""

STEPS: dict[int, Callable[[Connection], None]] = {}
"""``STEPS[n]`` turns a version ``n - 1`` database into version ``n``.

Version 1 is the first: it has no step, since a new database is created
whole. A release that changes the tables bumps ``SCHEMA_VERSION``, adds the
step, and changes the table definitions to match what the step produces.
"""


def _add_secrets(connection: Connection) -> None:
    """1 → 2: the table of shared secrets (the cursor signing key)."""
    schema.secrets.create(connection)


STEPS[2] = _add_secrets


class SchemaVersionError(RuntimeError):
    """The database's tables are not at the version this code uses."""


def current_version(connection: Connection, db_schema: str | None) -> int:
    """The version the database records; 0 for a database without our tables."""
    if not inspect(connection).has_table(schema.schema_version.name, schema=db_schema):
        return 0
    found = connection.execute(select(schema.schema_version.c.version)).scalar()
    return int(found) if found is not None else 0


def opens(found: int, *, create: bool, upgrade: bool) -> bool:
    """Whether a database whose tables are at ``found`` is to be created or
    upgraded before use (``False``: it is at this code's version).

    :raises SchemaVersionError: when it is newer than this code, empty
        without ``create``, or older without ``upgrade``.
    """
    # Read at run time, not import time: the one place a version lives.
    current = schema.SCHEMA_VERSION
    if found > current:
        raise SchemaVersionError(newer_message(found))
    if found == 0 and not create:
        raise SchemaVersionError(older_message(found))
    if 0 < found < current and not upgrade:
        raise SchemaVersionError(older_message(found))
    return found < current


def upgrade(connection: Connection, db_schema: str | None = None) -> tuple[int, int]:
    """Create or upgrade the tables; returns (version before, version after).

    ``connection`` is in a transaction that may write (on SQLite, begun with
    ``BEGIN IMMEDIATE``); the caller commits it.

    :raises SchemaVersionError: when the database is newer than this code.
    """
    target = schema.SCHEMA_VERSION
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}
        )
        if db_schema is not None:
            connection.execute(CreateSchema(db_schema, if_not_exists=True))
    before = current_version(connection, db_schema)
    if before > target:
        raise SchemaVersionError(newer_message(before))
    if before == 0:
        schema.metadata.create_all(connection)
        connection.execute(schema.schema_version.insert().values(id=1, version=target))
        if connection.dialect.name == "sqlite":
            plan_statistics(connection)
        return 0, target
    for version in range(before + 1, target + 1):
        STEPS[version](connection)
        connection.execute(update(schema.schema_version).values(version=version))
    return before, target


# Rows in the index, then rows per distinct value of each leading column
# prefix: the shape of a deployment with a few tenants of many users.
_SQLITE_STATISTICS: Final = {
    "scim_users": {
        None: "1000000",
        "sqlite_autoindex_scim_users_1": "1000000 100000 1",
        "scim_users_order": "1000000 100000 100000 1",
        "scim_users_user_name": "1000000 100000 1",
        "scim_users_external_id": "1000000 100000 2",
        "scim_users_display_name": "1000000 100000 3",
        "scim_users_family_name": "1000000 100000 100",
        "scim_users_modified": "1000000 100000 3",
    },
    "scim_groups": {
        None: "100000",
        "sqlite_autoindex_scim_groups_1": "100000 10000 1",
        "scim_groups_order": "100000 10000 10000 1",
        "scim_groups_display_name": "100000 10000 1",
        "scim_groups_external_id": "100000 10000 2",
    },
    "scim_group_members": {
        None: "10000000",
        "sqlite_autoindex_scim_group_members_1": "10000000 1000000 1000 1",
        "scim_group_members_order": "10000000 1000000 1000 1",
        "scim_group_members_by_user": "10000000 1000000 10 1",
    },
    "scim_emails": {
        None: "1500000",
        "sqlite_autoindex_scim_emails_1": "1500000 150000 2 1",
        "scim_emails_value": "1500000 150000 2",
    },
    "scim_tokens": {
        None: "1000",
        "sqlite_autoindex_scim_tokens_1": "1000 1",
        "scim_tokens_tenant": "1000 3 1",
    },
}


def plan_statistics(connection: Connection) -> None:
    """Give SQLite's planner the statistics of a large database up front.

    Without statistics SQLite guesses that every index equality finds about
    ten rows, and then prefers walking the default order's index
    ``(tenant, managed, seq)`` to looking ids up by primary key, or to the
    ``externalId`` index: a scan of the tenant for what is one row. Writing
    ``sqlite_stat1`` by hand is the documented way to fix plans; a later
    ``ANALYZE`` replaces these figures with measured ones.
    """
    connection.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1
    rows = [
        (table, index, stat)
        for table, indexes in _SQLITE_STATISTICS.items()
        for index, stat in indexes.items()
    ]
    connection.exec_driver_sql(
        "DELETE FROM sqlite_stat1 WHERE tbl IN ({})".format(
            ", ".join("?" for _ in _SQLITE_STATISTICS)
        ),
        tuple(_SQLITE_STATISTICS),
    )
    for row in rows:
        connection.exec_driver_sql(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", row
        )
    connection.exec_driver_sql("ANALYZE sqlite_schema")  # reload them


def newer_message(found: int) -> str:
    return (
        f"the database's SCIM tables are at version {found}, newer than this "
        f"tomorro-scim's {schema.SCHEMA_VERSION}: upgrade tomorro-scim; "
        "it will not use tables it does not know"
    )


def older_message(found: int) -> str:
    if found == 0:
        return (
            "the database has no SCIM tables: run 'tomorro-scim db upgrade "
            "--database URL' (or SqlStorage(url, create=True))"
        )
    return (
        f"the database's SCIM tables are at version {found}, older than this "
        f"tomorro-scim's {schema.SCHEMA_VERSION}: run 'tomorro-scim db upgrade "
        "--database URL' (or SqlStorage(url, upgrade=True))"
    )
