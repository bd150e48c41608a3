"""Async backends: the storage contract kit on them, and what only
AsyncSqlStorage promises (the event loop goes on while the database works).

The kit's synchronous tests run unchanged on each async backend through
``AsyncStorageContract`` (each test's storage lives on an event loop of its
own). PostgreSQL tests need ``TOMORRO_SCIM_TEST_POSTGRES_URL`` (its
``postgresql+psycopg`` URL; the async one, ``postgresql+psycopg_async``, is
derived from it) and skip without it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import select
from sqlalchemy import update
from tests.suspending import SuspendingStorage

from test_async_service import SCRIPT
from test_async_service import TOKEN
from test_async_service import _request
from test_async_service import _service
from test_storage_sql import POSTGRES_URL
from test_storage_sql import postgres_schema
from test_storage_sql import requires_postgres
from tomorro_scim.auth import AsyncTokenManager
from tomorro_scim.auth import TokenManager
from tomorro_scim.errors import PreconditionFailed
from tomorro_scim.errors import Uniqueness
from tomorro_scim.events import Event
from tomorro_scim.storage import USER
from tomorro_scim.storage import SearchQuery
from tomorro_scim.storage.asynchronous import AsyncStorage
from tomorro_scim.storage.asynchronous import is_async_storage
from tomorro_scim.storage.sql import SCHEMA_VERSION
from tomorro_scim.storage.sql import SchemaVersionError
from tomorro_scim.storage.sql import SqlStorage
from tomorro_scim.storage.sql import StorageUnavailable
from tomorro_scim.storage.sql import schema
from tomorro_scim.storage.sql.asyncio import AsyncSqlStorage
from tomorro_scim.testing import AsyncStorageContract
from tomorro_scim.testing import BlockingStorage
from tomorro_scim.testing import blocking_view
from tomorro_scim.testing import user_document

ASYNC_POSTGRES_URL = (
    make_url(POSTGRES_URL)
    .set(drivername="postgresql+psycopg_async")
    .render_as_string(hide_password=False)
    if POSTGRES_URL
    else ""
)


# -- the contract kit on async backends ------------------------------------------


class TestSuspendingMemoryStorage(AsyncStorageContract):
    """The memory storage behind coroutines that all suspend (tests/suspending.py)."""

    def make_async_storage(self) -> AsyncStorage:
        return SuspendingStorage()

    def add_unmanaged_user(
        self, storage: Any, tenant: str, document: dict[str, Any]
    ) -> None:
        storage.storage.inner.add_app_user(tenant, document)

    def add_unmanaged_group(
        self, storage: Any, tenant: str, document: dict[str, Any]
    ) -> None:
        storage.storage.inner.add_app_group(tenant, document)


class TestAsyncSqliteStorage(AsyncStorageContract):
    """aiosqlite, a fresh database file per test."""

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path

    def make_async_storage(self) -> AsyncStorage:
        return AsyncSqlStorage(f"sqlite+aiosqlite:///{self.directory / 'scim.db'}")

    async def close_async_storage(self, storage: AsyncStorage) -> None:
        assert isinstance(storage, AsyncSqlStorage)
        await storage.close()


class TestAsyncSqliteMemoryStorage(AsyncStorageContract):
    """``sqlite+aiosqlite://``: one in-memory database, sessions take turns."""

    def make_async_storage(self) -> AsyncStorage:
        return AsyncSqlStorage("sqlite+aiosqlite://")

    async def close_async_storage(self, storage: AsyncStorage) -> None:
        assert isinstance(storage, AsyncSqlStorage)
        await storage.close()


@pytest.fixture(scope="module")
def postgres_schema_name() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("set TOMORRO_SCIM_TEST_POSTGRES_URL to run on PostgreSQL")
    with postgres_schema() as name:
        SqlStorage(POSTGRES_URL, schema=name).close()  # the tables, once
        yield name


