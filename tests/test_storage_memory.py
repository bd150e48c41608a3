"""The memory backend: the storage contract kit, plus what only it promises.

The contract (``tomorro_scim.testing``) is the same one the SQL backends run;
the tests below it are the memory backend's own: thread safety (one lock per
storage, held for a session) and the host-app helpers.
"""

from __future__ import annotations

import threading

import pytest

from tomorro_scim.errors import Uniqueness
from tomorro_scim.storage import GROUP
from tomorro_scim.storage import USER
from tomorro_scim.storage import Storage
from tomorro_scim.storage.memory import MemoryStorage
from tomorro_scim.testing import StorageContract
from tomorro_scim.testing import group_document
from tomorro_scim.testing import user_document

THREADS = 16


class TestMemoryStorage(StorageContract):
    def make_storage(self) -> Storage:
        return MemoryStorage()


class TestMemoryStorageShared(StorageContract):
    """The kit on one storage for every test: tenant names keep them apart."""

    shared = MemoryStorage()

    def make_storage(self) -> Storage:
        return self.shared


def _run(workers: list[threading.Thread]) -> None:
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
        assert not worker.is_alive()


def test_concurrent_member_adds_all_persist() -> None:
    storage = MemoryStorage()
    with storage.session("t") as session:
        group = session.create(GROUP, group_document("Everyone"))
        users = [
            session.create(USER, user_document(f"user{i}")).id for i in range(THREADS)
        ]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def add(user_id: str) -> None:
        try:
            barrier.wait(timeout=5)
            for _ in range(20):
                with storage.session("t") as session:
                    session.add_members(group.id, [user_id])
                    session.remove_members(group.id, [user_id])
                    session.add_members(group.id, [user_id])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    _run([threading.Thread(target=add, args=(u,)) for u in users])
    assert errors == []
    with storage.session("t") as session:
        assert sorted(m.value for m in session.members(group.id)) == sorted(users)
        stored = session.get(GROUP, group.id)
        assert stored is not None
        # Each thread's first round adds, removes and adds (three changes);
        # later rounds find the user a member, so only remove and add change.
        assert stored.version == group.version + THREADS * (3 + 19 * 2)
        for user_id in users:
            assert [g.id for g in session.user_groups(user_id)] == [group.id]


def test_concurrent_creates_of_one_user_name_give_one_winner() -> None:
    storage = MemoryStorage()
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        barrier.wait(timeout=5)
        try:
            with storage.session("t") as session:
                session.create(
                    USER,
                    user_document(f"Alice{'!' * 0}".swapcase() if i % 2 else "alice"),
                )
            result = "created"
        except Uniqueness:
            result = "taken"
        with lock:
            outcomes.append(result)

    _run([threading.Thread(target=create, args=(i,)) for i in range(THREADS)])
    assert sorted(outcomes) == ["created"] + ["taken"] * (THREADS - 1)


def test_sessions_of_different_tenants_do_not_mix_under_threads() -> None:
    storage = MemoryStorage()
    errors: list[BaseException] = []

    def fill(tenant: str) -> None:
        try:
            for i in range(50):
                with storage.session(tenant) as session:
                    session.create(USER, user_document(f"user{i}"))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    tenants = [f"t{i}" for i in range(8)]
    _run([threading.Thread(target=fill, args=(t,)) for t in tenants])
    assert errors == []
    for tenant in tenants:
        with storage.session(tenant) as session:
            found = session.find_user_by_user_name("USER7")
            assert found is not None
            assert session.existing_user_ids([found.id]) == {found.id}


def test_add_app_user_and_group_return_unmanaged_resources() -> None:
    storage = MemoryStorage()
    user = storage.add_app_user("t", user_document("app.user"))
    group = storage.add_app_group("t", group_document("App Group"))
    assert (user.managed, group.managed) == (False, False)
    with storage.session("t") as session:
        assert session.get(USER, user.id) is None
        assert session.get(GROUP, group.id) is None


