"""What a SQL storage does outside a tenant's session, shared by both faces.

:class:`~tomorro_scim.storage.sql.SqlStorage` drives a synchronous engine and
:class:`~tomorro_scim.storage.sql.asyncio.AsyncSqlStorage` an async one; they
differ only in how they open a connection and wait for it. Everything else
lives here once: checking a URL, configuring SQLite, and the statements on
tokens, the cursor secret and the host app's own resources, each a function
of a :class:`~sqlalchemy.Connection` in an open transaction. The async
storage runs the same functions through SQLAlchemy's
:meth:`~sqlalchemy.ext.asyncio.AsyncConnection.run_sync`.

SQLite runs in WAL mode with a busy timeout and foreign keys on, and every
transaction that may write starts with ``BEGIN IMMEDIATE``: SQLite has one
writer at a time, and taking the write lock up front makes a concurrent
session wait for it (up to the busy timeout) instead of failing when it first
writes. Token lookups, made on every request, are read-only transactions
(:data:`READ_ONLY`) that do not take it.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from contextlib import ExitStack
from typing import Any
from typing import Final
from typing import Literal

from sqlalchemy import URL
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import RootTransaction
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from .. import StoredResource
from .. import TokenRecord
from . import prepared
from . import schema
from . import statements
from .schema import storable
from .session import SqlSession

__all__ = [
    "READ_ONLY",
    "SINGLE_READ",
    "Mode",
    "StorageBusy",
    "StorageUnavailable",
    "acquire",
    "add_app_resource",
    "begin_transaction",
    "cannot_open",
    "check_synchronous",
    "configure",
    "cursor_secret",
    "engine_options",
    "find_token",
    "is_busy",
    "is_memory",
    "list_tokens",
    "no_busy_wait",
    "no_driver",
    "parse_url",
    "raise_if_busy",
    "revoke_token",
    "save_token",
    "set_busy_timeout",
    "take",
    "transaction",
]

READ_ONLY: Final = "tomorro_scim_read_only"
"""The execution option of a connection whose transaction only reads (SQLite
then begins with a plain ``BEGIN``, which takes no write lock)."""

SINGLE_READ: Final = "tomorro_scim_single_read"
"""The execution option of a SQLite connection that runs one read and
nothing else: no ``BEGIN`` is sent, so SQLite runs the statement in its
autocommit mode, as a read transaction of its own (``COMMIT`` and the
pool's ``ROLLBACK`` then have nothing to end). The token lookup of every
request saves two round trips."""


Mode = Literal["write", "read", "single"]
"""A transaction's kind: ``write`` begins with ``BEGIN IMMEDIATE`` on SQLite
(after this process's writer lock); ``read`` with ``BEGIN`` (:data:`READ_ONLY`);
``single`` runs one read, on SQLite with no ``BEGIN`` at all (:data:`SINGLE_READ`)."""

_SQLITE_BUSY: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class StorageUnavailable(RuntimeError):
    """The database cannot be reached, or its driver is not installed."""


class StorageBusy(RuntimeError):
    """A session asked not to wait (``wait=False``) found a lock taken:
    nothing was done, and the same call may be made again later."""


# -- taking a connection without waiting -------------------------------------------


def acquire(lock: threading.RLock, wait: bool) -> None:
    """Acquire ``lock``; :class:`StorageBusy` if it is held elsewhere and
    ``wait`` is false."""
    if not lock.acquire(blocking=wait):
        raise StorageBusy("another session of this process holds the lock")


def take(stack: ExitStack, lock: threading.RLock, wait: bool) -> None:
    """:func:`acquire` ``lock`` until ``stack`` closes."""
    acquire(lock, wait)
    stack.callback(lock.release)


def set_busy_timeout(connection: Connection, milliseconds: int) -> None:
    """Set SQLite's busy timeout on ``connection`` (``PRAGMA busy_timeout``)."""
    raw = connection.connection.dbapi_connection
    assert raw is not None  # set while the connection is checked out
    cursor = raw.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
    finally:
        cursor.close()


def no_busy_wait(stack: ExitStack, connection: Connection, busy_ms: int) -> None:
    """Make a SQLite connection fail at once on a lock (``SQLITE_BUSY``)
    instead of waiting out its busy timeout (``busy_ms``, set back when
    ``stack`` closes)."""
    set_busy_timeout(connection, 0)
    stack.callback(set_busy_timeout, connection, busy_ms)


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's ``SQLITE_BUSY`` or ``SQLITE_LOCKED``."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    code = getattr(cause, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _SQLITE_BUSY


def transaction(stack: ExitStack, connection: Connection, mode: Mode) -> Connection:
    """``connection`` in a transaction of ``mode`` until ``stack`` closes
    (committed if it closes normally): the execution options that choose
    SQLite's ``BEGIN`` (or none), then :func:`begin_transaction`."""
    if mode == "single" and connection.dialect.name == "sqlite":
        return connection.execution_options(**{SINGLE_READ: True, READ_ONLY: False})
    connection = connection.execution_options(
        **{READ_ONLY: mode != "write", SINGLE_READ: False}
    )
    stack.enter_context(begin_transaction(connection))
    return connection


def raise_if_busy(error: BaseException) -> None:
    """Raise the :class:`StorageBusy` that ``error`` means when it is SQLite's
    ``SQLITE_BUSY``/``SQLITE_LOCKED`` (a lock stopped the statement, which may
    be tried again); else return, for the caller to re-raise ``error``."""
    if is_busy(error):
        raise StorageBusy(f"the database is locked: {error}") from None


def begin_transaction(connection: Connection) -> RootTransaction:
    """``connection.begin()``; a lock that stops the ``BEGIN`` is :class:`StorageBusy`."""
    try:
        return connection.begin()
    except (DBAPIError, sqlite3.OperationalError) as error:
        raise_if_busy(error)
        raise


# -- opening a database ----------------------------------------------------------


def is_memory(url: URL) -> bool:
    """Whether ``url`` names an in-memory SQLite database."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def parse_url(url: str | URL) -> URL:
    """``url`` parsed, if it is SQLite's or PostgreSQL's.

    :raises ValueError: for anything else.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"{url!r} is not a database URL") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"tomorro-scim stores in SQLite or PostgreSQL, not {parsed.get_backend_name()}"
        )
    return parsed


