"""SQLite's storage on an event loop (``SqlStorage.on_event_loop()``).

Its statements run on the loop's own thread; it suspends only to wait for a
lock (SQLite's write lock held by another connection, or this process's
writer lock held by another thread), polling as SQLite's busy handler would,
and the loop serves other work meanwhile. The contract kit runs on it as on
every backend, and ``handle_async`` over it answers the Entra-shaped script
byte for byte as ``handle`` over the storage itself.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from test_async_service import SCRIPT
from test_async_service import TOKEN
from test_async_service import _request
from test_async_service import _service
from test_storage_sql import POSTGRES_URL
from test_storage_sql import requires_postgres
from test_storage_sql_async import HOLD
from test_storage_sql_async import _hold_then_release
from test_storage_sql_async import _run
from test_storage_sql_async import _sqlite_writer_lock
from test_storage_sql_async import _while_ticking
from tomorro_scim.auth import TokenManager
from tomorro_scim.events import Event
from tomorro_scim.service import ScimService
from tomorro_scim.storage import USER
from tomorro_scim.storage.asynchronous import AsyncStorage
from tomorro_scim.storage.asynchronous import event_loop_face
from tomorro_scim.storage.asynchronous import is_async_storage
from tomorro_scim.storage.sql import SqlStorage
from tomorro_scim.storage.sql import StorageBusy
from tomorro_scim.storage.sql.loop import SqliteOnLoop
from tomorro_scim.testing import AsyncStorageContract
from tomorro_scim.testing import user_document


def _face(storage: SqlStorage) -> SqliteOnLoop:
    face = storage.on_event_loop()
    assert isinstance(face, SqliteOnLoop)
    return face


class _OnLoopKit(AsyncStorageContract):
    url = ""

    def make_async_storage(self) -> AsyncStorage:
        return _face(SqlStorage(self.url))

    async def close_async_storage(self, storage: AsyncStorage) -> None:
        assert isinstance(storage, SqliteOnLoop)
        storage.storage.close()

    def add_unmanaged_user(
        self, storage: Any, tenant: str, document: dict[str, Any]
    ) -> None:
        storage.storage.storage.add_app_user(tenant, document)

    def add_unmanaged_group(
        self, storage: Any, tenant: str, document: dict[str, Any]
    ) -> None:
        storage.storage.storage.add_app_group(tenant, document)


class TestSqliteFileOnLoop(_OnLoopKit):
    """A database file, fresh per test."""

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'scim.db'}"


class TestSqliteMemoryOnLoop(_OnLoopKit):
    """``sqlite://``: one in-memory connection, which sessions take in turn."""

    url = "sqlite://"


def test_only_sqlite_has_a_face_for_the_loop(tmp_path: Path) -> None:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'face.db'}")
    face = event_loop_face(storage)
    assert isinstance(face, SqliteOnLoop)
    assert is_async_storage(face)
    assert face.keyset_paging
    assert ScimService(storage).awaits_storage
    storage.close()


@requires_postgres
def test_postgres_has_none_and_stays_on_threads() -> None:
    storage = SqlStorage(POSTGRES_URL)
    assert storage.on_event_loop() is None
    assert not ScimService(storage).awaits_storage
    storage.close()


def test_a_face_that_is_not_async_is_refused() -> None:
    class Odd:
        def on_event_loop(self) -> object:
            return object()

    with pytest.raises(TypeError, match="not async"):
        event_loop_face(Odd())


def test_handle_async_on_the_face_answers_as_handle_does(tmp_path: Path) -> None:
    """One database each, the same script: byte for byte the same answers."""
    answers = {}
    for way in ("sync", "loop"):
        storage = SqlStorage(f"sqlite:///{tmp_path / way}.db")
        TokenManager(storage).issue("acme", token=TOKEN)
        events: list[Event] = []
        service = _service(storage, events)
        if way == "sync":
            answers[way] = [service.handle(_request(*step)) for step in SCRIPT]
        else:

            async def script(service: ScimService = service) -> list[Any]:
                return [await service.handle_async(_request(*s)) for s in SCRIPT]

            answers[way] = _run(script())
        storage.close()
    for step, mine, other in zip(SCRIPT, answers["sync"], answers["loop"], strict=True):
        assert (mine.status, mine.headers, mine.body) == (
            other.status,
            other.headers,
            other.body,
        ), step