def test_a_rolled_back_removal_keeps_the_member_order_for_later_adds() -> None:
    storage = MemoryStorage()
    with storage.session("t") as session:
        group = session.create(GROUP, group_document("Everyone"))
        ids = [session.create(USER, user_document(f"u{i}")).id for i in range(4)]
        session.add_members(group.id, ids[:3])

    def fail() -> None:
        with storage.session("t") as session:
            session.remove_members(group.id, ids[:2])
            session.delete(USER, ids[2])
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        fail()
    with storage.session("t") as session:
        session.add_members(group.id, [ids[3]])
        assert [m.value for m in session.members(group.id)] == ids
        assert [g.id for g in session.user_groups(ids[2])] == [group.id]


def test_index_narrowing_finds_what_a_scan_finds() -> None:
    """The userName/displayName/externalId indexes only narrow: every filter
    they serve selects exactly what the predicate selects over all rows, in
    the default order (insertion order)."""
    import random

    from tomorro_scim.filter import compile_filter
    from tomorro_scim.storage import SearchQuery

    rng = random.Random(7)
    storage = MemoryStorage()
    stems = ["ada", "Adam", "bob", "Zoe\u0301", "zo\u00e9", "al"]
    names = [rng.choice(stems) + str(i) for i in range(300)]
    documents = [
        {
            "id": f"u{i}",
            "userName": name,
            "externalId": rng.choice(["X", "x", "e\u0301", "\u00e9"]),
            "active": rng.random() < 0.5,
        }
        for i, name in enumerate(names)
    ]
    with storage.session("t") as session:
        for document in documents:
            session.create("User", document)
        session.delete("User", "u5")
    filters = [
        'userName sw "a"',
        'userName sw "ADA"',
        'userName sw "zo\u00e9"',
        'userName sw "zoe\u0301" and active eq true',
        'active eq true and userName sw "al"',
        'userName eq "ADA1" or userName sw "b"',
        'externalId eq "\u00e9" and userName sw "a"',
        'externalId eq "x"',
        'userName sw ""',
    ]
    for text in filters:
        compiled = compile_filter(text)
        expected = [d["id"] for d in documents if d["id"] != "u5" and compiled(d)]
        with storage.session("t") as session:
            result = session.search("User", SearchQuery(filter=compiled, count=1000))
        assert [r.id for r in result.resources] == expected, text
        assert result.total == len(expected), text


def test_indexes_follow_replaces_that_keep_or_change_the_names() -> None:
    """A replace that keeps the folded userName and externalId (most PATCHes)
    leaves the indexes alone; one that changes either refiles them. After any
    mix of both, rolled back or not, the indexed filters still select what a
    scan selects, and uniqueness holds on the current names only."""
    import random

    from tomorro_scim.filter import compile_filter
    from tomorro_scim.storage import SearchQuery

    rng = random.Random(11)
    storage = MemoryStorage()
    current = {
        f"u{i}": {"id": f"u{i}", "userName": f"ada{i}", "externalId": f"e{i % 7}"}
        for i in range(60)
    }
    with storage.session("t") as session:
        for document in current.values():
            session.create(USER, dict(document))
    for step in range(400):
        user_id = rng.choice(sorted(current))
        document = dict(current[user_id])
        change = rng.choice(["same", "case", "rename", "external", "title"])
        if change == "case":
            document["userName"] = document["userName"].upper()
        elif change == "rename":
            document["userName"] = f"{rng.choice(['ada', 'bob', 'al'])}x{step}"
        elif change == "external":
            document["externalId"] = rng.choice(["E1", "e2", "x"])
        elif change == "title":
            document["title"] = f"t{step}"
        fail = rng.random() < 0.2
        try:
            with storage.session("t") as session:
                session.replace(USER, user_id, document)
                if fail:
                    raise RuntimeError("roll back")
        except RuntimeError:
            continue
        current[user_id] = document
    filters = [
        'userName sw "a"',
        'userName sw "BOB"',
        'userName eq "ADA3"',
        'externalId eq "e2"',
        'externalId eq "x" and userName sw "a"',
    ]
    order = list(current)
    for text in filters:
        compiled = compile_filter(text)
        expected = [i for i in order if compiled(current[i])]
        with storage.session("t") as session:
            result = session.search(USER, SearchQuery(filter=compiled, count=1000))
        assert sorted(r.id for r in result.resources) == sorted(expected), text
    taken = next(iter(current.values()))["userName"]
    with pytest.raises(Uniqueness), storage.session("t") as session:
        session.create(USER, {"id": "new", "userName": taken.swapcase()})
