"""Search: filters, sorting, paging and members, as the compiled filter defines them."""

from __future__ import annotations

from typing import Any

import pytest

from ..storage import GROUP
from ..storage import USER
from ..storage import Storage
from ._base import ENTERPRISE_URN
from ._base import ContractBase
from ._base import user_document

# The users the search tests run on; ASCII names with distinct first letters,
# so that any sane collation orders them the same way once case is folded.
_SEARCH_USERS: tuple[dict[str, Any], ...] = (
    {
        "userName": "alice@example.com",
        "displayName": "Alice Martin",
        "name": {"givenName": "Alice", "familyName": "Martin"},
        "emails": [{"value": "alice@example.com", "type": "work", "primary": True}],
        "active": True,
        "externalId": "ext-A",
        "userType": "admin",
        "meta": {"lastModified": "2024-03-01T10:00:00Z"},
    },
    {
        "userName": "Bob@Example.com",
        "name": {"givenName": "Bob", "familyName": "Dupont"},
        "emails": [{"value": "bob@home.example", "type": "home"}],
        "active": False,
        "externalId": "EXT-b",
        # 11:00 UTC, later than carol's 10:30 although it sorts first as text.
        "meta": {"lastModified": "2024-03-01T12:00:00+01:00"},
    },
    {
        "userName": "carol@example.com",
        "displayName": "carol Smith",
        "active": True,
        "externalId": "ext-c",
        "title": "Engineer",
        "meta": {"lastModified": "2024-03-01T10:30:00.5Z"},
    },
    {
        "userName": "dave@example.org",
        "displayName": "Dave",
        "emails": [
            {"value": "dave@example.org", "type": "work"},
            {"value": "dave@home.example", "type": "home", "primary": True},
        ],
        "meta": {"lastModified": None},
    },
    {
        "userName": "eve@example.com",
        "active": True,
        ENTERPRISE_URN: {"employeeNumber": "42", "department": "Legal"},
        "meta": {"lastModified": "2024-02-29T23:59:59Z"},
    },
    {
        "userName": "frank@example.com",
        "displayName": "frank",
        "active": True,
        "userType": "User",
        # Later than alice's 10:00:00Z although it sorts before it as text.
        "meta": {"lastModified": "2024-03-01T10:00:00.25Z"},
    },
)

_USER_FILTERS: tuple[tuple[str, set[str]], ...] = (
    ('userName eq "BOB@EXAMPLE.COM"', {"b"}),
    ('userName sw "A"', {"a"}),
    ('userName ew ".ORG"', {"d"}),
    ('userName co "AR"', {"c"}),
    ('userName ne "alice@example.com"', {"b", "c", "d", "e", "f"}),
    ('userName gt "c"', {"c", "d", "e", "f"}),
    ('externalId eq "ext-A"', {"a"}),
    ('externalId eq "EXT-A"', set()),
    ("active eq true", {"a", "c", "e", "f"}),
    ("active eq false", {"b"}),
    ("not (active eq false)", {"a", "c", "d", "e", "f"}),
    ("displayName pr", {"a", "c", "d", "f"}),
    ("not (displayName pr)", {"b", "e"}),
    ('name.familyName eq "martin"', {"a"}),
    ('emails[type eq "work" and value co "example"]', {"a", "d"}),
    ('emails.value ew "home.example"', {"b", "d"}),
    ('meta.lastModified gt "2024-03-01T10:00:00Z"', {"b", "c", "f"}),
    ('userType eq "ADMIN"', {"a"}),
    ("title pr and active eq true", {"c"}),
    (f'{ENTERPRISE_URN}:department eq "legal"', {"e"}),
    ('userName sw "a" or userName sw "b"', {"a", "b"}),
    (
        '(active eq true and displayName pr) or externalId eq "EXT-b"',
        {"a", "b", "c", "f"},
    ),
    ('userName eq "nobody@example.com"', set()),
)


