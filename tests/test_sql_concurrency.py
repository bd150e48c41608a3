"""Concurrent sessions on the SQL backend: nothing lost, one winner, no 500.

Threads share one SqlStorage (one connection pool), as the threads of a web
server do; the last test runs two processes against one PostgreSQL database,
as two app servers behind a load balancer do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_storage_sql import POSTGRES_URL
from test_storage_sql import postgres_schema
from test_storage_sql import postgres_storage
from test_storage_sql import requires_postgres
from tomorro_scim.errors import PreconditionFailed
from tomorro_scim.errors import Uniqueness
from tomorro_scim.storage import GROUP
from tomorro_scim.storage import USER
from tomorro_scim.storage.sql import SqlStorage
from tomorro_scim.testing import group_document
from tomorro_scim.testing import user_document

THREADS = 12
ROUNDS = 6


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def storage(
    request: pytest.FixtureRequest, tmp_path_factory: Any
) -> Iterator[SqlStorage]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("concurrency") / "scim.db"
        sqlite = SqlStorage(f"sqlite:///{path}", pool_size=THREADS)
        yield sqlite
        sqlite.close()
        return
    if not POSTGRES_URL:
        pytest.skip("set TOMORRO_SCIM_TEST_POSTGRES_URL to run on PostgreSQL")
    with postgres_schema() as name:
        postgres = SqlStorage(POSTGRES_URL, schema=name, pool_size=THREADS)
        yield postgres
        postgres.close()


@pytest.fixture
def tenant() -> str:
    return f"race-{uuid.uuid4().hex}"


def _race(count: int, work: Callable[[int], str]) -> list[str]:
    """Run ``work(i)`` on ``count`` threads released together; their outcomes."""
    barrier = threading.Barrier(count)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcome = work(i)
        except BaseException as error:  # reported below, with its type
            errors.append(error)
            return
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()
    assert errors == []
    return outcomes


def test_concurrent_member_adds_all_persist(storage: SqlStorage, tenant: str) -> None:
    with storage.session(tenant) as session:
        group = session.create(GROUP, group_document("Everyone"))
        users = [
            session.create(USER, user_document(f"user{i}")).id for i in range(THREADS)
        ]

    def add(i: int) -> str:
        for _ in range(ROUNDS):
            with storage.session(tenant) as session:
                session.add_members(group.id, [users[i]])
                session.remove_members(group.id, [users[i]])
                session.add_members(group.id, [users[i]])
        return "done"

    assert _race(THREADS, add) == ["done"] * THREADS
    with storage.session(tenant) as session:
        assert sorted(m.value for m in session.members(group.id)) == sorted(users)
        stored = session.get(GROUP, group.id)
        assert stored is not None
        # The first round of each thread changes three times, later ones twice.
        assert stored.version == group.version + THREADS * (3 + (ROUNDS - 1) * 2)
        for user_id in users:
            assert [g.id for g in session.user_groups(user_id)] == [group.id]


def test_concurrent_adds_of_the_same_member_add_it_once(
    storage: SqlStorage, tenant: str
) -> None:
    with storage.session(tenant) as session:
        group = session.create(GROUP, group_document("Everyone"))
        user = session.create(USER, user_document("alice"))

    def add(i: int) -> str:
        with storage.session(tenant) as session:
            return "added" if session.add_members(group.id, [user.id]) else "member"

    assert sorted(_race(THREADS, add)) == ["added"] + ["member"] * (THREADS - 1)
    with storage.session(tenant) as session:
        assert [m.value for m in session.members(group.id)] == [user.id]
        stored = session.get(GROUP, group.id)
        assert stored is not None
        assert stored.version == group.version + 1


def test_concurrent_creates_of_one_user_name_give_one_winner(
    storage: SqlStorage, tenant: str
) -> None:
    def create(i: int) -> str:
        name = "Alice@Example.com" if i % 2 else "alice@example.COM"
        try:
            with storage.session(tenant) as session:
                session.create(USER, user_document(name))
        except Uniqueness:
            return "taken"
        return "created"

    assert sorted(_race(THREADS, create)) == ["created"] + ["taken"] * (THREADS - 1)


def test_concurrent_creates_of_one_group_name_give_one_winner(
    storage: SqlStorage, tenant: str
) -> None:
    def create(i: int) -> str:
        try:
            with storage.session(tenant) as session:
                session.create(GROUP, group_document("Sales" if i % 2 else "SALES"))
        except Uniqueness:
            return "taken"
        return "created"

    assert sorted(_race(THREADS, create)) == ["created"] + ["taken"] * (THREADS - 1)


def test_concurrent_renames_to_one_name_give_one_winner(
    storage: SqlStorage, tenant: str
) -> None:
    with storage.session(tenant) as session:
        ids = [session.create(USER, user_document(f"u{i}")).id for i in range(THREADS)]

    def rename(i: int) -> str:
        try:
            with storage.session(tenant) as session:
                session.replace(USER, ids[i], user_document("boss", id=ids[i]))
        except Uniqueness:
            return "taken"
        return "renamed"

    assert sorted(_race(THREADS, rename)) == ["renamed"] + ["taken"] * (THREADS - 1)


def test_compare_and_swap_has_one_winner(storage: SqlStorage, tenant: str) -> None:
    with storage.session(tenant) as session:
        user = session.create(USER, user_document("alice"))

    def replace(i: int) -> str:
        try:
            with storage.session(tenant) as session:
                session.replace(
                    USER,
                    user.id,
                    user_document("alice", id=user.id, title=f"writer {i}"),
                    expected_version=user.version,
                )
        except PreconditionFailed:
            return "stale"
        return "written"

    assert sorted(_race(THREADS, replace)) == ["stale"] * (THREADS - 1) + ["written"]
    with storage.session(tenant) as session:
        stored = session.get(USER, user.id)
        assert stored is not None
        assert stored.version == user.version + 1


_WORKER = """
import sys
from tomorro_scim.storage.sql import SqlStorage
url, schema, tenant, group_id, *user_ids = sys.argv[1:]
storage = SqlStorage(url, schema=schema)
for user_id in user_ids:
    with storage.session(tenant) as session:
        session.add_members(group_id, [user_id])
storage.close()
"""


@requires_postgres
def test_two_processes_add_members_to_one_group() -> None:
    tenant = f"procs-{uuid.uuid4().hex}"
    with postgres_schema() as name:
        storage = postgres_storage(name)
        with storage.session(tenant) as session:
            group = session.create(GROUP, group_document("Everyone"))
            users = [
                session.create(USER, user_document(f"user{i}")).id for i in range(60)
            ]
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _WORKER,
                    POSTGRES_URL,
                    name,
                    tenant,
                    group.id,
                    *users[part::2],
                ],
                env={**os.environ},
            )
            for part in (0, 1)
        ]
        for worker in workers:
            assert worker.wait(timeout=120) == 0
        with storage.session(tenant) as session:
            assert sorted(m.value for m in session.members(group.id)) == sorted(users)
            stored = session.get(GROUP, group.id, include_members=False)
            assert stored is not None
            assert stored.version == group.version + len(users)
        storage.close()