@requires_postgres
class TestAsyncPostgresStorage(AsyncStorageContract):
    """psycopg's async mode; one schema for the class, an engine per test (an
    async engine belongs to the loop it runs on)."""

    @pytest.fixture(autouse=True)
    def _schema(self, postgres_schema_name: str) -> None:
        self.schema = postgres_schema_name

    def make_async_storage(self) -> AsyncStorage:
        return AsyncSqlStorage(ASYNC_POSTGRES_URL, schema=self.schema)

    async def close_async_storage(self, storage: AsyncStorage) -> None:
        assert isinstance(storage, AsyncSqlStorage)
        await storage.close()


def test_the_kit_sees_the_async_storage_it_was_given(tmp_path: Path) -> None:
    """The view is not a copy: what it writes, the async storage reads."""

    class Kit(AsyncStorageContract):
        def make_async_storage(self) -> AsyncStorage:
            return AsyncSqlStorage(f"sqlite+aiosqlite:///{tmp_path / 'kit.db'}")

        async def close_async_storage(self, storage: AsyncStorage) -> None:
            assert isinstance(storage, AsyncSqlStorage)
            await storage.close()

    kit = Kit()
    view = kit.make_storage()
    assert isinstance(view, BlockingStorage)
    assert is_async_storage(view.storage)
    assert not is_async_storage(view)
    assert view.keyset_paging is True
    with view.session("t") as session:
        created = session.create(USER, user_document("ada"))

    async def read() -> Any:
        async with view.storage.session("t") as session:
            return await session.get(USER, created.id)

    assert view.run(read()).document["userName"] == "ada"
    assert len(view.cursor_secret()) == 32
    kit.close_storage(view)
    assert view._loop is not None
    assert view._loop.loop.is_closed()


# -- only the async SQL storage ------------------------------------------------


def _run(coroutine: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coroutine

    return asyncio.run(main())


def test_importing_the_sql_package_imports_nothing_async() -> None:
    """DESIGN rule 1: only the module that needs the asyncio extension imports it."""
    probe = (
        "import sys, tomorro_scim.storage.sql, tomorro_scim.service, "
        "tomorro_scim.adapters.starlette\n"
        "print(sorted(m for m in ('sqlalchemy.ext.asyncio', 'greenlet', 'aiosqlite')"
        " if m in sys.modules))\n"
        "import tomorro_scim.storage.sql.asyncio\n"
        "print('sqlalchemy.ext.asyncio' in sys.modules)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert shown == ["[]", "True"]


def test_a_url_without_a_driver_gets_the_async_one(tmp_path: Path) -> None:
    async def check() -> None:
        storage = AsyncSqlStorage(f"sqlite:///{tmp_path / 'plain.db'}")
        assert storage.engine.url.drivername == "sqlite+aiosqlite"
        await storage.close()

    _run(check())


def test_other_databases_and_sync_drivers_are_refused() -> None:
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        AsyncSqlStorage("mysql+aiomysql://nobody@localhost/none")
    with pytest.raises(ValueError, match="not an async driver"):
        AsyncSqlStorage("sqlite+pysqlite:///x.db")


def test_the_database_opens_on_first_use_or_open(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lazy.db'}"

    async def check() -> None:
        storage = AsyncSqlStorage(url)
        assert storage.found_version is None
        assert not (tmp_path / "lazy.db").exists()  # nothing done yet
        assert await storage.find_token("nope") is None  # first use opens it
        assert storage.found_version == 0
        await storage.close()
        again = AsyncSqlStorage(url)
        await again.open()
        await again.open()  # once
        assert again.found_version == SCHEMA_VERSION
        await again.close()

    _run(check())


def test_versions_are_checked_as_on_the_synchronous_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'versions.db'}"

    async def opens(**options: Any) -> None:
        storage = AsyncSqlStorage(url, **options)
        try:
            await storage.open()
        finally:
            await storage.close()

    with pytest.raises(SchemaVersionError, match="db upgrade"):
        _run(opens(create=False))
    SqlStorage(url).close()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            update(schema.schema_version).values(version=SCHEMA_VERSION + 1)
        )
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="newer"):
        _run(opens())


