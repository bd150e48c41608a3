"""Create, get, replace and delete; unmanaged resources; roles; tokens."""

from __future__ import annotations

import pytest

from ..errors import NotFound
from ..errors import Uniqueness
from ..filter import compile_filter
from ..storage import GROUP
from ..storage import USER
from ..storage import SearchQuery
from ..storage import Storage
from ..storage import StorageSession
from ._base import ENTERPRISE_URN
from ._base import ContractBase
from ._base import group_document
from ._base import new_id
from ._base import token_record
from ._base import user_document
from ._base import without_id
from ._base import without_members


class ResourceContract(ContractBase):
    """Create, get, replace and delete; unmanaged resources; roles; tokens."""

    # == the protocol ====================================================

    def test_storage_implements_the_protocols(
        self, storage: Storage, tenant: str
    ) -> None:
        assert isinstance(storage, Storage)
        with storage.session(tenant) as session:
            assert isinstance(session, StorageSession)
            assert session.tenant == tenant

    # == create, get, replace, delete ====================================

    def test_create_then_get_returns_the_document(
        self, storage: Storage, tenant: str
    ) -> None:
        document = user_document(
            "alice@example.com",
            externalId="ext-1",
            name={"givenName": "Alice", "familyName": "Martin"},
            emails=[{"value": "alice@example.com", "type": "work", "primary": True}],
            active=True,
            **{ENTERPRISE_URN: {"employeeNumber": "7"}},
        )
        created = self.create(storage, tenant, USER, dict(document), role="Admin")
        assert created.id == document["id"]
        assert created.resource_type == USER
        assert created.managed is True
        assert created.role == "Admin"
        assert isinstance(created.version, int)
        stored = self.get(storage, tenant, USER, document["id"])
        assert stored is not None
        assert stored.id == document["id"]
        assert stored.resource_type == USER
        assert without_id(stored.document) == without_id(document)
        assert stored.version == created.version
        assert stored.role == "Admin"
        assert stored.managed is True

    def test_create_group_without_members(self, storage: Storage, tenant: str) -> None:
        document = group_document("Engineering", externalId="g-1")
        created = self.create(storage, tenant, GROUP, dict(document))
        assert created.resource_type == GROUP
        assert created.role is None
        loaded = self.get(storage, tenant, GROUP, created.id, include_members=True)
        assert loaded is not None
        assert loaded.document.get("members", []) == []
        assert without_id(without_members(loaded.document)) == without_id(document)
        bare = self.get(storage, tenant, GROUP, created.id, include_members=False)
        assert bare is not None
        assert "members" not in bare.document

    def test_get_unknown_id_or_wrong_type_is_none(
        self, storage: Storage, tenant: str
    ) -> None:
        user = self.create_user(storage, tenant, "alice")
        group = self.create_group(storage, tenant, "Engineering")
        with storage.session(tenant) as session:
            assert session.get(USER, new_id()) is None
            assert session.get(GROUP, user.id) is None
            assert session.get(USER, group.id) is None

    def test_reads_in_a_session_see_its_own_writes(
        self, storage: Storage, tenant: str
    ) -> None:
        with storage.session(tenant) as session:
            user = session.create(USER, user_document("alice"))
            group = session.create(GROUP, group_document("Engineering"))
            assert session.add_members(group.id, [user.id]) == [user.id]
            assert session.get(USER, user.id) is not None
            found = session.search(
                USER, SearchQuery(filter=compile_filter('userName eq "ALICE"'))
            )
            assert [r.id for r in found.resources] == [user.id]
            assert [m.value for m in session.members(group.id)] == [user.id]
            assert session.existing_user_ids([user.id]) == {user.id}

    def test_replace_stores_the_new_document_and_moves_the_version(
        self, storage: Storage, tenant: str
    ) -> None:
        created = self.create_user(storage, tenant, "alice", role="Contributor")
        document = user_document(
            "alice", id=created.id, displayName="Alice", title="CEO"
        )
        with storage.session(tenant) as session:
            replaced = session.replace(USER, created.id, document, role="Admin")
        assert replaced.id == created.id
        assert replaced.version > created.version
        assert replaced.role == "Admin"
        stored = self.get(storage, tenant, USER, created.id)
        assert stored is not None
        assert without_id(stored.document) == without_id(document)
        assert stored.version == replaced.version
        assert stored.role == "Admin"

    def test_replace_drops_attributes_left_out(
        self, storage: Storage, tenant: str
    ) -> None:
        created = self.create_user(storage, tenant, "alice", title="CEO", nickName="Al")
        with storage.session(tenant) as session:
            session.replace(USER, created.id, user_document("alice", id=created.id))
        stored = self.get(storage, tenant, USER, created.id)
        assert stored is not None
        assert "title" not in stored.document
        assert "nickName" not in stored.document

    def test_replace_without_role_keeps_the_role(
        self, storage: Storage, tenant: str
    ) -> None:
        created = self.create_user(storage, tenant, "alice", role="Manager")
        with storage.session(tenant) as session:
            replaced = session.replace(
                USER, created.id, user_document("alice", id=created.id, title="x")
            )
        assert replaced.role == "Manager"
        stored = self.get(storage, tenant, USER, created.id)
        assert stored is not None
        assert stored.role == "Manager"

    def test_replace_of_an_unknown_resource_is_not_found(
        self, storage: Storage, tenant: str
    ) -> None:
        missing = new_id()
        with pytest.raises(NotFound), storage.session(tenant) as session:
            session.replace(USER, missing, user_document("ghost", id=missing))
        with pytest.raises(NotFound), storage.session(tenant) as session:
            session.replace(GROUP, missing, group_document("ghost", id=missing))

    def test_replace_group_keeps_its_members(
        self, storage: Storage, tenant: str
    ) -> None:
        alice = self.create_user(storage, tenant, "alice")
        group = self.create_group(storage, tenant, "Engineering", [alice.id])
        with storage.session(tenant) as session:
            session.replace(GROUP, group.id, group_document("Platform", id=group.id))
        assert self.member_ids(storage, tenant, group.id) == [alice.id]
        stored = self.get(storage, tenant, GROUP, group.id, include_members=False)
        assert stored is not None
        assert stored.document["displayName"] == "Platform"
        assert "members" not in stored.document

    def test_delete(self, storage: Storage, tenant: str) -> None:
        user = self.create_user(storage, tenant, "alice")
        group = self.create_group(storage, tenant, "Engineering")
        with storage.session(tenant) as session:
            assert session.delete(USER, user.id) is True
            assert session.delete(GROUP, group.id) is True
        with storage.session(tenant) as session:
            assert session.get(USER, user.id) is None
            assert session.get(GROUP, group.id) is None
            assert session.delete(USER, user.id) is False
            assert session.delete(GROUP, group.id) is False
            assert session.delete(USER, new_id()) is False
            assert session.find_user_by_user_name("alice") is None
            assert session.search(USER, SearchQuery()).total == 0
            assert session.search(GROUP, SearchQuery()).total == 0

    def test_delete_with_the_wrong_type_deletes_nothing(
        self, storage: Storage, tenant: str
    ) -> None:
        user = self.create_user(storage, tenant, "alice")
        with storage.session(tenant) as session:
            assert session.delete(GROUP, user.id) is False
        assert self.get(storage, tenant, USER, user.id) is not None

    # == unmanaged resources ==============================================

    def test_unmanaged_user_is_invisible_to_get_and_search(
        self, storage: Storage, tenant: str
    ) -> None:
        document = user_document("app.user@example.com", displayName="App User")
        self.add_unmanaged_user(storage, tenant, document)
        with storage.session(tenant) as session:
            assert session.get(USER, document["id"]) is None
            assert session.search(USER, SearchQuery()).total == 0
            by_name = SearchQuery(
                filter=compile_filter('userName eq "app.user@example.com"')
            )
            assert session.search(USER, by_name).total == 0
            by_id = SearchQuery(filter=compile_filter(f'id eq "{document["id"]}"'))
            assert session.search(USER, by_id).total == 0
            assert session.existing_user_ids([document["id"]]) == set()
            assert session.delete(USER, document["id"]) is False

    def test_unmanaged_user_is_found_by_user_name(
        self, storage: Storage, tenant: str
    ) -> None:
        document = user_document("App.User@Example.com")
        self.add_unmanaged_user(storage, tenant, document)
        with storage.session(tenant) as session:
            found = session.find_user_by_user_name("app.user@EXAMPLE.com")
        assert found is not None
        assert found.id == document["id"]
        assert found.managed is False
        assert found.document["userName"] == "App.User@Example.com"

    def test_unmanaged_user_is_not_replaced_without_adopt(
        self, storage: Storage, tenant: str
    ) -> None:
        document = user_document("app.user@example.com")
        self.add_unmanaged_user(storage, tenant, document)
        with pytest.raises(NotFound), storage.session(tenant) as session:
            session.replace(USER, document["id"], dict(document, title="x"))
        with storage.session(tenant) as session:
            found = session.find_user_by_user_name("app.user@example.com")
        assert found is not None
        assert found.managed is False
        assert "title" not in found.document

    def test_adopting_an_unmanaged_user(self, storage: Storage, tenant: str) -> None:
        document = user_document("app.user@example.com")
        self.add_unmanaged_user(storage, tenant, document)
        with storage.session(tenant) as session:
            before = session.find_user_by_user_name("app.user@example.com")
            assert before is not None
            adopted = session.replace(
                USER,
                document["id"],
                user_document(
                    "APP.user@example.com", id=document["id"], externalId="x"
                ),
                role="Manager",
                adopt=True,
            )
        assert adopted.managed is True
        assert adopted.id == document["id"]
        assert adopted.version > before.version
        assert adopted.role == "Manager"
        stored = self.get(storage, tenant, USER, document["id"])
        assert stored is not None
        assert stored.managed is True
        assert stored.document["externalId"] == "x"
        assert self.search(storage, tenant, USER).total == 1
        with storage.session(tenant) as session:
            assert session.existing_user_ids([document["id"]]) == {document["id"]}

    def test_unmanaged_user_name_is_taken(self, storage: Storage, tenant: str) -> None:
        """The app's logins are unique too: SCIM adopts the user or gets 409."""
        self.add_unmanaged_user(storage, tenant, user_document("app.user@example.com"))
        with pytest.raises(Uniqueness):
            self.create_user(storage, tenant, "APP.USER@example.com")

    def test_unmanaged_group_is_invisible(self, storage: Storage, tenant: str) -> None:
        alice = self.create_user(storage, tenant, "alice")
        document = group_document("App Group")
        self.add_unmanaged_group(storage, tenant, document)
        with storage.session(tenant) as session:
            assert session.get(GROUP, document["id"]) is None
            assert session.search(GROUP, SearchQuery()).total == 0
            assert session.delete(GROUP, document["id"]) is False
            assert session.user_groups(alice.id) == []
        with pytest.raises(NotFound), storage.session(tenant) as session:
            session.replace(GROUP, document["id"], dict(document, displayName="Mine"))
        with pytest.raises(NotFound), storage.session(tenant) as session:
            session.add_members(document["id"], [alice.id])

    def test_unmanaged_group_name_is_free_for_scim(
        self, storage: Storage, tenant: str
    ) -> None:
        """An app-made group is invisible to SCIM, so its name must not block
        the IdP's group: Entra would get 409 for a group it cannot see, on
        every cycle (DESIGN: app-managed and IdP-managed groups kept apart)."""
        self.add_unmanaged_group(storage, tenant, group_document("Sales"))
        created = self.create_group(storage, tenant, "SALES")
        with pytest.raises(Uniqueness):
            self.create_group(storage, tenant, "sales")
        result = self.search(storage, tenant, GROUP, filter='displayName eq "Sales"')
        assert [found.id for found in result.resources] == [created.id]

    # == roles =============================================================

    def test_roles_are_persisted(self, storage: Storage, tenant: str) -> None:
        alice = self.create_user(storage, tenant, "alice", role="Contributor")
        nobody = self.create_user(storage, tenant, "nobody")
        assert nobody.role is None
        with storage.session(tenant) as session:
            session.set_role(alice.id, "Admin")
            assert session.get(USER, alice.id) is not None
        stored = self.get(storage, tenant, USER, alice.id)
        assert stored is not None
        assert stored.role == "Admin"
        with storage.session(tenant) as session:
            found = session.find_user_by_user_name("ALICE")
            assert found is not None
            assert found.role == "Admin"
        (listed,) = self.search(
            storage, tenant, USER, filter='userName eq "alice"'
        ).resources
        assert listed.role == "Admin"
        with storage.session(tenant) as session:
            session.set_role(alice.id, "Admin")
            session.set_role(new_id(), "Admin")
        stored = self.get(storage, tenant, USER, alice.id)
        assert stored is not None
        assert stored.role == "Admin"

    def test_unmanaged_user_has_no_role_until_adopted(
        self, storage: Storage, tenant: str
    ) -> None:
        app_user = user_document("app.user")
        self.add_unmanaged_user(storage, tenant, app_user)
        with storage.session(tenant) as session:
            found = session.find_user_by_user_name("app.user")
            assert found is not None
            assert found.role is None
            adopted = session.replace(
                USER, app_user["id"], app_user, role="Manager", adopt=True
            )
        assert adopted.role == "Manager"

    # == tokens ============================================================

    def test_tokens(self, storage: Storage, tenant: str) -> None:
        first = token_record(tenant, label="Entra")
        second = token_record(tenant)
        storage.save_token(first)
        storage.save_token(second)
        found = storage.find_token(first.token_id)
        assert found == first
        assert isinstance(found.secret_hash, bytes)
        assert storage.find_token(new_id()) is None
        listed = storage.list_tokens(tenant)
        assert sorted(t.token_id for t in listed) == sorted(
            [first.token_id, second.token_id]
        )
        assert storage.revoke_token(first.token_id) is True
        revoked = storage.find_token(first.token_id)
        assert revoked is not None
        assert revoked.revoked is True
        assert revoked.secret_hash == first.secret_hash
        assert revoked.tenant == tenant
        still = storage.find_token(second.token_id)
        assert still is not None
        assert still.revoked is False
        # Revoked tokens stay listed, so a settings screen can show them.
        assert {t.token_id: t.revoked for t in storage.list_tokens(tenant)} == {
            first.token_id: True,
            second.token_id: False,
        }
        assert storage.revoke_token(first.token_id) is True
        assert storage.revoke_token(new_id()) is False
        assert storage.list_tokens(f"{tenant}-nobody") == []
