"""The SQL backend on an event loop: SQLAlchemy's asyncio extension.

::

    from tomorro_scim.storage.sql.asyncio import AsyncSqlStorage

    storage = AsyncSqlStorage("postgresql+psycopg_async://app@db/app")
    storage = AsyncSqlStorage("sqlite+aiosqlite:///./tomorro-scim.db")

    service = ScimService(storage)  # the Starlette adapter awaits it
    await storage.open()            # optional, at startup: fail fast

It is :class:`~tomorro_scim.storage.sql.SqlStorage` with another way of
waiting, not another backend: every statement, the SQLite settings, the
migrations and the mapping of lost races to 409 and 412 are the synchronous
package's own. An async session holds an
:class:`~sqlalchemy.ext.asyncio.AsyncConnection`; each call runs the
synchronous :class:`~tomorro_scim.storage.sql.session.SqlSession` method on
it through :meth:`~sqlalchemy.ext.asyncio.AsyncConnection.run_sync`, whose
greenlet hands every round trip to the database to the event loop. So the
loop serves other requests while a query runs or waits for a lock.

A URL without a driver gets the async one: ``sqlite://`` becomes
``sqlite+aiosqlite://`` and ``postgresql://`` ``postgresql+psycopg://``
(psycopg 3 picks its async mode under an async engine). Install
``tomorro-scim[asyncio]`` for aiosqlite and greenlet, and
``tomorro-scim[postgres]`` for psycopg.

The database is opened (its version checked, its tables created or
upgraded) by :meth:`AsyncSqlStorage.open`, or on first use when the host app
does not call it.

This module is the only one of the library that imports
:mod:`sqlalchemy.ext.asyncio` (DESIGN rule 1): importing
:mod:`tomorro_scim.storage.sql` does not.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from contextlib import asynccontextmanager
from contextlib import nullcontext
from typing import Any
from typing import Concatenate
from typing import ParamSpec
from typing import TypeVar

from sqlalchemy import URL
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine

from .. import GROUP
from .. import USER
from .. import StoredResource
from .. import TokenRecord
from ..asynchronous import AsyncStorageSession
from ..asynchronous import AwaitedSession
from . import database
from . import migrations
from .database import StorageUnavailable
from .session import SqlSession

__all__ = ["AsyncSqlStorage"]

P = ParamSpec("P")
T = TypeVar("T")

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_INSTALL = '"tomorro-scim[asyncio]" (and "tomorro-scim[postgres]" for PostgreSQL)'


def _async_url(url: URL) -> URL:
    """``url`` with the async driver when it names none."""
    if "+" in url.drivername:
        return url
    return url.set(drivername=_ASYNC_DRIVERS[url.get_backend_name()])


class _AsyncSqlSession(AwaitedSession):
    """A :class:`~.session.SqlSession` awaited: each call runs it on the
    session's connection through SQLAlchemy's greenlet bridge."""

    __slots__ = ("_connection",)

    def __init__(self, session: SqlSession, connection: AsyncConnection) -> None:
        super().__init__(session)
        self._connection = connection

    async def call(
        self, method: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._connection.run_sync(lambda _: method(*args, **kwargs))


class AsyncSqlStorage:
    """An :class:`~tomorro_scim.storage.asynchronous.AsyncStorage` in a SQL database.

    :param url: a SQLAlchemy URL (``sqlite+aiosqlite:///path.db``,
        ``postgresql+psycopg_async://user@host/db``; without a driver, the
        async one is chosen) or an :class:`~sqlalchemy.ext.asyncio.AsyncEngine`
        the host app already has.
    :param schema: PostgreSQL schema to keep the tables in (default: the
        connection's search path).
    :param create: create the tables in a database that has none.
    :param upgrade: bring the tables of an older version forward; without it
        such a database is refused (run ``tomorro-scim db upgrade``).
    :param sqlite_busy_timeout: seconds a SQLite session waits for the write
        lock (in aiosqlite's thread: the event loop goes on meanwhile).
    :param sqlite_synchronous: SQLite's ``PRAGMA synchronous`` (see
        :class:`~tomorro_scim.storage.sql.SqlStorage`).
    :param engine_options: passed to
        :func:`~sqlalchemy.ext.asyncio.create_async_engine`.
    :raises StorageUnavailable: when the async driver or greenlet is not
        installed (and, from :meth:`open`, when the database cannot be opened).
    :raises ValueError: for a URL that is not SQLite's or PostgreSQL's, or
        whose driver is not an async one.

    An engine serves one event loop (SQLAlchemy's rule for its async
    engines): make the storage for the loop that will use it.
    """

    keyset_paging = True
    """Searches resume after a position (RFC 9865 cursors), as on the
    synchronous storage."""

    def __init__(
        self,
        url: str | URL | AsyncEngine,
        *,
        schema: str | None = None,
        create: bool = True,
        upgrade: bool = False,
        sqlite_busy_timeout: float = 30.0,
        sqlite_synchronous: str = "NORMAL",
        **engine_options: Any,
    ) -> None:
        synchronous = database.check_synchronous(sqlite_synchronous)
        if importlib.util.find_spec("greenlet") is None:
            raise StorageUnavailable(
                f"SQLAlchemy's asyncio extension needs greenlet: install {_INSTALL}"
            )
        if isinstance(url, AsyncEngine):
            engine = url
        else:
            parsed = _async_url(database.parse_url(url))
            try:
                engine = create_async_engine(
                    parsed, **database.engine_options(parsed, engine_options)
                )
            except (ImportError, NoSuchModuleError) as error:
                raise database.no_driver(parsed, error, _INSTALL) from None
            except InvalidRequestError as error:  # a driver that is not async
                raise ValueError(
                    f"{parsed.drivername!r} is not an async driver ({error}): use "
                    "sqlite+aiosqlite:// or postgresql+psycopg_async://"
                ) from None
        database.configure(engine.sync_engine, sqlite_busy_timeout, synchronous)
        self._base_engine = engine
        if schema is not None:
            engine = engine.execution_options(schema_translate_map={None: schema})
        self.engine: AsyncEngine = engine
        """The engine sessions run on (with the schema mapping, if any)."""
        self.db_schema = schema
        self._create = create
        self._upgrade = upgrade
        # An in-memory SQLite database is one connection: sessions take turns.
        self._lock = asyncio.Lock() if database.is_memory(engine.url) else None
        self._opening = asyncio.Lock()
        self._opened = False
        self._cursor_secret: bytes | None = None
        self.found_version: int | None = None
        """The version the tables were at when :meth:`open` found them."""

    async def open(self) -> None:
        """Check the database's version, creating or upgrading its tables as
        allowed; done once, and on first use if not called.

        :raises SchemaVersionError: when the database's tables are of a
            version this code does not use (newer, or older without ``upgrade``).
        :raises StorageUnavailable: when the database cannot be opened.
        """
        async with self._opening:
            if self._opened:
                return
            try:
                version = await self._run(
                    True, migrations.current_version, self.db_schema
                )
            except DBAPIError as error:
                raise database.cannot_open(self.engine.url, error.orig) from None
            if migrations.opens(version, create=self._create, upgrade=self._upgrade):
                await self._run(False, migrations.upgrade, self.db_schema)
            self.found_version = version
            self._opened = True

    async def upgrade(self) -> tuple[int, int]:
        """Create or upgrade the tables; returns (version before, version after)."""
        return await self._run(False, migrations.upgrade, self.db_schema)

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._base_engine.dispose()

    # -- running statements -------------------------------------------------

    def _turn(self) -> AbstractAsyncContextManager[Any]:
        return self._lock if self._lock is not None else nullcontext()

    @asynccontextmanager
    async def _connect(
        self, *, read_only: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        async with self._turn(), self.engine.connect() as connection:
            if read_only:
                connection = await connection.execution_options(
                    **{database.READ_ONLY: True}
                )
            async with connection.begin():
                yield connection

    async def _run(
        self,
        read_only: bool,
        work: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``work(connection, ...)`` in a transaction of its own, run on the
        async connection through SQLAlchemy's greenlet bridge."""
        async with self._connect(read_only=read_only) as connection:
            return await connection.run_sync(work, *args, **kwargs)

    async def _write(
        self,
        work: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """:meth:`_run` once the database is open."""
        if not self._opened:
            await self.open()
        return await self._run(False, work, *args, **kwargs)

    async def _read(
        self,
        work: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """:meth:`_run` read-only, once the database is open."""
        if not self._opened:
            await self.open()
        return await self._run(True, work, *args, **kwargs)

    # -- the AsyncStorage protocol ------------------------------------------

    @asynccontextmanager
    async def session(self, tenant: str) -> AsyncIterator[AsyncStorageSession]:
        """A transaction on ``tenant``'s data; commits on success, rolls back on error."""
        if not self._opened:
            await self.open()
        async with self._connect() as connection:
            sync_connection = connection.sync_connection
            assert sync_connection is not None  # set while the connection is open
            session = SqlSession(tenant, sync_connection)
            yield _AsyncSqlSession(session, connection)
            await connection.run_sync(lambda _: session.finish())

    async def save_token(self, record: TokenRecord) -> None:
        await self._write(database.save_token, record)

    async def find_token(self, token_id: str) -> TokenRecord | None:
        return await self._read(database.find_token, token_id)

    async def list_tokens(self, tenant: str) -> list[TokenRecord]:
        return await self._read(database.list_tokens, tenant)

    async def revoke_token(self, token_id: str) -> bool:
        return await self._write(database.revoke_token, token_id)

    async def cursor_secret(self) -> bytes:
        """The key RFC 9865 cursors are signed with: the database's one, shared
        with every process, synchronous or async, using it."""
        if self._cursor_secret is None:
            self._cursor_secret = await self._write(database.cursor_secret)
        return self._cursor_secret

    # -- host-app helpers ---------------------------------------------------

    async def add_app_user(
        self, tenant: str, document: dict[str, Any]
    ) -> StoredResource:
        """Store a user the host app made itself: invisible to SCIM until adopted."""
        return await self._write(database.add_app_resource, tenant, USER, document)

    async def add_app_group(
        self, tenant: str, document: dict[str, Any]
    ) -> StoredResource:
        """Store a group the host app made itself: never visible to SCIM."""
        return await self._write(database.add_app_resource, tenant, GROUP, document)