def test_an_unreachable_database_is_storage_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "directory" / "x.db"
    storage = AsyncSqlStorage(f"sqlite+aiosqlite:///{missing}")

    async def opens() -> None:
        try:
            await storage.open()
        finally:
            # aiosqlite stops the thread of a connection that failed without
            # waiting for it; keep the loop until it has ended, or the thread
            # finds the loop closed.
            for _ in range(500):
                if not any(
                    "_connection_worker_thread" in thread.name
                    for thread in threading.enumerate()
                ):
                    break
                await asyncio.sleep(0.01)
            await storage.close()

    with pytest.raises(StorageUnavailable, match="cannot open"):
        _run(opens())


def test_aiosqlite_connections_get_the_sqlite_settings(tmp_path: Path) -> None:
    async def pragmas() -> tuple[Any, ...]:
        storage = AsyncSqlStorage(
            f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}", sqlite_busy_timeout=2
        )
        async with storage.engine.connect() as connection:
            found = tuple(
                [
                    (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                    for name in ("journal_mode", "foreign_keys", "busy_timeout")
                ]
            )
        await storage.close()
        return found

    assert _run(pragmas()) == ("wal", 1, 2000)


def test_sync_and_async_storages_share_one_database(tmp_path: Path) -> None:
    """Processes of both kinds on one database: the same rows, tokens and
    cursor secret (so a cursor one signs, the other accepts)."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    sync = SqlStorage(url)
    issued = TokenManager(sync).issue("acme")
    with sync.session("acme") as session:
        ada = session.create(USER, user_document("ada"))

    async def read() -> tuple[Any, ...]:
        storage = AsyncSqlStorage(url)
        found = await storage.find_token(issued.record.token_id)
        async with storage.session("acme") as session:
            user = await session.find_user_by_user_name("ADA")
        secret = await storage.cursor_secret()
        await storage.close()
        return found, user, secret

    found, user, secret = _run(read())
    assert found == issued.record
    assert user is not None
    assert user.id == ada.id
    assert secret == sync.cursor_secret()
    sync.close()


def test_a_session_that_raises_leaves_nothing(tmp_path: Path) -> None:
    async def check() -> Any:
        storage = AsyncSqlStorage(f"sqlite+aiosqlite:///{tmp_path / 'undo.db'}")

        async def create_twice() -> None:
            async with storage.session("t") as session:
                await session.create(USER, user_document("kept-out"))
                await session.create(USER, user_document("KEPT-OUT"))

        with pytest.raises(Uniqueness):
            await create_twice()
        async with storage.session("t") as session:
            found = await session.search(USER, SearchQuery())
        await storage.close()
        return found

    assert _run(check()).total == 0


def _answers_sync(storage: SqlStorage) -> list[Any]:
    events: list[Event] = []
    TokenManager(storage).issue("acme", token=TOKEN)
    service = _service(storage, events)
    return [service.handle(_request(*step)) for step in SCRIPT]


async def _answers_async(storage: AsyncSqlStorage) -> list[Any]:
    events: list[Event] = []
    await AsyncTokenManager(storage).issue("acme", token=TOKEN)
    service = _service(storage, events)
    answers = [await service.handle_async(_request(*step)) for step in SCRIPT]
    await storage.close()
    return answers


def test_handle_async_on_sql_answers_as_handle_does(tmp_path: Path) -> None:
    """The same script (an Entra-shaped round with errors and cursor paging)
    through ``handle`` on SqlStorage and ``handle_async`` on AsyncSqlStorage:
    one set of handlers and one set of statements, so byte for byte the same
    answers, cursors included (the same rows get the same sequence numbers)."""
    sync = SqlStorage(f"sqlite:///{tmp_path / 'sync.db'}")
    ours = _answers_sync(sync)
    sync.close()
    theirs = _run(_answers_async(AsyncSqlStorage(f"sqlite:///{tmp_path / 'a.db'}")))
    assert [a.status for a in ours][:4] == [200, 201, 201, 409]
    assert any(b'"nextCursor"' in a.body for a in ours)
    for step, mine, other in zip(SCRIPT, ours, theirs, strict=True):
        assert (mine.status, mine.headers, mine.body) == (
            other.status,
            other.headers,
            other.body,
        ), step


# -- the event loop goes on while the database waits ----------------------------


class Ticker:
    """Counts ticks of ``asyncio.sleep(interval)`` and the longest gap between
    two: a loop blocked by a call shows a gap as long as the call."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.ticks = 0
        self.longest = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            self.ticks += 1
            last = now


async def _while_ticking(work: Callable[[], Awaitable[Any]]) -> tuple[Ticker, float]:
    """Run ``work`` with a ticker beside it; returns the ticker and the
    work's duration."""
    ticker = Ticker()
    stop = asyncio.Event()
    ticking = asyncio.create_task(ticker.run(stop))
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    try:
        await work()
    finally:
        took = time.perf_counter() - started
        stop.set()
        await ticking
    return ticker, took


HOLD = 0.4
"""Seconds another connection holds the lock a session waits for."""


def _hold_then_release(holding: threading.Event, release: Callable[[], None]) -> None:
    holding.wait(10)
    time.sleep(HOLD)
    release()


def _sqlite_writer_lock(path: Path) -> tuple[Any, threading.Event]:
    """A plain sqlite3 connection holding the database's write lock."""
    import sqlite3

    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder, threading.Event()


def test_a_session_waiting_for_sqlites_write_lock_does_not_block_the_loop(
    tmp_path: Path,
) -> None:
    """While another connection holds SQLite's write lock, the session's
    ``BEGIN IMMEDIATE`` waits in aiosqlite's thread (the busy timeout), and
    the event loop ticks on. The same wait through the synchronous storage,
    called on the loop, stalls it for as long: the measure can tell."""
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    SqlStorage(url).close()

    async def on_the_async_storage() -> tuple[Ticker, float]:
        storage = AsyncSqlStorage(url)
        await storage.open()
        holder, holding = _sqlite_writer_lock(path)
        threading.Thread(
            target=_hold_then_release, args=(holding, holder.commit)
        ).start()

        async def write() -> None:
            holding.set()
            async with storage.session("t") as session:
                await session.create(USER, user_document("waited"))

        try:
            return await _while_ticking(write)
        finally:
            holder.close()
            await storage.close()

    async def on_the_sync_storage() -> tuple[Ticker, float]:
        storage = SqlStorage(url)
        holder, holding = _sqlite_writer_lock(path)
        threading.Thread(
            target=_hold_then_release, args=(holding, holder.commit)
        ).start()

        async def write() -> None:
            holding.set()
            with storage.session("t") as session:  # blocks the loop
                session.create(USER, user_document("blocked"))

        try:
            return await _while_ticking(write)
        finally:
            holder.close()
            storage.close()

    ticker, took = _run(on_the_async_storage())
    assert took >= HOLD * 0.9  # it did wait for the lock
    assert ticker.ticks >= 20
    assert ticker.longest < HOLD / 2, ticker.longest
    blocked, took = _run(on_the_sync_storage())
    assert took >= HOLD * 0.9
    assert blocked.longest >= HOLD * 0.9, blocked.longest


@pytest.fixture
def async_postgres(postgres_schema_name: str) -> Callable[[], AsyncSqlStorage]:
    return lambda: AsyncSqlStorage(ASYNC_POSTGRES_URL, schema=postgres_schema_name)


@requires_postgres
def test_a_session_waiting_for_a_postgres_row_lock_does_not_block_the_loop(
    async_postgres: Callable[[], AsyncSqlStorage], postgres_schema_name: str
) -> None:
    """Another connection holds a user's row lock (``SELECT … FOR UPDATE``);
    the session's ``DELETE`` waits for it on psycopg's async connection, and
    the event loop ticks on until the lock goes."""
    tenant = f"lock-{time.monotonic_ns()}"
    sync = SqlStorage(POSTGRES_URL, schema=postgres_schema_name)
    with sync.session(tenant) as session:
        user = session.create(USER, user_document("locked"))
    engine = sync.engine

    async def check() -> tuple[Ticker, float, bool]:
        storage = async_postgres()
        await storage.open()
        holder = engine.connect()
        lock = holder.begin()
        holder.execute(
            select(schema.users.c.id)
            .where(schema.users.c.tenant == tenant, schema.users.c.id == user.id)
            .with_for_update()
        )
        holding = threading.Event()
        threading.Thread(target=_hold_then_release, args=(holding, lock.commit)).start()
        deleted: list[bool] = []

        async def delete() -> None:
            holding.set()
            async with storage.session(tenant) as session:
                deleted.append(await session.delete(USER, user.id))

        try:
            ticker, took = await _while_ticking(delete)
        finally:
            holder.close()
            await storage.close()
        return ticker, took, deleted == [True]

    ticker, took, deleted = _run(check())
    sync.close()
    assert deleted
    assert took >= HOLD * 0.9
    assert ticker.ticks >= 20
    assert ticker.longest < HOLD / 2, ticker.longest


@requires_postgres
def test_lost_races_on_one_loop_are_409_and_412_not_deadlocks(
    async_postgres: Callable[[], AsyncSqlStorage],
) -> None:
    """Two sessions of one event loop race on PostgreSQL: the second waits
    for the first's lock without stopping the loop, so the first commits, and
    the second then loses as on the synchronous storage: a taken userName is
    ``Uniqueness`` (409, RFC 7644 §3.3), a moved version is
    ``PreconditionFailed`` (412, RFC 7644 §3.14)."""
    tenant = f"race-{time.monotonic_ns()}"

    async def check() -> list[str]:
        storage = async_postgres()
        outcomes: list[str] = []
        async with storage.session(tenant) as session:
            user = await session.create(USER, user_document("shared"))

        async def second(work: Callable[[Any], Awaitable[Any]]) -> None:
            try:
                async with storage.session(tenant) as session:
                    await work(session)
                outcomes.append("won")
            except Uniqueness:
                outcomes.append("409")
            except PreconditionFailed:
                outcomes.append("412")

        # The same userName, folded: the second insert waits on the index.
        async with storage.session(tenant) as first:
            await first.create(USER, user_document("racer"))
            racing = asyncio.create_task(
                second(lambda s: s.create(USER, user_document("RACER")))
            )
            await asyncio.sleep(0.2)
            assert not racing.done()  # waiting for the first to finish
        await racing

        # The same expected version: the second update waits on the row.
        async with storage.session(tenant) as first:
            await first.replace(
                USER,
                user.id,
                user_document("shared", id=user.id, title="first"),
                expected_version=user.version,
            )
            racing = asyncio.create_task(
                second(
                    lambda s: s.replace(
                        USER,
                        user.id,
                        user_document("shared", id=user.id, title="second"),
                        expected_version=user.version,
                    )
                )
            )
            await asyncio.sleep(0.2)
            assert not racing.done()
        await racing
        async with storage.session(tenant) as session:
            kept = await session.get(USER, user.id)
        assert kept is not None
        outcomes.append(kept.document["title"])
        await storage.close()
        return outcomes

    assert _run(check()) == ["409", "412", "first"]


def test_blocking_view_waits_on_a_loop_it_is_given() -> None:
    """``run`` lets the view share a loop the storage already serves."""
    from tomorro_scim.testing import EventLoopThread

    loop = EventLoopThread()
    storage = SuspendingStorage()
    used: list[asyncio.AbstractEventLoop] = []

    def run(coroutine: Any) -> Any:
        async def noting() -> Any:
            used.append(asyncio.get_running_loop())
            return await coroutine

        return loop.run(noting())

    view = blocking_view(storage, run)
    TokenManager(view).issue("acme", token=TOKEN)
    assert [r.tenant for r in view.list_tokens("acme")] == ["acme"]
    view.close()  # not its loop: left running
    assert not loop.loop.is_closed()
    assert used
    assert set(used) == {loop.loop}
    loop.close()
    assert loop.loop.is_closed()