def engine_options(url: URL, options: dict[str, Any]) -> dict[str, Any]:
    """The engine options for ``url``: an in-memory SQLite database is one
    connection, shared by every session (which take turns on it)."""
    chosen = dict(options)
    if is_memory(url):
        chosen.setdefault("poolclass", StaticPool)
        chosen.setdefault("connect_args", {"check_same_thread": False})
    return chosen


def check_synchronous(mode: str) -> str:
    """SQLite's ``PRAGMA synchronous`` value, upper-cased; ``ValueError`` if unknown."""
    if mode.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"unknown SQLite synchronous mode {mode!r}")
    return mode.upper()


def no_driver(url: URL, error: BaseException, install: str) -> StorageUnavailable:
    """The error for a URL whose driver is not installed."""
    return StorageUnavailable(
        f"no driver for {url.drivername!r} ({error}); install {install}"
    )


def cannot_open(url: URL, error: Any) -> StorageUnavailable:
    """The error for a database that did not answer (``error`` is the driver's)."""
    shown = url.render_as_string(hide_password=True)
    return StorageUnavailable(f"cannot open the database {shown}: {error}")


def configure(engine: Engine, busy_timeout: float, synchronous: str) -> bool:
    """Set up a (synchronous, or an async engine's ``sync_engine``) engine;
    returns whether it is SQLite's.

    pysqlite's and aiosqlite's own transaction handling is switched off
    (``isolation_level = None``) so that SQLAlchemy's begin emits the
    ``BEGIN`` chosen here: the SQLAlchemy documentation's recipe for SQLite
    transactions, which holds for both drivers.

    :raises ValueError: for a database that is neither SQLite nor PostgreSQL.
    """
    if engine.dialect.name == "postgresql":
        return False
    if engine.dialect.name != "sqlite":
        raise ValueError(
            f"tomorro-scim stores in SQLite or PostgreSQL, not {engine.dialect.name}"
        )
    milliseconds = int(busy_timeout * 1000)
    memory = is_memory(engine.url)

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
        options = connection.get_execution_options()
        if options.get(SINGLE_READ):
            return
        begin = "BEGIN" if options.get(READ_ONLY) else "BEGIN IMMEDIATE"
        if connection.dialect.driver == "pysqlite":
            # Straight to the driver: through exec_driver_sql, the BEGIN of
            # every request costs several times what SQLite takes to run it.
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(begin)
            finally:
                cursor.close()
        else:
            connection.exec_driver_sql(begin)

    return True