def test_a_session_waits_for_another_connections_write_lock_on_the_loop(
    tmp_path: Path,
) -> None:
    """Another connection holds SQLite's write lock for HOLD seconds: the
    session's attempts find it taken and sleep on the loop, which ticks on;
    the session then opens and its write lands."""
    path = tmp_path / "locked.db"
    storage = SqlStorage(f"sqlite:///{path}")
    face = _face(storage)
    holder, holding = _sqlite_writer_lock(path)
    threading.Thread(target=_hold_then_release, args=(holding, holder.commit)).start()

    async def write() -> None:
        holding.set()
        async with face.session("t") as session:
            await session.create(USER, user_document("waited"))

    try:
        ticker, took = _run(_while_ticking(write))
    finally:
        holder.close()
    assert took >= HOLD * 0.9  # it did wait for the lock
    assert ticker.ticks >= 20
    assert ticker.longest < HOLD / 2, ticker.longest
    with storage.session("t") as session:
        assert session.find_user_by_user_name("waited") is not None
    storage.close()


def test_past_the_busy_timeout_the_session_is_busy_and_did_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stuck.db"
    storage = SqlStorage(f"sqlite:///{path}", sqlite_busy_timeout=0.2)
    face = _face(storage)
    holder, _ = _sqlite_writer_lock(path)

    async def write() -> None:
        async with face.session("t") as session:
            await session.create(USER, user_document("never"))

    started = time.monotonic()
    with pytest.raises(StorageBusy):
        _run(write())
    assert 0.15 <= time.monotonic() - started < 2
    holder.rollback()
    holder.close()
    with storage.session("t") as session:
        assert session.find_user_by_user_name("never") is None
    storage.close()


def test_a_session_waits_for_a_thread_of_this_process_on_the_loop(
    tmp_path: Path,
) -> None:
    """A thread of the host app holds a session (so this process's writer
    lock): the loop's session waits for it without blocking the loop."""
    storage = SqlStorage(f"sqlite:///{tmp_path / 'threads.db'}")
    face = _face(storage)
    entered, leave = threading.Event(), threading.Event()

    def host_thread() -> None:
        with storage.session("t") as session:
            session.create(USER, user_document("first"))
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=host_thread)
    thread.start()
    assert entered.wait(10)
    threading.Timer(HOLD, leave.set).start()

    async def write() -> None:
        async with face.session("t") as session:
            assert await session.find_user_by_user_name("first") is not None
            await session.create(USER, user_document("second"))

    ticker, took = _run(_while_ticking(write))
    thread.join(10)
    assert took >= HOLD * 0.9
    assert ticker.longest < HOLD / 2, ticker.longest
    with storage.session("t") as session:
        assert session.find_user_by_user_name("second") is not None
    storage.close()


def test_requests_on_one_loop_never_share_a_transaction(tmp_path: Path) -> None:
    """Many requests at once on one loop, over one in-memory connection:
    each session runs whole (it never suspends), so every write lands."""
    storage = SqlStorage("sqlite://")
    TokenManager(storage).issue("acme", token=TOKEN)
    service = _service(storage, [])

    async def many() -> list[int]:
        answers = await asyncio.gather(
            *(
                service.handle_async(
                    _request(
                        "POST",
                        "/Users",
                        {
                            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                            "userName": f"u{n}@example.com",
                        },
                    )
                )
                for n in range(40)
            )
        )
        return [answer.status for answer in answers]

    assert _run(many()) == [201] * 40
    with storage.session("acme") as session:
        assert all(
            session.find_user_by_user_name(f"u{n}@example.com") for n in range(40)
        )
    storage.close()


