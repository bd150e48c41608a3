"""A SQLite :class:`~tomorro_scim.storage.sql.SqlStorage` served on the event loop.

An async adapter given a synchronous storage runs each request on a worker
thread, so the loop never waits on I/O. For SQLite that hop costs more than
the request: measured through ``bench/http.py`` on the same code, a GET by
id took 1.12 ms of server CPU on worker threads against 0.57 ms on the
loop, because the loop thread and the worker hand the GIL back and forth
around every SQLite call. SQLite does not wait on a network: a statement
runs in the calling thread, from the page cache, in microseconds. What it
can wait for is a lock: the write lock, while another session or process
writes.

:class:`SqliteOnLoop` is the storage's face for an event loop
(:meth:`SqlStorage.on_event_loop`): an
:class:`~tomorro_scim.storage.asynchronous.AsyncStorage` whose statements run
on the loop itself, and which never waits for a lock there. Each transaction
is opened with ``wait=False`` (this process's writer lock tried, not waited
for; SQLite's busy timeout at 0): where a lock is taken, nothing has been
done yet, and the face sleeps on the loop (``asyncio.sleep``, with growing
delays as SQLite's own busy handler uses) and tries again, up to the
storage's ``sqlite_busy_timeout``. Once open, a transaction holds the write
lock and every statement in it runs without waiting, so a session never
suspends: no other request's transaction interleaves with it on the loop.

What still holds the loop is the statements' own work: a filter that reads
many rows (``bench/http.py``'s compound filter, about 10 ms over 10,000
users) keeps the loop busy for that long, as it would keep the GIL busy on
a thread.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from threading import RLock
from types import TracebackType
from typing import TYPE_CHECKING
from typing import Final
from typing import TypeVar

import attrs
from sqlalchemy import Connection
from sqlalchemy import RootTransaction
from sqlalchemy.exc import DBAPIError

from .. import TokenRecord
from ..asynchronous import AsyncStorageSession
from ..asynchronous import AwaitedSession
from . import database
from .database import StorageBusy
from .session import SqlSession

if TYPE_CHECKING:
    from . import SqlStorage

__all__ = ["SqliteOnLoop"]

T = TypeVar("T")

_DELAYS: Final = (0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.025, 0.025, 0.05)
"""Seconds between attempts, then the last one over and over: the delays of
SQLite's own busy handler (``sqliteDefaultBusyCallback``), capped lower."""


