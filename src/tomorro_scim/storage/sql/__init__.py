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
session starts with ``BEGIN IMMEDIATE`` (see :mod:`.database`).

For an app on an event loop, :class:`.asyncio.AsyncSqlStorage` is the same
storage on SQLAlchemy's asyncio extension: it runs this package's statements,
every one of them, on an async driver. Importing this package imports
nothing async; only :mod:`.asyncio` does.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from typing import Any
from typing import Concatenate
from typing import ParamSpec
from typing import TypeVar

from sqlalchemy import URL
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import NoSuchModuleError

from .. import GROUP
from .. import USER
from .. import StoredResource
from .. import TokenRecord
from ..asynchronous import AsyncStorage
from . import database
from . import migrations
from . import schema as _tables  # where a parameter is called ``schema``
from .database import StorageBusy
from .database import StorageUnavailable
from .loop import SqliteOnLoop
from .migrations import SchemaVersionError
from .schema import SCHEMA_VERSION
from .session import SqlSession

__all__ = [
    "SCHEMA_VERSION",
    "SchemaVersionError",
    "SqlStorage",
    "StorageBusy",
    "StorageUnavailable",
    "upgrade_database",
]

P = ParamSpec("P")
T = TypeVar("T")


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
        synchronous = database.check_synchronous(sqlite_synchronous)
        if isinstance(url, Engine):
            engine = url
        else:
            parsed = database.parse_url(url)
            try:
                engine = create_engine(
                    parsed, **database.engine_options(parsed, engine_options)
                )
            except (ImportError, NoSuchModuleError) as error:
                raise database.no_driver(
                    parsed, error, 'for PostgreSQL "tomorro-scim[postgres]"'
                ) from None
        database.configure(engine, sqlite_busy_timeout, synchronous)
        self._base_engine = engine
        if schema is not None:
            engine = engine.execution_options(schema_translate_map={None: schema})
        self.engine: Engine = engine
        """The engine sessions run on (with the schema mapping, if any)."""
        self.db_schema = schema
        # An in-memory SQLite database is one connection: sessions take turns.
        self._lock = threading.RLock() if database.is_memory(engine.url) else None
        self._sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time. The threads of this process queue
        # for it here, woken as soon as it is free, instead of each polling
        # the database file's lock with the busy handler's growing sleeps;
        # other processes still wait through the busy timeout.
        self._writer = threading.RLock() if self._sqlite else None
        self._busy_timeout_ms = int(sqlite_busy_timeout * 1000)
        # Weakly: a face nobody uses any more gives its connection back as
        # it goes; close() closes those still in use.
        self._faces: weakref.WeakSet[SqliteOnLoop] = weakref.WeakSet()
        self._cursor_secret: bytes | None = None

        try:
            version = self._read_version()
        except DBAPIError as error:
            raise database.cannot_open(engine.url, error.orig) from None
        self.found_version = version
        """The version the tables were at when this storage opened them."""
        if migrations.opens(version, create=create, upgrade=upgrade):
            self.upgrade()

    @property
    def schema_version(self) -> int:
        """The version the database's tables are at."""
        return self._read_version()

    def upgrade(self) -> tuple[int, int]:
        """Create or upgrade the tables; returns (version before, version after)."""
        return self._run("write", migrations.upgrade, self.db_schema)

    def close(self) -> None:
        """Close the pooled connections, and those its faces for event loops hold."""
        for face in list(self._faces):
            face.close()
        self._base_engine.dispose()

    # -- running statements -------------------------------------------------

    @contextmanager
    def _connection(
        self,
        mode: database.Mode,
        *,
        wait: bool = True,
    ) -> Iterator[Connection]:
        """A connection in a transaction of ``mode`` (see :data:`.database.Mode`),
        committed when the block ends normally, rolled back when it raises.

        With ``wait=False`` it waits for no lock: a lock held elsewhere (this
        process's SQLite writer, or the database file's) raises
        :class:`StorageBusy` before anything is done, so the caller may
        try again later (see :mod:`.loop`).
        """
        with ExitStack() as stack:
            if mode == "write" and self._writer is not None:
                database.take(stack, self._writer, wait)
            if self._lock is not None:
                database.take(stack, self._lock, wait)
            connection = stack.enter_context(self.engine.connect())
            if not wait and self._sqlite:
                database.no_busy_wait(stack, connection, self._busy_timeout_ms)
            yield database.transaction(stack, connection, mode)

    def _run(
        self,
        mode: database.Mode,
        work: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``work(connection, ...)`` in a transaction of its own."""
        with self._connection(mode) as connection:
            return work(connection, *args, **kwargs)

    def _read_version(self) -> int:
        return self._run("read", migrations.current_version, self.db_schema)

    # -- the Storage protocol -----------------------------------------------

    @contextmanager
    def session(self, tenant: str, *, wait: bool = True) -> Iterator[SqlSession]:
        """A transaction on ``tenant``'s data; commits on success, rolls back on error.

        :param wait: ``False`` raises :class:`StorageBusy` at once where the
            session would wait for SQLite's write lock (held by another
            session of this process, or by another connection).
        """
        with self._connection("write", wait=wait) as connection:
            session = SqlSession(tenant, connection)
            yield session
            session.finish()

    def save_token(self, record: TokenRecord) -> None:
        self._run("write", database.save_token, record)

    def find_token(self, token_id: str) -> TokenRecord | None:
        return self._run("single", database.find_token, token_id)

    def list_tokens(self, tenant: str) -> list[TokenRecord]:
        return self._run("read", database.list_tokens, tenant)

    def revoke_token(self, token_id: str) -> bool:
        return self._run("write", database.revoke_token, token_id)

    def cursor_secret(self) -> bytes:
        """The key RFC 9865 cursors are signed with (see
        :func:`.database.cursor_secret`): one per database, shared by every
        process using it."""
        if self._cursor_secret is None:
            self._cursor_secret = self._run("write", database.cursor_secret)
        return self._cursor_secret

    def on_event_loop(self) -> AsyncStorage | None:
        """This storage as an event loop serves it best, or ``None`` where a
        thread serves it better.

        On SQLite: a :class:`.loop.SqliteOnLoop` over this storage, whose
        statements run on the loop itself and which suspends only to wait
        for a lock. On PostgreSQL, ``None``: every statement is a network
        round trip, which belongs on a worker thread (or use
        :class:`.asyncio.AsyncSqlStorage`).
        """
        if not self._sqlite:
            return None
        face = SqliteOnLoop(self)
        self._faces.add(face)
        return face

    # -- host-app helpers ---------------------------------------------------

    def add_app_user(self, tenant: str, document: dict[str, Any]) -> StoredResource:
        """Store a user the host app made itself: invisible to SCIM until adopted."""
        return self._run("write", database.add_app_resource, tenant, USER, document)

    def add_app_group(self, tenant: str, document: dict[str, Any]) -> StoredResource:
        """Store a group the host app made itself: never visible to SCIM."""
        return self._run("write", database.add_app_resource, tenant, GROUP, document)


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
