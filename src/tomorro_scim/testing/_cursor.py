"""Paging by position (RFC 9865 cursors): the same order as paging by index.

These run only for a backend that sets ``keyset_paging = True`` (see
:mod:`tomorro_scim.storage`); the others are skipped.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..storage import GROUP
from ..storage import USER
from ..storage import Keyset
from ..storage import SearchResult
from ..storage import Storage
from ._base import ALL
from ._base import ContractBase
from ._base import user_document

# Duplicate sort values (displayName folds "Sam", "sam" and "SAM" together,
# lastModified repeats), missing ones (no displayName, no title), and active
# users scattered, so every page boundary can fall inside a run of ties.
_CURSOR_USERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("u01", {"displayName": "Sam", "active": True, "title": "Eng"}),
    ("u02", {"displayName": "sam", "active": False}),
    ("u03", {"active": True, "title": "Ops"}),
    ("u04", {"displayName": "Alex", "active": True}),
    ("u05", {"displayName": "SAM", "active": True, "title": "Eng"}),
    ("u06", {"active": False, "title": "Eng"}),
    ("u07", {"displayName": "alex", "active": True}),
    ("u08", {"displayName": "Zed", "active": False, "title": "Ops"}),
    ("u09", {"active": True}),
    ("u10", {"displayName": "sam", "active": True, "title": "Eng"}),
    ("u11", {"displayName": "Bea", "active": True}),
)
_MODIFIED = ("2024-05-01T00:00:00Z", "2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z")

_ORDERS: tuple[tuple[str | None, bool], ...] = (
    (None, False),
    ("userName", False),
    ("userName", True),
    ("displayName", False),  # ties and missing values; a column in SQL
    ("displayName", True),
    ("title", False),  # no column in SQL: sorted in Python
    ("title", True),
    ("meta.lastModified", True),
)
_FILTERS: tuple[str | None, ...] = (
    None,
    "active eq true",  # translated to SQL
    'title pr or displayName sw "s"',  # finished in Python by the SQL backend
)


class CursorContract(ContractBase):
    """Keyset paging: each resource once, in index paging's order, with exact totals."""

    @staticmethod
    def require_keyset(storage: Storage) -> None:
        if not getattr(storage, "keyset_paging", False):
            pytest.skip("the backend does not page by position (keyset_paging)")

    def cursor_users(self, storage: Storage, tenant: str) -> None:
        with storage.session(tenant) as session:
            for index, (name, attributes) in enumerate(_CURSOR_USERS):
                modified = _MODIFIED[index % len(_MODIFIED)]
                session.create(
                    USER,
                    user_document(name, meta={"lastModified": modified}, **attributes),
                )

    def walk(
        self,
        storage: Storage,
        tenant: str,
        resource_type: str,
        count: int,
        **query: Any,
    ) -> tuple[list[str], list[SearchResult]]:
        """Every page by position; the ids in order and the results."""
        ids: list[str] = []
        results: list[SearchResult] = []
        after: Keyset | None = None
        for _ in range(100):
            result = self.search(
                storage,
                tenant,
                resource_type,
                keyset=True,
                after=after,
                count=count,
                **query,
            )
            results.append(result)
            ids += [r.id for r in result.resources]
            if not result.more:
                return ids, results
            assert result.last is not None, "more pages but no position"
            assert len(result.resources) == count, (
                "a page short of count before the end"
            )
            after = result.last
        raise AssertionError("keyset paging never reached the end")

    @pytest.mark.parametrize("filter_text", _FILTERS)
    @pytest.mark.parametrize(("sort_by", "descending"), _ORDERS)
    @pytest.mark.parametrize("count", [1, 3, 4])
    def test_keyset_pages_follow_index_order(
        self,
        storage: Storage,
        tenant: str,
        filter_text: str | None,
        sort_by: str | None,
        descending: bool,
        count: int,
    ) -> None:
        self.require_keyset(storage)
        self.cursor_users(storage, tenant)
        query: dict[str, Any] = {"filter": filter_text, "descending": descending}
        if sort_by is not None:
            query["sort_by"] = sort_by
        whole = self.search(storage, tenant, USER, count=ALL, **query)
        expected = [r.id for r in whole.resources]
        ids, results = self.walk(storage, tenant, USER, count, **query)
        assert ids == expected
        assert len(set(ids)) == len(ids)
        assert {r.total for r in results} == {whole.total}
        assert results[-1].more is False

    def test_keyset_on_an_empty_result(self, storage: Storage, tenant: str) -> None:
        self.require_keyset(storage)
        self.cursor_users(storage, tenant)
        for filter_text in ('userName eq "nobody"', 'title eq "nobody"'):
            result = self.search(
                storage, tenant, USER, filter=filter_text, keyset=True, count=5
            )
            assert (result.total, list(result.resources)) == (0, [])
            assert (result.last, result.more) == (None, False)
        empty = self.search(storage, tenant, GROUP, keyset=True, count=5)
        assert (empty.total, empty.last, empty.more) == (0, None, False)

    def test_keyset_last_page_and_count_zero(
        self, storage: Storage, tenant: str
    ) -> None:
        self.require_keyset(storage)
        self.cursor_users(storage, tenant)
        exact = self.search(
            storage, tenant, USER, keyset=True, count=len(_CURSOR_USERS)
        )
        assert len(exact.resources) == len(_CURSOR_USERS)
        assert exact.more is False
        assert exact.last is not None
        beyond = self.search(storage, tenant, USER, keyset=True, after=exact.last)
        assert (beyond.total, list(beyond.resources), beyond.more) == (
            len(_CURSOR_USERS),
            [],
            False,
        )
        only_total = self.search(
            storage, tenant, USER, filter="active eq true", keyset=True, count=0
        )
        assert (only_total.total, list(only_total.resources)) == (8, [])
        assert only_total.more is False

    def test_keyset_position_survives_writes(
        self, storage: Storage, tenant: str
    ) -> None:
        """A position is a place in the order, not an offset: deleting what
        came before, or adding at the end, skips nothing and repeats nothing."""
        self.require_keyset(storage)
        self.cursor_users(storage, tenant)
        first = self.search(storage, tenant, USER, keyset=True, count=4)
        assert first.last is not None
        seen = [r.id for r in first.resources]
        with storage.session(tenant) as session:
            session.delete(USER, seen[0])
            session.delete(USER, seen[3])
            late = session.create(USER, user_document("u99"))
        rest, _ = self._walk_from(storage, tenant, first.last)
        whole = [r.id for r in self.search(storage, tenant, USER).resources]
        assert rest == [i for i in whole if i not in seen]
        assert rest[-1] == late.id

    def _walk_from(
        self, storage: Storage, tenant: str, after: Keyset
    ) -> tuple[list[str], int]:
        ids: list[str] = []
        pages = 0
        position: Keyset | None = after
        while position is not None:
            result = self.search(
                storage, tenant, USER, keyset=True, after=position, count=3
            )
            pages += 1
            ids += [r.id for r in result.resources]
            position = result.last if result.more else None
        return ids, pages

    def test_keyset_groups_with_members(self, storage: Storage, tenant: str) -> None:
        self.require_keyset(storage)
        user = self.create_user(storage, tenant, "member")
        for name in ("b", "A", "c", "D", "e"):
            self.create_group(storage, tenant, name, [user.id])
        query: dict[str, Any] = {"sort_by": "displayName", "include_members": True}
        ids, results = self.walk(storage, tenant, GROUP, 2, **query)
        whole = self.search(storage, tenant, GROUP, **query)
        assert ids == [r.id for r in whole.resources]
        for result in results:
            for group in result.resources:
                assert [m["value"] for m in group.document["members"]] == [user.id]
        by_member, _ = self.walk(
            storage, tenant, GROUP, 2, filter=f'members eq "{user.id}"'
        )
        assert by_member == [
            r.id for r in self.search(storage, tenant, GROUP).resources
        ]
