"""Uniqueness of names within a tenant, and tenants that never see each other."""

from __future__ import annotations

import pytest

from ..errors import NotFound
from ..errors import Uniqueness
from ..filter import compile_filter
from ..storage import GROUP
from ..storage import USER
from ..storage import SearchQuery
from ..storage import Storage
from ._base import ALL
from ._base import ContractBase
from ._base import group_document
from ._base import membership_write
from ._base import token_record
from ._base import user_document


class IsolationContract(ContractBase):
    """Uniqueness of names within a tenant, and tenants that never see each other."""

    # == uniqueness =======================================================

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            ("alice@example.com", "ALICE@Example.COM"),
            # NFC and NFD spellings of the same name, and a non-ASCII case pair.
            ("\u00e9lodie@example.com", "e\u0301lodie@example.com"),
            ("\u00c9LODIE@example.com", "\u00e9lodie@example.com"),
        ],
    )
    def test_user_name_is_unique_case_insensitively(
        self, storage: Storage, tenant: str, first: str, second: str
    ) -> None:
        self.create_user(storage, tenant, first)
        with pytest.raises(Uniqueness):
            self.create_user(storage, tenant, second)
        assert self.search(storage, tenant, USER).total == 1
        with storage.session(tenant) as session:
            found = session.find_user_by_user_name(second)
        assert found is not None
        assert found.document["userName"] == first

    def test_user_name_uniqueness_on_replace(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        with pytest.raises(Uniqueness), storage.session(tenant) as session:
            session.replace(USER, bob.id, user_document("ALICE", id=bob.id))
        stored = self.get(storage, tenant, USER, bob.id)
        assert stored is not None
        assert stored.document["userName"] == "bob"
        assert stored.version == bob.version
        # Renaming oneself to another case is no conflict, and frees nothing.
        with storage.session(tenant) as session:
            session.replace(USER, alice.id, user_document("Alice", id=alice.id))
        with pytest.raises(Uniqueness):
            self.create_user(storage, tenant, "ALICE")
        # A rename frees the old name.
        with storage.session(tenant) as session:
            session.replace(USER, alice.id, user_document("alicia", id=alice.id))
        self.create_user(storage, tenant, "alice")

    def test_deleting_a_user_frees_its_name(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        with storage.session(tenant) as session:
            session.delete(USER, alice.id)
        again = self.create_user(storage, tenant, "ALICE")
        assert again.id != alice.id

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            ("Engineering", "ENGINEERING"),
            ("\u00c9quipe", "e\u0301quipe"),
        ],
    )
    def test_group_display_name_is_unique_case_insensitively(
        self, storage: Storage, tenant: str, first: str, second: str
    ) -> None:
        self.create_group(storage, tenant, first)
        with pytest.raises(Uniqueness):
            self.create_group(storage, tenant, second)
        assert self.search(storage, tenant, GROUP).total == 1

    def test_group_display_name_uniqueness_on_replace(
        self, storage: Storage, tenant: str
    ) -> None:
        self.create_group(storage, tenant, "Engineering")
        sales = self.create_group(storage, tenant, "Sales")
        with pytest.raises(Uniqueness), storage.session(tenant) as session:
            session.replace(GROUP, sales.id, group_document("engineering", id=sales.id))
        stored = self.get(storage, tenant, GROUP, sales.id)
        assert stored is not None
        assert stored.document["displayName"] == "Sales"
        with storage.session(tenant) as session:
            session.replace(GROUP, sales.id, group_document("SALES", id=sales.id))
            session.replace(GROUP, sales.id, group_document("Revenue", id=sales.id))
        self.create_group(storage, tenant, "sales")

    def test_deleting_a_group_frees_its_name(
        self, storage: Storage, tenant: str
    ) -> None:
        group = self.create_group(storage, tenant, "Engineering")
        with storage.session(tenant) as session:
            session.delete(GROUP, group.id)
        self.create_group(storage, tenant, "engineering")

    def test_users_and_groups_do_not_share_names(
        self, storage: Storage, tenant: str
    ) -> None:
        self.create_user(storage, tenant, "everyone")
        self.create_group(storage, tenant, "Everyone")

    def test_same_names_in_another_tenant(
        self, storage: Storage, tenant: str, other_tenant: str
    ) -> None:
        self.create_user(storage, tenant, "alice@example.com")
        self.create_group(storage, tenant, "Engineering")
        self.create_user(storage, other_tenant, "ALICE@example.com")
        self.create_group(storage, other_tenant, "engineering")
        assert self.search(storage, tenant, USER).total == 1
        assert self.search(storage, other_tenant, USER).total == 1
        assert self.search(storage, other_tenant, GROUP).total == 1

    # == tenant isolation =================================================

    def test_tenants_never_see_each_other(
        self, storage: Storage, tenant: str, other_tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice@example.com", role="Admin")
        group = self.create_group(storage, tenant, "Engineering", [alice.id])
        theirs = self.create_user(storage, other_tenant, "bob@example.com")
        their_group = self.create_group(storage, other_tenant, "Sales")
        before = self.snapshot(storage, tenant, ["alice@example.com"])

        with storage.session(other_tenant) as session:
            assert session.tenant == other_tenant
            assert session.get(USER, alice.id) is None
            assert session.get(GROUP, group.id) is None
            assert session.find_user_by_user_name("alice@example.com") is None
            everyone = session.search(USER, SearchQuery(count=ALL))
            assert [r.id for r in everyone.resources] == [theirs.id]
            by_name = SearchQuery(
                filter=compile_filter('userName eq "alice@example.com"')
            )
            assert session.search(USER, by_name).total == 0
            by_id = SearchQuery(filter=compile_filter(f'id eq "{alice.id}"'))
            assert session.search(USER, by_id).total == 0
            groups = session.search(GROUP, SearchQuery(count=ALL))
            assert [r.id for r in groups.resources] == [their_group.id]
            by_member = SearchQuery(
                filter=compile_filter(f'members eq "{alice.id}"', GROUP)
            )
            assert session.search(GROUP, by_member).total == 0
            assert session.members(group.id) == []
            assert session.user_groups(alice.id) == []
            assert session.existing_user_ids([alice.id, theirs.id]) == {theirs.id}
            assert session.delete(USER, alice.id) is False
            assert session.delete(GROUP, group.id) is False
            session.set_role(alice.id, "Contributor")
            assert session.remove_members(their_group.id, [alice.id]) == []

        with pytest.raises(NotFound), storage.session(other_tenant) as session:
            session.replace(USER, alice.id, user_document("x", id=alice.id))
        with pytest.raises(NotFound), storage.session(other_tenant) as session:
            session.replace(GROUP, group.id, group_document("x", id=group.id))
        with pytest.raises(NotFound), storage.session(other_tenant) as session:
            session.replace(USER, alice.id, user_document("x", id=alice.id), adopt=True)
        for write in ("add", "remove", "replace"):
            with pytest.raises(NotFound), storage.session(other_tenant) as session:
                membership_write(session, write, group.id, [theirs.id])

        assert self.snapshot(storage, tenant, ["alice@example.com"]) == before

    def test_tokens_are_listed_per_tenant(
        self, storage: Storage, tenant: str, other_tenant: str
    ) -> None:
        mine = token_record(tenant)
        theirs = token_record(other_tenant)
        storage.save_token(mine)
        storage.save_token(theirs)
        assert storage.list_tokens(tenant) == [mine]
        assert storage.list_tokens(other_tenant) == [theirs]