class SqliteOnLoop:
    """:class:`~tomorro_scim.storage.sql.SqlStorage` on SQLite, as an
    :class:`~tomorro_scim.storage.asynchronous.AsyncStorage` for one event loop.

    Made by :meth:`SqlStorage.on_event_loop`; the service's
    :meth:`~tomorro_scim.service.ScimService.handle_async` uses it, so the
    Starlette adapter serves a SQLite storage on the loop. The storage itself
    stays usable from threads meanwhile (its writer lock and SQLite's file
    lock order them).

    It keeps one connection of the storage's engine, set not to wait for
    locks, for as long as it lives: the loop runs one transaction at a time,
    so a pool's checkout, return and reset per request would be pure cost.
    :meth:`close` (or the storage's ``close()``) gives it back.
    """

    keyset_paging = True
    """Searches resume after a position, as on the storage."""

    def __init__(self, storage: SqlStorage) -> None:
        self.storage = storage
        self._busy_timeout = storage._busy_timeout_ms / 1000
        self._held: Connection | None = None
        self._give_back: Callable[[], object] = lambda: None
        """Closes the held connection: :meth:`close`, or the garbage
        collector when the face goes unclosed (a ``weakref.finalize``)."""
        self._open = False
        """A transaction of this face is open (it never suspends, so this is
        a guard, not a queue: a second one would wait like any lock)."""

    def close(self) -> None:
        """Give back the connection it holds (a later call takes a new one)."""
        self._held = None
        self._give_back()

    def _connection(self) -> Connection:
        held = self._held
        if held is None or held.closed or held.invalidated:
            self.close()
            held = self.storage.engine.connect()
            database.set_busy_timeout(held, 0)
            self._held = held
            self._give_back = weakref.finalize(self, held.close)
        return held

    async def _attempt(self, work: Callable[[], T]) -> T:
        """``work()`` (which takes no lock it would wait for), tried again
        after a growing sleep while it finds one taken, until the busy
        timeout has passed; then its :class:`StorageBusy` propagates."""
        deadline = time.monotonic() + self._busy_timeout
        tries = 0
        while True:
            try:
                return work()
            except StorageBusy:
                delay = _DELAYS[min(tries, len(_DELAYS) - 1)]
                if time.monotonic() + delay > deadline:
                    raise
            tries += 1
            await asyncio.sleep(delay)

    def _take(self, write: bool) -> list[RLock]:
        """This process's locks a transaction needs (the SQLite writer's for
        a write, the in-memory database's turn), each tried, not waited for.

        A list released by :func:`_release` rather than an ``ExitStack``:
        this runs twice per request, and measured in process an ``ExitStack``
        here (with a generator-based context manager for the busy error)
        made a GET about 10% slower."""
        if self._open:
            raise StorageBusy("a transaction of this event loop is open")
        storage = self.storage
        wanted = (storage._writer, storage._lock) if write else (storage._lock,)
        taken: list[RLock] = []
        try:
            for lock in wanted:
                if lock is not None:
                    database.acquire(lock, wait=False)
                    taken.append(lock)
        except StorageBusy:
            _release(taken)
            raise
        return taken

    def _begin(self) -> _Open:
        """A write transaction on the held connection (``BEGIN IMMEDIATE``),
        or :class:`StorageBusy` with nothing done."""
        taken = self._take(write=True)
        try:
            transaction = database.begin_transaction(self._connection())
        except BaseException:
            _release(taken)
            raise
        self._open = True
        return _Open(transaction, taken)

    def _end(self, opened: _Open, failed: bool) -> None:
        """Commit (or, ``failed``, roll back) what :meth:`_begin` opened."""
        try:
            if failed or not opened.transaction.is_active:
                opened.transaction.rollback()
            else:
                try:
                    opened.transaction.commit()
                except BaseException:
                    opened.transaction.rollback()
                    raise
        finally:
            self._open = False
            _release(opened.locks)

    def session(self, tenant: str) -> AbstractAsyncContextManager[AsyncStorageSession]:
        """A transaction on ``tenant``'s data; commits on success, rolls back
        on error. Only opening it may suspend (to wait for a lock)."""
        return _Session(self, tenant)

    def _write(self, work: Callable[..., T], *args: object) -> T:
        opened = self._begin()
        try:
            result = work(opened.transaction.connection, *args)
        except BaseException:
            self._end(opened, failed=True)
            raise
        self._end(opened, failed=False)
        return result

    def _read_one(self, work: Callable[..., T], *args: object) -> T:
        """``work``, a single read, in SQLite's autocommit mode (no ``BEGIN``)."""
        taken = self._take(write=False)
        try:
            connection = self._connection()
            try:
                return work(connection, *args)
            except DBAPIError as error:
                database.raise_if_busy(error)
                raise
            finally:
                if connection.in_transaction():  # begun by SQLAlchemy (watched)
                    connection.rollback()
        finally:
            _release(taken)

    async def save_token(self, record: TokenRecord) -> None:
        await self._attempt(lambda: self._write(database.save_token, record))

    async def find_token(self, token_id: str) -> TokenRecord | None:
        return await self._attempt(
            lambda: self._read_one(database.find_token, token_id)
        )

    async def list_tokens(self, tenant: str) -> list[TokenRecord]:
        return await self._attempt(lambda: self._write(database.list_tokens, tenant))

    async def revoke_token(self, token_id: str) -> bool:
        return await self._attempt(lambda: self._write(database.revoke_token, token_id))

    async def cursor_secret(self) -> bytes:
        """The storage's cursor key (read, or made, once per storage)."""
        storage = self.storage
        if storage._cursor_secret is None:
            storage._cursor_secret = await self._attempt(
                lambda: self._write(database.cursor_secret)
            )
        return storage._cursor_secret


def _release(locks: list[RLock]) -> None:
    for lock in reversed(locks):
        lock.release()


@attrs.frozen
class _Open:
    """A transaction :meth:`SqliteOnLoop._begin` opened, and the locks it holds."""

    transaction: RootTransaction
    locks: list[RLock]


class _Session(AbstractAsyncContextManager[AsyncStorageSession]):
    """``async with face.session(tenant)``: a :class:`~.session.SqlSession`
    on the held connection, in a transaction of its own."""

    __slots__ = ("_face", "_opened", "_session", "_tenant")

    def __init__(self, face: SqliteOnLoop, tenant: str) -> None:
        self._face = face
        self._tenant = tenant

    async def __aenter__(self) -> AsyncStorageSession:
        self._opened = opened = await self._face._attempt(self._face._begin)
        self._session = SqlSession(self._tenant, opened.transaction.connection)
        return AwaitedSession(self._session)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        failed = kind is not None
        if not failed:
            try:
                self._session.finish()
            except BaseException:
                self._face._end(self._opened, failed=True)
                raise
        self._face._end(self._opened, failed=failed)
