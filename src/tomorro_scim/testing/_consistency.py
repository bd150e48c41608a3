"""Optimistic concurrency, versions, and transactions that commit or undo everything."""

from __future__ import annotations

from typing import Any

import pytest

from ..errors import PreconditionFailed
from ..errors import Uniqueness
from ..storage import GROUP
from ..storage import USER
from ..storage import Storage
from ..storage import StorageSession
from ..storage import StoredResource
from ._base import CREATED
from ._base import Boom
from ._base import ContractBase
from ._base import group_document
from ._base import membership_write
from ._base import user_document


class ConsistencyContract(ContractBase):
    """Optimistic concurrency, versions, and transactions that commit or undo everything."""

    # == optimistic concurrency ==========================================

    def test_expected_version(self, storage: Storage, tenant: str) -> None:
        user = self.create_user(storage, tenant, "alice")
        with pytest.raises(PreconditionFailed), storage.session(tenant) as session:
            session.replace(
                USER,
                user.id,
                user_document("alice", id=user.id, title="stale"),
                expected_version=user.version + 1,
            )
        with pytest.raises(PreconditionFailed), storage.session(tenant) as session:
            session.delete(USER, user.id, expected_version=user.version - 1)
        stored = self.get(storage, tenant, USER, user.id)
        assert stored is not None
        assert stored.version == user.version
        assert "title" not in stored.document
        with storage.session(tenant) as session:
            replaced = session.replace(
                USER,
                user.id,
                user_document("alice", id=user.id, title="fresh"),
                expected_version=user.version,
            )
        with pytest.raises(PreconditionFailed), storage.session(tenant) as session:
            session.replace(
                USER,
                user.id,
                user_document("alice", id=user.id),
                expected_version=user.version,
            )
        with storage.session(tenant) as session:
            assert session.delete(USER, user.id, expected_version=replaced.version)

    def test_expected_version_on_groups(self, storage: Storage, tenant: str) -> None:
        alice = self.create_user(storage, tenant, "alice")
        group = self.create_group(storage, tenant, "Engineering")
        with storage.session(tenant) as session:
            session.add_members(group.id, [alice.id])
        # The membership change moved the version: the old one is stale now.
        with pytest.raises(PreconditionFailed), storage.session(tenant) as session:
            session.replace(
                GROUP,
                group.id,
                group_document("Platform", id=group.id),
                expected_version=group.version,
            )
        with pytest.raises(PreconditionFailed), storage.session(tenant) as session:
            session.delete(GROUP, group.id, expected_version=group.version)
        current = self.version(storage, tenant, GROUP, group.id)
        with storage.session(tenant) as session:
            session.replace(
                GROUP,
                group.id,
                group_document("Platform", id=group.id),
                expected_version=current,
            )

    def test_every_write_moves_the_version(self, storage: Storage, tenant: str) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        group = self.create_group(storage, tenant, "Engineering")
        seen = [group.version]

        def moved() -> None:
            now = self.version(storage, tenant, GROUP, group.id)
            assert now > seen[-1]
            seen.append(now)

        with storage.session(tenant) as session:
            session.replace(GROUP, group.id, group_document("Platform", id=group.id))
        moved()
        with storage.session(tenant) as session:
            session.add_members(group.id, [alice.id])
        moved()
        with storage.session(tenant) as session:
            session.replace_members(group.id, [bob.id])
        moved()
        with storage.session(tenant) as session:
            session.remove_members(group.id, [bob.id])
        moved()
        with storage.session(tenant) as session:
            session.add_members(group.id, [alice.id, bob.id])
        moved()
        with storage.session(tenant) as session:
            session.delete(USER, bob.id)
        moved()
        user_version = self.version(storage, tenant, USER, alice.id)
        with storage.session(tenant) as session:
            session.replace(
                USER, alice.id, user_document("alice", id=alice.id, title="x")
            )
        assert self.version(storage, tenant, USER, alice.id) > user_version

    def test_membership_no_op_keeps_the_version(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        group = self.create_group(storage, tenant, "Engineering", [alice.id])
        with storage.session(tenant) as session:
            assert (
                session.add_members(
                    group.id, [alice.id], modified="2030-01-01T00:00:00Z"
                )
                == []
            )
            assert (
                session.remove_members(
                    group.id, [bob.id], modified="2030-01-01T00:00:00Z"
                )
                == []
            )
            assert session.replace_members(
                group.id, [alice.id], modified="2030-01-01T00:00:00Z"
            ) == ([], [])
        stored = self.get(storage, tenant, GROUP, group.id, include_members=False)
        assert stored is not None
        assert stored.version == group.version
        assert stored.document["meta"]["lastModified"] == CREATED

    @pytest.mark.parametrize("write", ["add", "remove", "replace"])
    def test_membership_change_sets_last_modified_only(
        self, storage: Storage, tenant: str, write: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        group = self.create_group(
            storage, tenant, "Engineering", [alice.id], externalId="g-1"
        )
        before = self.get(storage, tenant, GROUP, group.id, include_members=False)
        assert before is not None
        modified = "2030-06-01T12:00:00Z"
        with storage.session(tenant) as session:
            membership_write(session, write, group.id, [bob.id], modified=modified)
        after = self.get(storage, tenant, GROUP, group.id, include_members=False)
        assert after is not None
        assert after.version > before.version
        expected = dict(before.document)
        expected["meta"] = {**before.document["meta"], "lastModified": modified}
        assert after.document == expected

    def test_membership_change_without_modified_keeps_the_document(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        group = self.create_group(storage, tenant, "Engineering")
        with storage.session(tenant) as session:
            session.add_members(group.id, [alice.id])
        after = self.get(storage, tenant, GROUP, group.id, include_members=False)
        assert after is not None
        assert after.version > group.version
        assert after.document == group.document

    def test_rename_and_membership_change_in_one_session(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        group = self.create_group(storage, tenant, "Engineering")
        with storage.session(tenant) as session:
            session.replace(GROUP, group.id, group_document("Platform", id=group.id))
            session.add_members(group.id, [alice.id], modified="2030-01-01T00:00:00Z")
        stored = self.get(storage, tenant, GROUP, group.id, include_members=False)
        assert stored is not None
        assert stored.document["displayName"] == "Platform"
        assert stored.document["meta"]["lastModified"] == "2030-01-01T00:00:00Z"
        assert self.member_ids(storage, tenant, group.id) == [alice.id]

    # == transactions ======================================================

    def _transaction_world(
        self, storage: Storage, tenant: str
    ) -> dict[str, StoredResource]:
        """Users, groups and memberships every kind of write can change."""
        alice = self.create_user(storage, tenant, "alice", role="Contributor")
        bob = self.create_user(storage, tenant, "bob", role="Manager")
        carol = self.create_user(storage, tenant, "carol")
        dave = self.create_user(storage, tenant, "dave")
        engineering = self.create_group(
            storage, tenant, "Engineering", [alice.id, bob.id, carol.id]
        )
        sales = self.create_group(storage, tenant, "Sales", [bob.id, alice.id])
        return {
            "alice": alice,
            "bob": bob,
            "carol": carol,
            "dave": dave,
            "engineering": engineering,
            "sales": sales,
        }

    _WRITES = (
        "create user",
        "create group",
        "replace user",
        "replace group",
        "delete user",
        "delete group",
        "add members",
        "remove members",
        "replace members",
        "set role",
        "adopt",
        "all of them",
    )

    def _write(
        self,
        session: StorageSession,
        kind: str,
        world: dict[str, StoredResource],
        app_user: dict[str, Any] | None,
    ) -> None:
        alice, bob, dave = world["alice"], world["bob"], world["dave"]
        engineering, sales = world["engineering"], world["sales"]
        everything = kind == "all of them"
        if kind == "create user" or everything:
            session.create(USER, user_document("erin"), role="Admin")
        if kind == "create group" or everything:
            session.create(GROUP, group_document("Marketing"))
        if kind == "replace user" or everything:
            session.replace(
                USER, alice.id, user_document("alicia", id=alice.id), role="Admin"
            )
        if kind == "replace group" or everything:
            session.replace(GROUP, sales.id, group_document("Revenue", id=sales.id))
        if kind == "add members" or everything:
            session.add_members(engineering.id, [dave.id], modified="2030-01-01T00:00Z")
        if kind == "remove members" or everything:
            session.remove_members(
                engineering.id, [alice.id], modified="2030-01-01T00:00Z"
            )
        if kind == "replace members" or everything:
            session.replace_members(sales.id, [dave.id, alice.id])
        if kind == "set role" or everything:
            session.set_role(bob.id, "Admin")
        if kind == "delete user" or everything:
            assert session.delete(USER, bob.id)
        if kind == "delete group" or everything:
            assert session.delete(GROUP, engineering.id)
        if (kind == "adopt" or everything) and app_user is not None:
            session.replace(USER, app_user["id"], app_user, role="Admin", adopt=True)

    def _app_user(
        self, storage: Storage, tenant: str, kind: str
    ) -> dict[str, Any] | None:
        """The unmanaged user an adopting write needs, if the backend has them."""
        if kind not in ("adopt", "all of them"):
            return None
        document = user_document("app.user")
        try:
            self.add_unmanaged_user(storage, tenant, document)
        except pytest.skip.Exception:
            if kind == "adopt":
                raise
            return None
        return document

    @pytest.mark.parametrize("kind", _WRITES)
    def test_an_exception_rolls_back_every_write(
        self, storage: Storage, tenant: str, kind: str
    ) -> None:
        world = self._transaction_world(storage, tenant)
        app_user = self._app_user(storage, tenant, kind)
        names = ["alice", "bob", "erin", "app.user", "alicia"]
        before = self.snapshot(storage, tenant, names)

        def fail() -> None:
            with storage.session(tenant) as session:
                self._write(session, kind, world, app_user)
                raise Boom

        with pytest.raises(Boom):
            fail()
        assert self.snapshot(storage, tenant, names) == before
        # The names a rolled-back write took are free again.
        self.create_user(storage, tenant, "erin")
        self.create_group(storage, tenant, "Marketing")

    def test_a_uniqueness_error_rolls_back_the_session(
        self, storage: Storage, tenant: str
    ) -> None:
        world = self._transaction_world(storage, tenant)
        before = self.snapshot(storage, tenant, ["alice"])

        def fail() -> None:
            with storage.session(tenant) as session:
                session.create(USER, user_document("erin"))
                session.add_members(world["sales"].id, [world["dave"].id])
                session.create(USER, user_document("ALICE"))

        with pytest.raises(Uniqueness):
            fail()
        assert self.snapshot(storage, tenant, ["alice"]) == before

    @pytest.mark.parametrize("kind", _WRITES)
    def test_a_committed_session_persists(
        self, storage: Storage, tenant: str, kind: str
    ) -> None:
        world = self._transaction_world(storage, tenant)
        app_user = self._app_user(storage, tenant, kind)
        names = ["alice", "bob", "erin", "app.user", "alicia"]
        before = self.snapshot(storage, tenant, names)
        with storage.session(tenant) as session:
            self._write(session, kind, world, app_user)
            inside = self.snapshot_in(session, names)
        after = self.snapshot(storage, tenant, names)
        assert after != before
        assert after == inside
