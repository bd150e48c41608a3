"""The kit's hooks, fixtures, helpers and documents (see :mod:`tomorro_scim.testing`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

import pytest

from ..filter import compile_filter
from ..schemas import GROUP as GROUP_SCHEMA
from ..schemas import USER as USER_SCHEMA
from ..storage import GROUP
from ..storage import USER
from ..storage import SearchQuery
from ..storage import SearchResult
from ..storage import Storage
from ..storage import StorageSession
from ..storage import StoredResource
from ..storage import TokenRecord

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

CREATED = "2024-01-01T00:00:00Z"
ALL = 10_000


def new_id() -> str:
    return str(uuid.uuid4())


def user_document(user_name: str, **attributes: Any) -> dict[str, Any]:
    """A user as the service hands it to ``create``: id set, canonical names."""
    meta = {"resourceType": "User", "created": CREATED, "lastModified": CREATED}
    meta.update(attributes.pop("meta", {}))
    schemas = [USER_URN]
    if ENTERPRISE_URN in attributes:
        schemas.append(ENTERPRISE_URN)
    return {
        "schemas": schemas,
        "id": attributes.pop("id", None) or new_id(),
        "userName": user_name,
        **attributes,
        "meta": meta,
    }


def group_document(display_name: str, **attributes: Any) -> dict[str, Any]:
    """A group as the service hands it to ``create``: id set, no members."""
    meta = {"resourceType": "Group", "created": CREATED, "lastModified": CREATED}
    meta.update(attributes.pop("meta", {}))
    return {
        "schemas": [GROUP_URN],
        "id": attributes.pop("id", None) or new_id(),
        "displayName": display_name,
        **attributes,
        "meta": meta,
    }


def without_id(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "id"}


class Boom(Exception):
    """Raised inside a session to make it roll back."""


def without_members(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "members"}


def identity(stored: StoredResource | None) -> tuple[str, bool, int] | None:
    if stored is None:
        return None
    return (stored.id, stored.managed, stored.version)


def membership_write(
    session: StorageSession,
    write: str,
    group_id: str,
    ids: Sequence[str],
    *,
    modified: str | None = None,
) -> None:
    if write == "add":
        session.add_members(group_id, ids, modified=modified)
    elif write == "remove":
        # Remove someone who is a member when the group has one, else anyone.
        current = [m.value for m in session.members(group_id)]
        session.remove_members(group_id, current[:1] or ids, modified=modified)
    else:
        session.replace_members(group_id, ids, modified=modified)


def token_record(tenant: str, label: str = "") -> TokenRecord:
    return TokenRecord(
        token_id=uuid.uuid4().hex[:16],
        tenant=tenant,
        secret_hash=uuid.uuid4().bytes * 2,
        created="2024-01-01T00:00:00+00:00",
        label=label,
    )


class ContractBase:
    """The hooks, fixtures and helpers every part of the kit shares."""

    # -- hooks a backend's test class overrides -------------------------------

    def make_storage(self) -> Storage:
        """Return the storage to test (required)."""
        raise NotImplementedError(
            f"{type(self).__name__} must define make_storage() returning a Storage"
        )

    def close_storage(self, storage: Storage) -> None:
        """Release what :meth:`make_storage` opened (connections, files)."""

    def add_unmanaged_user(
        self, storage: Storage, tenant: str, document: dict[str, Any]
    ) -> None:
        """Store ``document`` as a user the host app made (not managed by SCIM)."""
        add = getattr(storage, "add_app_user", None)
        if add is None:
            pytest.skip("override add_unmanaged_user() to test unmanaged users")
        add(tenant, document)

    def add_unmanaged_group(
        self, storage: Storage, tenant: str, document: dict[str, Any]
    ) -> None:
        """Store ``document`` as a group the host app made (never visible to SCIM)."""
        add = getattr(storage, "add_app_group", None)
        if add is None:
            pytest.skip("override add_unmanaged_group() to test unmanaged groups")
        add(tenant, document)

    # -- fixtures ---------------------------------------------------------

    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        storage = self.make_storage()
        try:
            yield storage
        finally:
            self.close_storage(storage)

    @pytest.fixture
    def tenant(self) -> str:
        return f"tenant-a-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def other_tenant(self) -> str:
        return f"tenant-b-{uuid.uuid4().hex[:12]}"

    # -- helpers ----------------------------------------------------------

    @staticmethod
    def create(
        storage: Storage,
        tenant: str,
        resource_type: str,
        document: dict[str, Any],
        *,
        role: str | None = None,
    ) -> StoredResource:
        """Create one resource in a session of its own."""
        with storage.session(tenant) as session:
            return session.create(resource_type, document, role=role)

    def create_user(
        self,
        storage: Storage,
        tenant: str,
        user_name: str,
        *,
        role: str | None = None,
        **attributes: Any,
    ) -> StoredResource:
        return self.create(
            storage, tenant, USER, user_document(user_name, **attributes), role=role
        )

    def create_group(
        self,
        storage: Storage,
        tenant: str,
        display_name: str,
        members: Sequence[str] = (),
        **attributes: Any,
    ) -> StoredResource:
        with storage.session(tenant) as session:
            stored = session.create(GROUP, group_document(display_name, **attributes))
            if members:
                session.add_members(stored.id, members)
                found = session.get(GROUP, stored.id, include_members=False)
                assert found is not None
                stored = found
            return stored

    @staticmethod
    def get(
        storage: Storage,
        tenant: str,
        resource_type: str,
        resource_id: str,
        *,
        include_members: bool = True,
    ) -> StoredResource | None:
        with storage.session(tenant) as session:
            return session.get(
                resource_type, resource_id, include_members=include_members
            )

    def version(
        self, storage: Storage, tenant: str, resource_type: str, resource_id: str
    ) -> int:
        stored = self.get(storage, tenant, resource_type, resource_id)
        assert stored is not None, f"{resource_type} {resource_id} is gone"
        return stored.version

    @staticmethod
    def search(
        storage: Storage, tenant: str, resource_type: str, **query: Any
    ) -> SearchResult:
        filter_text = query.pop("filter", None)
        if isinstance(filter_text, str):
            query["filter"] = compile_filter(filter_text, resource_type)
        sort_by = query.pop("sort_by", None)
        if isinstance(sort_by, str):
            schema = USER_SCHEMA if resource_type == USER else GROUP_SCHEMA
            query["sort_by"] = schema.require(sort_by)
        query.setdefault("count", ALL)
        with storage.session(tenant) as session:
            return session.search(resource_type, SearchQuery(**query))

    @staticmethod
    def member_ids(storage: Storage, tenant: str, group_id: str) -> list[str]:
        with storage.session(tenant) as session:
            return [member.value for member in session.members(group_id)]

    @staticmethod
    def group_ids_of(storage: Storage, tenant: str, user_id: str) -> set[str]:
        with storage.session(tenant) as session:
            return {group.id for group in session.user_groups(user_id)}

    @classmethod
    def snapshot(
        cls, storage: Storage, tenant: str, user_names: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Everything SCIM can observe of a tenant, for before/after comparisons."""
        with storage.session(tenant) as session:
            return cls.snapshot_in(session, user_names)

    @staticmethod
    def snapshot_in(
        session: StorageSession, user_names: Sequence[str] = ()
    ) -> dict[str, Any]:
        """:meth:`snapshot` through an open session."""
        users = session.search(USER, SearchQuery(count=ALL))
        groups = session.search(GROUP, SearchQuery(count=ALL, include_members=False))
        return {
            "user order": [u.id for u in users.resources],
            "group order": [g.id for g in groups.resources],
            "users": {
                u.id: (u.document, u.version, u.role, u.managed)
                for u in users.resources
            },
            "groups": {g.id: (g.document, g.version) for g in groups.resources},
            "members": {
                g.id: [(m.value, m.display) for m in session.members(g.id)]
                for g in groups.resources
            },
            "user groups": {
                u.id: sorted(g.id for g in session.user_groups(u.id))
                for u in users.resources
            },
            "by user name": {
                name: identity(session.find_user_by_user_name(name))
                for name in user_names
            },
            "existing": sorted(
                session.existing_user_ids([u.id for u in users.resources])
            ),
        }