def test_the_token_lookup_and_cursor_key_go_through_the_face(tmp_path: Path) -> None:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'tokens.db'}")
    face = _face(storage)

    async def tokens() -> tuple[Any, ...]:
        token_id = TokenManager(storage).issue("acme", label="x").record.token_id
        found = await face.find_token(token_id)
        listed = await face.list_tokens("acme")
        secret = await face.cursor_secret()
        revoked = await face.revoke_token(token_id)
        return found, listed, secret, revoked

    found, listed, secret, revoked = _run(tokens())
    assert found is not None
    assert found.tenant == "acme"
    assert [record.token_id for record in listed] == [found.token_id]
    assert secret == storage.cursor_secret()
    assert len(secret) == 32
    assert revoked is True
    storage.close()


def test_the_face_holds_one_connection_and_gives_it_back(tmp_path: Path) -> None:
    """The loop runs one transaction at a time: the face keeps one pooled
    connection across requests, and the storage's ``close()`` returns it."""
    storage = SqlStorage(f"sqlite:///{tmp_path / 'held.db'}")
    TokenManager(storage).issue("acme", token=TOKEN)
    service = _service(storage, [])

    async def requests() -> list[int]:
        answers = [
            await service.handle_async(_request("GET", "/Users")) for _ in range(5)
        ]
        return [answer.status for answer in answers]

    assert _run(requests()) == [200] * 5
    pool = storage.engine.pool
    assert pool.checkedout() == 1  # type: ignore[attr-defined]
    storage.close()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_face_closed_takes_a_new_connection(tmp_path: Path) -> None:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'again.db'}")
    face = _face(storage)

    async def write(name: str) -> None:
        async with face.session("t") as session:
            await session.create(USER, user_document(name))

    _run(write("one"))
    face.close()
    face.close()
    _run(write("two"))
    with storage.session("t") as session:
        assert session.find_user_by_user_name("two") is not None
    storage.close()


def test_a_session_asked_not_to_wait_is_busy_at_once(tmp_path: Path) -> None:
    """``SqlStorage.session(tenant, wait=False)`` opens as the face's
    transactions do: StorageBusy before anything is done, whoever holds the lock."""
    path = tmp_path / "nowait.db"
    storage = SqlStorage(f"sqlite:///{path}", sqlite_busy_timeout=5)
    holder, _ = _sqlite_writer_lock(path)
    started = time.monotonic()
    with pytest.raises(StorageBusy), storage.session("t", wait=False):
        pass
    assert time.monotonic() - started < 1
    holder.rollback()
    holder.close()
    entered, leave = threading.Event(), threading.Event()

    def host_thread() -> None:
        with storage.session("t"):
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=host_thread)
    thread.start()
    assert entered.wait(10)
    with pytest.raises(StorageBusy), storage.session("t", wait=False):
        pass
    leave.set()
    thread.join(10)
    with storage.session("t", wait=False) as session:
        session.create(USER, user_document("after"))
    with storage.session("t") as session:
        assert session.find_user_by_user_name("after") is not None
    storage.close()


def test_a_face_dropped_unclosed_gives_its_connection_back(tmp_path: Path) -> None:
    """The storage holds its faces weakly: one nobody uses any more returns
    its connection to the pool when collected, quietly, instead of keeping
    it checked out until the storage closes."""
    storage = SqlStorage(f"sqlite:///{tmp_path / 'dropped.db'}")
    face = _face(storage)

    async def write(face: SqliteOnLoop) -> None:
        async with face.session("t") as session:
            await session.create(USER, user_document("one"))

    _run(write(face))
    pool = storage.engine.pool
    assert pool.checkedout() == 1  # type: ignore[attr-defined]
    del face
    gc.collect()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    storage.close()