class SearchContract(ContractBase):
    """Search: filters, sorting, paging and members, as the compiled filter defines them."""

    def search_users(self, storage: Storage, tenant: str) -> dict[str, str]:
        """Create the search data set; returns {first letter: id}."""
        ids: dict[str, str] = {}
        with storage.session(tenant) as session:
            for attributes in _SEARCH_USERS:
                attributes = dict(attributes)
                user_name = attributes.pop("userName")
                stored = session.create(USER, user_document(user_name, **attributes))
                ids[user_name[0].lower()] = stored.id
        return ids

    # == search ============================================================

    @pytest.mark.parametrize(("expression", "expected"), _USER_FILTERS)
    def test_search_filters_users(
        self, storage: Storage, tenant: str, expression: str, expected: set[str]
    ) -> None:
        ids = self.search_users(storage, tenant)
        result = self.search(storage, tenant, USER, filter=expression)
        found = {r.id for r in result.resources}
        assert found == {ids[letter] for letter in expected}
        assert result.total == len(expected)

    def test_search_filters_by_id(self, storage: Storage, tenant: str) -> None:
        ids = self.search_users(storage, tenant)
        result = self.search(storage, tenant, USER, filter=f'id eq "{ids["c"]}"')
        assert [r.id for r in result.resources] == [ids["c"]]
        upper = self.search(storage, tenant, USER, filter=f'id eq "{ids["c"].upper()}"')
        assert upper.total == (1 if ids["c"].upper() == ids["c"] else 0)

    def test_search_results_carry_documents_versions_and_roles(
        self, storage: Storage, tenant: str
    ) -> None:
        created = self.create_user(storage, tenant, "alice", role="Admin", title="CEO")
        result = self.search(storage, tenant, USER, filter='userName eq "alice"')
        (found,) = result.resources
        assert found.id == created.id
        assert found.resource_type == USER
        assert found.version == created.version
        assert found.role == "Admin"
        assert found.managed is True
        assert found.document["title"] == "CEO"

    @pytest.mark.parametrize(
        ("sort_by", "ascending"),
        [
            ("userName", "abcdef"),
            ("displayName", "acdf"),  # then b and e, which have none
            ("meta.lastModified", "eafcb"),  # then d, which has none
        ],
    )
    def test_search_sorts_users(
        self, storage: Storage, tenant: str, sort_by: str, ascending: str
    ) -> None:
        ids = self.search_users(storage, tenant)
        letters = {v: k for k, v in ids.items()}
        missing = set(ids) - set(ascending)
        up = self.search(storage, tenant, USER, sort_by=sort_by)
        up_letters = "".join(letters[r.id] for r in up.resources)
        assert up_letters[: len(ascending)] == ascending
        assert set(up_letters[len(ascending) :]) == missing
        down = self.search(storage, tenant, USER, sort_by=sort_by, descending=True)
        down_letters = "".join(letters[r.id] for r in down.resources)
        assert set(down_letters[: len(missing)]) == missing
        assert down_letters[len(missing) :] == ascending[::-1]
        assert up.total == down.total == len(ids)

    def test_search_sorts_a_filtered_page(self, storage: Storage, tenant: str) -> None:
        ids = self.search_users(storage, tenant)
        letters = {v: k for k, v in ids.items()}
        page = self.search(
            storage,
            tenant,
            USER,
            filter="active eq true",
            sort_by="userName",
            descending=True,
            start_index=2,
            count=2,
        )
        assert page.total == 4
        assert [letters[r.id] for r in page.resources] == ["e", "c"]

    def test_search_sorts_groups(self, storage: Storage, tenant: str) -> None:
        for name in ("sales", "Admins", "Engineering"):
            self.create_group(storage, tenant, name)
        names = [
            r.document["displayName"]
            for r in self.search(
                storage, tenant, GROUP, sort_by="displayName"
            ).resources
        ]
        assert names == ["Admins", "Engineering", "sales"]
        down = self.search(
            storage, tenant, GROUP, sort_by="displayName", descending=True
        )
        assert [r.document["displayName"] for r in down.resources] == names[::-1]

    def test_paging_walks_the_default_order_once(
        self, storage: Storage, tenant: str
    ) -> None:
        created = {
            self.create_user(storage, tenant, f"user{i:02d}").id for i in range(7)
        }
        whole = self.search(storage, tenant, USER)
        order = [r.id for r in whole.resources]
        assert set(order) == created
        assert len(order) == 7
        pages: list[str] = []
        for start in (1, 4, 7):
            page = self.search(storage, tenant, USER, start_index=start, count=3)
            assert page.total == 7
            pages += [r.id for r in page.resources]
        assert pages == order
        # The same order again: nothing was written in between.
        assert [r.id for r in self.search(storage, tenant, USER).resources] == order

    def test_paging_edges(self, storage: Storage, tenant: str) -> None:
        self.search_users(storage, tenant)
        only_total = self.search(storage, tenant, USER, count=0)
        assert only_total.total == 6
        assert list(only_total.resources) == []
        filtered_total = self.search(
            storage, tenant, USER, filter="active eq true", count=0
        )
        assert filtered_total.total == 4
        assert list(filtered_total.resources) == []
        beyond = self.search(storage, tenant, USER, start_index=7, count=5)
        assert beyond.total == 6
        assert list(beyond.resources) == []
        far = self.search(storage, tenant, USER, start_index=1000, count=5)
        assert (far.total, list(far.resources)) == (6, [])
        last = self.search(storage, tenant, USER, start_index=6, count=5)
        assert len(last.resources) == 1
        partial = self.search(storage, tenant, USER, start_index=5, count=10)
        assert len(partial.resources) == 2
        exact = self.search(storage, tenant, USER, start_index=1, count=6)
        assert len(exact.resources) == 6
        none = self.search(storage, tenant, USER, filter='userName eq "nobody"')
        assert (none.total, list(none.resources)) == (0, [])

    def test_search_groups_by_member(self, storage: Storage, tenant: str) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        carol = self.create_user(storage, tenant, "carol")
        engineering = self.create_group(
            storage, tenant, "Engineering", [alice.id, bob.id]
        )
        sales = self.create_group(storage, tenant, "Sales", [bob.id])
        empty = self.create_group(storage, tenant, "Empty")

        def found(expression: str, **query: Any) -> set[str]:
            result = self.search(storage, tenant, GROUP, filter=expression, **query)
            for resource in result.resources:
                if not query.get("include_members", True):
                    assert "members" not in resource.document
            return {r.id for r in result.resources}

        assert found(f'members eq "{alice.id}"') == {engineering.id}
        assert found(f'members eq "{bob.id}"', include_members=False) == {
            engineering.id,
            sales.id,
        }
        assert found(f'members.value eq "{bob.id}"') == {engineering.id, sales.id}
        assert found(f'members eq "{carol.id}"') == set()
        assert found("members pr", include_members=False) == {engineering.id, sales.id}
        assert found("not (members pr)") == {empty.id}
        assert found(f'displayName eq "engineering" and members eq "{bob.id}"') == {
            engineering.id
        }

    def test_search_filters_groups(self, storage: Storage, tenant: str) -> None:
        engineering = self.create_group(
            storage, tenant, "Engineering", externalId="G-1"
        )
        sales = self.create_group(storage, tenant, "Sales", externalId="g-2")

        def found(expression: str) -> set[str]:
            result = self.search(storage, tenant, GROUP, filter=expression)
            return {r.id for r in result.resources}

        assert found('displayName eq "ENGINEERING"') == {engineering.id}
        assert found('displayName co "s"') == {sales.id}
        assert found('externalId eq "g-2"') == {sales.id}
        assert found('externalId eq "g-1"') == set()
        assert found(f'id eq "{sales.id}"') == {sales.id}

    def test_include_members(self, storage: Storage, tenant: str) -> None:
        alice = self.create_user(storage, tenant, "alice")
        bob = self.create_user(storage, tenant, "bob")
        group = self.create_group(storage, tenant, "Engineering", [bob.id, alice.id])
        bare = self.search(storage, tenant, GROUP, include_members=False)
        assert [r.id for r in bare.resources] == [group.id]
        assert all("members" not in r.document for r in bare.resources)
        full = self.search(storage, tenant, GROUP, include_members=True)
        members = full.resources[0].document["members"]
        assert [m["value"] for m in members] == [bob.id, alice.id]
        loaded = self.get(storage, tenant, GROUP, group.id, include_members=True)
        assert loaded is not None
        assert [m["value"] for m in loaded.document["members"]] == [bob.id, alice.id]
        with storage.session(tenant) as session:
            for found in session.user_groups(alice.id):
                assert "members" not in found.document
