"""The SQL backend: SQLAlchemy 2 Core on SQLite (embedded) and PostgreSQL (scale).

::

    from tomorro_scim.storage.sql import SqlStorage

    storage = SqlStorage("sqlite:///./tomorro-scim.db")
    storage = SqlStorage("postgresql+psycopg://app@db/app")

One :meth:`SqlStorage.session` is one database transaction. Filters,
sorting and paging run in SQL (see :mod:`.filters`); group members are rows,
changed one by one. The tables are described in :mod:`.schema` and created or
upgraded by :mod:`.migrations`. This package is the only part of the library
that imports SQLAlchemy (DESIGN rule 1).

SQLite runs in WAL mode with a busy timeout and foreign keys on, and every
session starts with ``BEGIN IMMEDIATE``: SQLite has one writer at a time, and
taking the write lock up front makes a concurrent session wait for it (up to
the busy timeout) instead of failing when it first writes. Token lookups, made
on every request, are read-only transactions that do not take it.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import nullcontext
from typing import Any

from sqlalchemy import URL
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.pool import StaticPool

from .. import GROUP
from .. import USER
from .. import StorageSession
from .. import StoredResource
from .. import TokenRecord
from . import migrations
from . import schema
from . import schema as _tables  # where a parameter is called ``schema``
from .migrations import SchemaVersionError
from .schema import SCHEMA_VERSION
from .session import SqlSession

__all__ = [
    "SCHEMA_VERSION",
    "SchemaVersionError",
    "SqlStorage",
    "StorageUnavailable",
    "upgrade_database",
]

_READ_ONLY = "tomorro_scim_read_only"


class StorageUnavailable(RuntimeError):
    """The database cannot be reached, or its driver is not installed."""


def _is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _configure_sqlite(engine: Engine, busy_timeout: float, synchronous: str) -> None:
    """Connection settings and transaction control for SQLite.

    pysqlite's own transaction handling is switched off (``isolation_level =
    None``) so that SQLAlchemy's begin emits the ``BEGIN`` we choose: the
    SQLAlchemy documentation's recipe for SQLite transactions.
    """
    milliseconds = int(busy_timeout * 1000)
    memory = _is_memory(engine.url)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {milliseconds}")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class SqlStorage:
    """A :class:`~tomorro_scim.storage.Storage` in a SQL database.

    :param url: a SQLAlchemy URL (``sqlite:///path.db``,
        ``postgresql+psycopg://user@host/db``) or an :class:`~sqlalchemy.Engine`
        the host app already has.
    :param schema: PostgreSQL schema to keep the tables in (default: the
        connection's search path).
    :param create: create the tables in a database that has none.
    :param upgrade: bring the tables of an older version forward; without it
        such a database is refused (run ``tomorro-scim db upgrade``).
    :param sqlite_busy_timeout: seconds a SQLite session waits for the write lock.
    :param sqlite_synchronous: SQLite's ``PRAGMA synchronous``; ``NORMAL``, the
        WAL default, loses no committed transaction when the process dies
        (``FULL`` survives a power loss too, at an fsync per commit).
    :param engine_options: passed to :func:`sqlalchemy.create_engine`.
    :raises SchemaVersionError: when the database's tables are of a version
        this code does not use (newer, or older without ``upgrade``).
    :raises StorageUnavailable: when the database cannot be opened.
    :raises ValueError: for a URL that is not SQLite's or PostgreSQL's.
    """

    keyset_paging = True
    """Searches resume after a position (RFC 9865 cursors) with a ``WHERE``
    on the sort column and ``seq``, not an ``OFFSET``."""

    def __init__(
        self,
        url: str | URL | Engine,
        *,
        schema: str | None = None,
        create: bool = True,
        upgrade: bool = False,
        sqlite_busy_timeout: float = 30.0,
        sqlite_synchronous: str = "NORMAL",
        **engine_options: Any,
    ) -> None:
        if sqlite_synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unknown SQLite synchronous mode {sqlite_synchronous!r}")
        if isinstance(url, Engine):
            engine = url
        else:
            try:
                parsed = make_url(url)
            except ArgumentError:
                raise ValueError(f"{url!r} is not a database URL") from None
            if parsed.get_backend_name() not in ("sqlite", "postgresql"):
                raise ValueError(
                    "tomorro-scim stores in SQLite or PostgreSQL, not "
                    f"{parsed.get_backend_name()}"
                )
            options = dict(engine_options)
            if _is_memory(parsed):
                # One database shared by every session: one connection.
                options.setdefault("poolclass", StaticPool)
                options.setdefault("connect_args", {"check_same_thread": False})
            try:
                engine = create_engine(parsed, **options)
            except (ImportError, NoSuchModuleError) as error:
                raise StorageUnavailable(
                    f"no driver for {parsed.drivername!r} ({error}); for PostgreSQL "
                    'install "tomorro-scim[postgres]"'
                ) from None
        self._sqlite = engine.dialect.name == "sqlite"
        if self._sqlite:
            _configure_sqlite(engine, sqlite_busy_timeout, sqlite_synchronous.upper())
        elif engine.dialect.name != "postgresql":
            raise ValueError(
                f"tomorro-scim stores in SQLite or PostgreSQL, not {engine.dialect.name}"
            )
        self._base_engine = engine
        if schema is not None:
            engine = engine.execution_options(schema_translate_map={None: schema})
        self.engine: Engine = engine
        """The engine sessions run on (with the schema mapping, if any)."""
        self.db_schema = schema
        # An in-memory SQLite database is one connection: sessions take turns.
        self._lock = threading.RLock() if _is_memory(engine.url) else None

        try:
            version = self._read_version()
        except DBAPIError as error:
            shown = engine.url.render_as_string(hide_password=True)
            raise StorageUnavailable(
                f"cannot open the database {shown}: {error.orig}"
            ) from None
        self._cursor_secret: bytes | None = None
        self.found_version = version
        """The version the tables were at when this storage opened them."""
        # Read at run time, not import time: the one place a version lives.
        current = _tables.SCHEMA_VERSION
        if version > current:
            raise SchemaVersionError(migrations.newer_message(version))
        if version == 0 and not create:
            raise SchemaVersionError(migrations.older_message(version))
        if 0 < version < current and not upgrade:
            raise SchemaVersionError(migrations.older_message(version))
        if version < current:
            self.upgrade()

    def _read_version(self) -> int:
        with self._turn(), self._connect(read_only=True) as connection:
            return migrations.current_version(connection, self.db_schema)

    @property
    def schema_version(self) -> int:
        """The version the database's tables are at."""
        return self._read_version()

    def upgrade(self) -> tuple[int, int]:
        """Create or upgrade the tables; returns (version before, version after)."""
        with self._turn():
            return migrations.upgrade(self.engine, self.db_schema)

    def close(self) -> None:
        """Close the pooled connections."""
        self._base_engine.dispose()

    def _turn(self) -> Any:
        return self._lock if self._lock is not None else nullcontext()

    @contextmanager
    def _connect(self, *, read_only: bool = False) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            if read_only:
                connection = connection.execution_options(**{_READ_ONLY: True})
            with connection.begin():
                yield connection

    # -- the Storage protocol -----------------------------------------------

    @contextmanager
    def session(self, tenant: str) -> Iterator[StorageSession]:
        """A transaction on ``tenant``'s data; commits on success, rolls back on error."""
        with self._turn(), self._connect() as connection:
            session = SqlSession(tenant, connection)
            yield session
            session.finish()

    def save_token(self, record: TokenRecord) -> None:
        values = {
            "token_id": record.token_id,
            "tenant": record.tenant,
            "secret_hash": record.secret_hash,
            "created": record.created,
            "label": record.label,
            "revoked": record.revoked,
        }
        insert = (sqlite.insert if self._sqlite else postgresql.insert)(schema.tokens)
        statement = insert.values(values).on_conflict_do_update(
            index_elements=[schema.tokens.c.token_id],
            set_={k: v for k, v in values.items() if k != "token_id"},
        )
        with self._turn(), self._connect() as connection:
            connection.execute(statement)

    def find_token(self, token_id: str) -> TokenRecord | None:
        if not schema.storable(token_id):
            return None
        with self._turn(), self._connect(read_only=True) as connection:
            row = connection.execute(
                select(schema.tokens).where(schema.tokens.c.token_id == token_id)
            ).first()
        return None if row is None else _token(row)

    def list_tokens(self, tenant: str) -> list[TokenRecord]:
        with self._turn(), self._connect(read_only=True) as connection:
            rows = connection.execute(
                select(schema.tokens)
                .where(schema.tokens.c.tenant == tenant)
                .order_by(schema.tokens.c.created, schema.tokens.c.token_id)
            ).all()
        return [_token(row) for row in rows]

    def revoke_token(self, token_id: str) -> bool:
        if not schema.storable(token_id):
            return False
        with self._turn(), self._connect() as connection:
            result = connection.execute(
                update(schema.tokens)
                .where(schema.tokens.c.token_id == token_id)
                .values(revoked=True)
            )
            return bool(result.rowcount)

    def cursor_secret(self) -> bytes:
        """The key RFC 9865 cursors are signed with, kept in ``scim_secrets``.

        The first process to ask makes it (a random 32 bytes, inserted with
        ``ON CONFLICT DO NOTHING``, so processes racing agree on one); every
        process on the database reads the same, so a cursor is accepted by
        whichever process the next request reaches.
        """
        if self._cursor_secret is not None:
            return self._cursor_secret
        table = schema.secrets
        insert = (sqlite.insert if self._sqlite else postgresql.insert)(table)
        statement = insert.values(
            name="cursor", value=secrets.token_bytes(32)
        ).on_conflict_do_nothing(index_elements=[table.c.name])
        with self._turn(), self._connect() as connection:
            connection.execute(statement)
            found = connection.execute(
                select(table.c.value).where(table.c.name == "cursor")
            ).scalar_one()
        self._cursor_secret = bytes(found)
        return self._cursor_secret

    # -- host-app helpers ---------------------------------------------------

    def add_app_user(self, tenant: str, document: dict[str, Any]) -> StoredResource:
        """Store a user the host app made itself: invisible to SCIM until adopted."""
        with self.session(tenant) as session:
            assert isinstance(session, SqlSession)
            return session.insert(USER, document, role=None, managed=False)

    def add_app_group(self, tenant: str, document: dict[str, Any]) -> StoredResource:
        """Store a group the host app made itself: never visible to SCIM."""
        with self.session(tenant) as session:
            assert isinstance(session, SqlSession)
            return session.insert(GROUP, document, role=None, managed=False)


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        token_id=row.token_id,
        tenant=row.tenant,
        secret_hash=bytes(row.secret_hash),
        created=row.created,
        label=row.label,
        revoked=bool(row.revoked),
    )


def upgrade_database(
    url: str | URL | Engine, *, schema: str | None = None
) -> tuple[int, int]:
    """Create or upgrade the SCIM tables of a database (``tomorro-scim db upgrade``).

    :returns: (version before, version after); 0 before means a new database.
    :raises SchemaVersionError: when the database is newer than this code.
    """
    storage = SqlStorage(url, schema=schema, create=True, upgrade=True)
    try:
        return storage.found_version, _tables.SCHEMA_VERSION
    finally:
        if not isinstance(url, Engine):
            storage.close()