# -- statements, each on a connection in an open transaction ---------------------


def _insert(connection: Connection) -> Any:
    """The dialect's ``INSERT`` with ``ON CONFLICT``."""
    return sqlite.insert if connection.dialect.name == "sqlite" else postgresql.insert


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        token_id=row.token_id,
        tenant=row.tenant,
        secret_hash=bytes(row.secret_hash),
        created=row.created,
        label=row.label,
        revoked=bool(row.revoked),
    )


def save_token(connection: Connection, record: TokenRecord) -> None:
    """Insert a token's record, or overwrite the one with its id."""
    values = {
        "token_id": record.token_id,
        "tenant": record.tenant,
        "secret_hash": record.secret_hash,
        "created": record.created,
        "label": record.label,
        "revoked": record.revoked,
    }
    statement = (
        _insert(connection)(schema.tokens)
        .values(values)
        .on_conflict_do_update(
            index_elements=[schema.tokens.c.token_id],
            set_={k: v for k, v in values.items() if k != "token_id"},
        )
    )
    connection.execute(statement)


def find_token(connection: Connection, token_id: str) -> TokenRecord | None:
    """The record of a token by its public id (``None`` for an id no row holds)."""
    if not storable(token_id):
        return None
    row = prepared.run(
        connection, statements.token_by_id(), {"p_token": token_id}
    ).first()
    return None if row is None else _token(row)


def list_tokens(connection: Connection, tenant: str) -> list[TokenRecord]:
    """A tenant's tokens, oldest first, revoked ones included."""
    rows = connection.execute(
        select(schema.tokens)
        .where(schema.tokens.c.tenant == tenant)
        .order_by(schema.tokens.c.created, schema.tokens.c.token_id)
    ).all()
    return [_token(row) for row in rows]


def revoke_token(connection: Connection, token_id: str) -> bool:
    """Mark a token revoked; ``False`` when there is none with that id."""
    if not storable(token_id):
        return False
    result = connection.execute(
        update(schema.tokens)
        .where(schema.tokens.c.token_id == token_id)
        .values(revoked=True)
    )
    return bool(result.rowcount)


def cursor_secret(connection: Connection) -> bytes:
    """The key RFC 9865 cursors are signed with, kept in ``scim_secrets``.

    The first process to ask makes it (a random 32 bytes, inserted with
    ``ON CONFLICT DO NOTHING``, so processes racing agree on one); every
    process on the database reads the same, so a cursor is accepted by
    whichever process the next request reaches.
    """
    table = schema.secrets
    statement = (
        _insert(connection)(table)
        .values(name="cursor", value=secrets.token_bytes(32))
        .on_conflict_do_nothing(index_elements=[table.c.name])
    )
    connection.execute(statement)
    found = connection.execute(
        select(table.c.value).where(table.c.name == "cursor")
    ).scalar_one()
    return bytes(found)


def add_app_resource(
    connection: Connection,
    tenant: str,
    resource_type: str,
    document: dict[str, Any],
) -> StoredResource:
    """Store a resource the host app made itself (not managed by SCIM)."""
    session = SqlSession(tenant, connection)
    stored = session.insert(resource_type, document, role=None, managed=False)
    session.finish()
    return stored
