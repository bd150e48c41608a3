"""Group membership: ordered sets, exact change reports, and clean-up on delete."""

from __future__ import annotations

import pytest

from ..errors import NotFound
from ..storage import GROUP
from ..storage import USER
from ..storage import MemberRef
from ..storage import Storage
from ._base import ContractBase
from ._base import membership_write
from ._base import new_id
from ._base import user_document


class MembershipContract(ContractBase):
    """Group membership: ordered sets, exact change reports, and clean-up on delete."""

    # == membership ========================================================

    def test_add_members_returns_what_it_added(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        carol = self.create_user(storage, tenant, "carol")
        group = self.create_group(storage, tenant, "Engineering")
        with storage.session(tenant) as session:
            assert session.add_members(group.id, [bob.id, alice.id, bob.id]) == [
                bob.id,
                alice.id,
            ]
            assert session.add_members(group.id, [alice.id]) == []
            assert session.add_members(group.id, []) == []
            assert session.add_members(group.id, [alice.id, carol.id]) == [carol.id]
        assert self.member_ids(storage, tenant, group.id) == [
            bob.id,
            alice.id,
            carol.id,
        ]

    def test_remove_members_returns_what_it_removed(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        carol = self.create_user(storage, tenant, "carol")
        group = self.create_group(
            storage, tenant, "Engineering", [alice.id, bob.id, carol.id]
        )
        with storage.session(tenant) as session:
            assert session.remove_members(group.id, [bob.id, new_id(), bob.id]) == [
                bob.id
            ]
            assert session.remove_members(group.id, [bob.id]) == []
            assert session.remove_members(group.id, []) == []
        assert self.member_ids(storage, tenant, group.id) == [alice.id, carol.id]
        # Re-adding puts a member last, like any other addition.
        with storage.session(tenant) as session:
            assert session.add_members(group.id, [bob.id]) == [bob.id]
        assert self.member_ids(storage, tenant, group.id) == [
            alice.id,
            carol.id,
            bob.id,
        ]

    def test_replace_members_returns_added_and_removed(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        carol = self.create_user(storage, tenant, "carol")
        dave = self.create_user(storage, tenant, "dave")
        group = self.create_group(storage, tenant, "Engineering", [alice.id, bob.id])
        with storage.session(tenant) as session:
            added, removed = session.replace_members(
                group.id, [carol.id, bob.id, dave.id, carol.id]
            )
        assert added == [carol.id, dave.id]
        assert removed == [alice.id]
        assert self.member_ids(storage, tenant, group.id) == [bob.id, carol.id, dave.id]
        with storage.session(tenant) as session:
            assert session.replace_members(group.id, [dave.id, bob.id, carol.id]) == (
                [],
                [],
            )
            assert session.replace_members(group.id, []) == (
                [],
                [bob.id, carol.id, dave.id],
            )
        assert self.member_ids(storage, tenant, group.id) == []
        assert self.group_ids_of(storage, tenant, bob.id) == set()

    @pytest.mark.parametrize("write", ["add", "remove", "replace"])
    def test_membership_writes_need_a_managed_group(
        self, storage: Storage, tenant: str, write: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        with pytest.raises(NotFound), storage.session(tenant) as session:
            membership_write(session, write, new_id(), [alice.id])
        with pytest.raises(NotFound), storage.session(tenant) as session:
            # A user's id is not a group's.
            membership_write(session, write, alice.id, [alice.id])
        assert self.group_ids_of(storage, tenant, alice.id) == set()

    def test_deleting_a_user_removes_it_from_its_groups(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        engineering = self.create_group(
            storage, tenant, "Engineering", [alice.id, bob.id]
        )
        sales = self.create_group(storage, tenant, "Sales", [alice.id])
        with storage.session(tenant) as session:
            session.delete(USER, alice.id)
        assert self.member_ids(storage, tenant, engineering.id) == [bob.id]
        assert self.member_ids(storage, tenant, sales.id) == []
        assert self.version(storage, tenant, GROUP, sales.id) > sales.version
        found = self.search(storage, tenant, GROUP, filter=f'members eq "{alice.id}"')
        assert found.total == 0
        loaded = self.get(storage, tenant, GROUP, engineering.id, include_members=True)
        assert loaded is not None
        assert [m["value"] for m in loaded.document["members"]] == [bob.id]

    def test_deleting_a_group_removes_its_memberships(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        engineering = self.create_group(storage, tenant, "Engineering", [alice.id])
        sales = self.create_group(storage, tenant, "Sales", [alice.id])
        with storage.session(tenant) as session:
            session.delete(GROUP, engineering.id)
        assert self.group_ids_of(storage, tenant, alice.id) == {sales.id}
        assert self.member_ids(storage, tenant, engineering.id) == []
        # The user is untouched.
        assert self.get(storage, tenant, USER, alice.id) is not None

    def test_members_carry_display_names(self, storage: Storage, tenant: str) -> None:
        alice = self.create_user(
            storage, tenant, "alice@example.com", displayName="Alice"
        )
        bob = self.create_user(storage, tenant, "bob@example.com")
        group = self.create_group(storage, tenant, "Engineering", [alice.id, bob.id])
        with storage.session(tenant) as session:
            assert session.members(group.id) == [
                MemberRef(value=alice.id, display="Alice", type="User"),
                MemberRef(value=bob.id, display="bob@example.com", type="User"),
            ]
            # Display names are read when asked for, not copied when added.
            session.replace(
                USER,
                bob.id,
                user_document("bob@example.com", id=bob.id, displayName="Bob"),
            )
        with storage.session(tenant) as session:
            assert [m.display for m in session.members(group.id)] == ["Alice", "Bob"]
            assert session.members(new_id()) == []

    def test_user_groups(self, storage: Storage, tenant: str) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        engineering = self.create_group(storage, tenant, "Engineering", [alice.id])
        sales = self.create_group(storage, tenant, "Sales", [alice.id, bob.id])
        self.create_group(storage, tenant, "Empty")
        with storage.session(tenant) as session:
            groups = session.user_groups(alice.id)
            assert {g.id for g in groups} == {engineering.id, sales.id}
            for group in groups:
                assert group.resource_type == GROUP
                assert "members" not in group.document
                assert group.document["displayName"] in ("Engineering", "Sales")
            assert [g.id for g in session.user_groups(bob.id)] == [sales.id]
            assert session.user_groups(new_id()) == []

    def test_existing_user_ids(
        self, storage: Storage, tenant: str, other_tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        group = self.create_group(storage, tenant, "Engineering")
        stranger = self.create_user(storage, other_tenant, "carol")
        unknown = new_id()
        with storage.session(tenant) as session:
            assert session.existing_user_ids(
                [alice.id, bob.id, group.id, stranger.id, unknown, alice.id]
            ) == {alice.id, bob.id}
            assert session.existing_user_ids([]) == set()

    def test_existing_user_ids_skips_unmanaged_users(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        app_user = user_document("app.user")
        self.add_unmanaged_user(storage, tenant, app_user)
        with storage.session(tenant) as session:
            assert session.existing_user_ids([alice.id, app_user["id"]]) == {alice.id}
