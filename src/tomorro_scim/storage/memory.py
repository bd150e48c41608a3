"""The in-memory reference backend: one process, thread-safe, transactional.

Every tenant's resources live in dicts keyed by id, with indexes on the folded
``userName``, ``externalId`` and group ``displayName`` so the lookups IdPs
make on every sync (``userName eq``, ``externalId eq``, ``displayName eq``)
do not scan. Group members are an ordered set per group, with the reverse
index per user, so adding or removing one member costs the same in a group of
ten and of two hundred thousand.

A session holds the storage's lock for the whole request and records an undo
step for every write; leaving the ``with`` block by an exception replays them
backwards, so a failed request changes nothing.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from bisect import bisect_left
from bisect import insort
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from scim2_models.path import CompareOperator
from scim2_models.path import Comparison
from scim2_models.path import FilterNode
from scim2_models.path import LogicalExpr
from scim2_models.path import LogicalOperator

from ..errors import NotFound
from ..errors import PreconditionFailed
from ..errors import Uniqueness
from ..filter import comparison_key
from ..query import keyset_page
from ..query import page_of
from ..query import sort_key
from ..query import sort_value
from ..schemas import GROUP as GROUP_TYPE
from ..schemas import USER as USER_TYPE
from ..schemas import AttributeSchema
from . import GROUP
from . import USER
from . import MemberRef
from . import SearchQuery
from . import SearchResult
from . import StorageSession
from . import StoredResource
from . import TokenRecord

__all__ = ["MemoryStorage"]

_USER_NAME = USER_TYPE.require("userName")
_EXTERNAL_ID = USER_TYPE.require("externalId")
_DISPLAY_NAME = GROUP_TYPE.require("displayName")


def _discard(order: list[str], value: str) -> None:
    """Remove ``value`` from a sorted list."""
    index = bisect_left(order, value)
    if index < len(order) and order[index] == value:
        del order[index]


_SEQUENCE = itertools.count(1)
"""Insertion stamps: a rollback puts re-inserted rows and members back in place."""


def _fold(attribute: AttributeSchema, value: Any) -> str | None:
    return comparison_key(attribute, value) if isinstance(value, str) else None


@attrs.define
class _Row:
    document: dict[str, Any]
    version: int
    managed: bool
    role: str | None
    seq: int = attrs.field(factory=lambda: next(_SEQUENCE))


def _restore_order(ordered: dict[str, Any]) -> None:
    """Sort a dict of rows or membership stamps back into insertion order."""
    items = sorted(
        ordered.items(),
        key=lambda item: item[1].seq if isinstance(item[1], _Row) else item[1],
    )
    ordered.clear()
    ordered.update(items)


@attrs.define
class _Tenant:
    users: dict[str, _Row] = attrs.field(factory=dict)
    groups: dict[str, _Row] = attrs.field(factory=dict)
    user_names: dict[str, str] = attrs.field(factory=dict)
    user_name_order: list[str] = attrs.field(factory=list)
    """The folded userNames, sorted: ``userName sw "x"`` reads a range of it."""
    external_ids: dict[str, dict[str, None]] = attrs.field(factory=dict)
    group_names: dict[str, str] = attrs.field(factory=dict)
    group_name_order: list[str] = attrs.field(factory=list)
    members: dict[str, dict[str, int]] = attrs.field(factory=dict)
    """Group id → member ids, in the order added, each with its insertion stamp."""
    member_of: dict[str, dict[str, int]] = attrs.field(factory=dict)

    def rows(self, resource_type: str) -> dict[str, _Row]:
        return self.users if resource_type == USER else self.groups


class MemoryStorage:
    """Keeps everything in this process; the reference every backend is tested against."""

    blocking = False
    """No call waits on I/O, so adapters may call it from an event loop."""

    keyset_paging = True
    """Searches resume after a position (RFC 9865 cursors): a bisection of the
    ordered matches, the insertion stamp breaking ties."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tenants: dict[str, _Tenant] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._cursor_secret = secrets.token_bytes(32)

    def cursor_secret(self) -> bytes:
        """The key cursors are signed with, unless the service is given one:
        random per instance, as the data itself lives in this process only."""
        return self._cursor_secret

    @contextmanager
    def session(self, tenant: str) -> Iterator[StorageSession]:
        with self._lock:
            data = self._tenants.get(tenant) or self._tenants.setdefault(
                tenant, _Tenant()
            )
            session = _MemorySession(tenant, data)
            try:
                yield session
            except BaseException:
                session.rollback()
                raise

    # -- host-app helpers -----------------------------------------------

    def add_app_user(self, tenant: str, document: dict[str, Any]) -> StoredResource:
        """Store a user the host app made itself: invisible to SCIM until adopted."""
        with self.session(tenant) as session:
            assert isinstance(session, _MemorySession)
            return session.insert(USER, document, role=None, managed=False)

    def add_app_group(self, tenant: str, document: dict[str, Any]) -> StoredResource:
        """Store a group the host app made itself: never visible to SCIM."""
        with self.session(tenant) as session:
            assert isinstance(session, _MemorySession)
            return session.insert(GROUP, document, role=None, managed=False)

    # -- tokens -----------------------------------------------------------

    def save_token(self, record: TokenRecord) -> None:
        with self._lock:
            self._tokens[record.token_id] = record

    def find_token(self, token_id: str) -> TokenRecord | None:
        return self._tokens.get(token_id)

    def list_tokens(self, tenant: str) -> list[TokenRecord]:
        with self._lock:
            return [t for t in self._tokens.values() if t.tenant == tenant]

    def revoke_token(self, token_id: str) -> bool:
        with self._lock:
            record = self._tokens.get(token_id)
            if record is None:
                return False
            self._tokens[token_id] = attrs.evolve(record, revoked=True)
            return True


class _MemorySession:
    def __init__(self, tenant: str, data: _Tenant) -> None:
        self.tenant = tenant
        self._data = data
        self._undo: list[Callable[[], None]] = []
        self._disordered: dict[int, dict[str, Any]] = {}

    def rollback(self) -> None:
        while self._undo:
            self._undo.pop()()
        # Undoing a delete re-inserts at the end; put things back where they were.
        for ordered in self._disordered.values():
            _restore_order(ordered)
        self._disordered.clear()

    # -- reads ------------------------------------------------------------

    def _stored(
        self, resource_type: str, resource_id: str, row: _Row, include_members: bool
    ) -> StoredResource:
        document = row.document
        if resource_type == GROUP and include_members:
            members = self._data.members.get(resource_id, {})
            document = {**document, "members": [{"value": m} for m in members]}
        return StoredResource(
            id=resource_id,
            resource_type=resource_type,
            document=document,
            version=row.version,
            managed=row.managed,
            role=row.role,
        )

    def get(
        self, resource_type: str, resource_id: str, *, include_members: bool = True
    ) -> StoredResource | None:
        row = self._data.rows(resource_type).get(resource_id)
        if row is None or not row.managed:
            return None
        return self._stored(resource_type, resource_id, row, include_members)

    def _candidates(self, resource_type: str, query: SearchQuery) -> Iterable[str]:
        """Ids worth testing: what an index gives for the filter, or every id.

        A lone comparison, or the most selective term of a top-level ``and``,
        is served by an index when it is an ``eq`` on ``id``, ``userName``,
        ``externalId`` or a group's ``displayName``, or an ``sw`` on
        ``userName`` or ``displayName`` (a range of the sorted names), as a
        database would. The whole filter still runs on every candidate, so
        the index only narrows; candidates keep the default (insertion) order.
        """
        rows = self._data.rows(resource_type)
        compiled = query.filter
        if compiled is None:
            return rows
        node = compiled.ast
        terms = (
            node.terms
            if isinstance(node, LogicalExpr) and node.op is LogicalOperator.and_
            else (node,)
        )
        best: list[str] | None = None
        for term in terms:
            hit = self._index_hit(resource_type, term)
            if hit is not None and (best is None or len(hit) < len(best)):
                best = hit
        if best is None:
            return rows
        if len(best) > 1:
            best.sort(key=lambda i: row.seq if (row := rows.get(i)) else 0)
        return best

    def _index_hit(self, resource_type: str, node: FilterNode) -> list[str] | None:
        """The ids an index selects for one comparison, or ``None`` if none serves it."""
        if not (
            isinstance(node, Comparison)
            and node.op in (CompareOperator.eq, CompareOperator.sw)
            and isinstance(node.value, str)
            and node.attr_path.sub_attr is None
        ):
            return None
        data = self._data
        name = node.attr_path.attr.lower()
        schema = USER_TYPE if resource_type == USER else GROUP_TYPE
        if node.attr_path.uri not in (None, "") and node.attr_path.uri.lower() != (
            schema.schema.lower()
        ):
            return None
        value = node.value
        if node.op is CompareOperator.sw:
            if resource_type == USER and name == "username":
                return self._prefixed(
                    data.user_name_order, data.user_names, value, _USER_NAME
                )
            if resource_type == GROUP and name == "displayname":
                return self._prefixed(
                    data.group_name_order, data.group_names, value, _DISPLAY_NAME
                )
            return None
        if name == "id":
            return [value] if value in data.rows(resource_type) else []
        if resource_type == USER and name == "username":
            hit = data.user_names.get(comparison_key(_USER_NAME, value))
            return [hit] if hit else []
        if resource_type == USER and name == "externalid":
            return list(data.external_ids.get(comparison_key(_EXTERNAL_ID, value), {}))
        if resource_type == GROUP and name == "displayname":
            hit = data.group_names.get(comparison_key(_DISPLAY_NAME, value))
            return [hit] if hit else []
        return None

    @staticmethod
    def _prefixed(
        order: list[str],
        owners: dict[str, str],
        prefix: str,
        attribute: AttributeSchema,
    ) -> list[str]:
        folded = comparison_key(attribute, prefix)
        start = bisect_left(order, folded)
        ids = []
        for name in itertools.islice(order, start, None):
            if not name.startswith(folded):
                break
            ids.append(owners[name])
        return ids

    def search(self, resource_type: str, query: SearchQuery) -> SearchResult:
        rows = self._data.rows(resource_type)
        predicate = query.filter.predicate if query.filter is not None else None
        # Members are loaded for the filter only when it names them.
        with_members = resource_type == GROUP and (
            query.filter is not None and query.filter.references("members")
        )
        candidates = self._candidates(resource_type, query)
        matched: list[tuple[str, _Row, dict[str, Any]]]
        if candidates is rows and not with_members:
            # The full scan: one comprehension, no per-id lookups — this loop
            # is what a compound filter over a large tenant costs.
            if predicate is None:
                matched = [(i, r, r.document) for i, r in rows.items() if r.managed]
            else:
                matched = [
                    (i, r, r.document)
                    for i, r in rows.items()
                    if r.managed and predicate(r.document)
                ]
        else:
            matched = []
            for resource_id in candidates:
                row = rows.get(resource_id)
                if row is None or not row.managed:
                    continue
                document = row.document
                if with_members:
                    document = self._stored(GROUP, resource_id, row, True).document
                if predicate is None or predicate(document):
                    matched.append((resource_id, row, document))
        if query.sort_by is not None:
            key = sort_key(query.sort_by)
            matched.sort(key=lambda item: key(item[2]), reverse=query.descending)
        last = None
        more = False
        if query.keyset:
            value_of = sort_value(query.sort_by)
            page, last, more = keyset_page(
                matched,
                lambda item: value_of(item[2]),
                lambda item: item[1].seq,
                query.after,
                query.descending,
                query.count,
            )
        else:
            page = page_of(matched, query.start_index, query.count)
        return SearchResult(
            total=len(matched),
            resources=[
                self._stored(resource_type, rid, row, query.include_members)
                for rid, row, _ in page
            ],
            last=last,
            more=more,
        )

    def find_user_by_user_name(self, user_name: str) -> StoredResource | None:
        resource_id = self._data.user_names.get(comparison_key(_USER_NAME, user_name))
        if resource_id is None:
            return None
        return self._stored(USER, resource_id, self._data.users[resource_id], False)

    def members(self, group_id: str) -> list[MemberRef]:
        users = self._data.users
        refs = []
        for member_id in self._data.members.get(group_id, {}):
            row = users.get(member_id)
            document = row.document if row is not None else {}
            display = document.get("displayName") or document.get("userName")
            refs.append(MemberRef(value=member_id, display=display))
        return refs

    def user_groups(self, user_id: str) -> list[StoredResource]:
        groups = self._data.groups
        return [
            self._stored(GROUP, group_id, groups[group_id], False)
            for group_id in self._data.member_of.get(user_id, {})
            if groups[group_id].managed
        ]

    def existing_user_ids(self, ids: Iterable[str]) -> set[str]:
        users = self._data.users
        return {i for i in ids if (row := users.get(i)) is not None and row.managed}

    # -- writes -----------------------------------------------------------

    def _index(self, resource_type: str, resource_id: str, row: _Row) -> None:
        """Index a row's unique and lookup values, refusing taken ones.

        An app-made group is not indexed: it is invisible to SCIM, so its name
        must not make the IdP's group of the same name fail with 409 on every
        sync. An app-made user is, so that a POST can adopt it.
        """
        data = self._data
        document = row.document
        if resource_type == USER:
            folded = _fold(_USER_NAME, document.get("userName"))
            if folded is not None:
                owner = data.user_names.get(folded)
                if owner is not None and owner != resource_id:
                    raise Uniqueness(
                        f"userName {document['userName']!r} is already taken in this tenant"
                    )
                if owner is None:
                    insort(data.user_name_order, folded)
                data.user_names[folded] = resource_id
            external_id = _fold(_EXTERNAL_ID, document.get("externalId"))
            if external_id is not None:
                data.external_ids.setdefault(external_id, {})[resource_id] = None
        elif row.managed:
            folded = _fold(_DISPLAY_NAME, document.get("displayName"))
            if folded is not None:
                owner = data.group_names.get(folded)
                if owner is not None and owner != resource_id:
                    raise Uniqueness(
                        f"displayName {document['displayName']!r} is already taken "
                        "by another group in this tenant"
                    )
                if owner is None:
                    insort(data.group_name_order, folded)
                data.group_names[folded] = resource_id

    def _unindex(
        self, resource_type: str, resource_id: str, document: dict[str, Any]
    ) -> None:
        data = self._data
        if resource_type == USER:
            folded = _fold(_USER_NAME, document.get("userName"))
            if folded is not None and data.user_names.get(folded) == resource_id:
                del data.user_names[folded]
                _discard(data.user_name_order, folded)
            external_id = _fold(_EXTERNAL_ID, document.get("externalId"))
            if external_id is not None:
                holders = data.external_ids.get(external_id, {})
                holders.pop(resource_id, None)
                if not holders:
                    data.external_ids.pop(external_id, None)
        else:
            folded = _fold(_DISPLAY_NAME, document.get("displayName"))
            if folded is not None and data.group_names.get(folded) == resource_id:
                del data.group_names[folded]
                _discard(data.group_name_order, folded)

    @staticmethod
    def _keys(resource_type: str, row: _Row) -> tuple[Any, ...]:
        """What :meth:`_index` files a row under."""
        document = row.document
        if resource_type == USER:
            return (
                _fold(_USER_NAME, document.get("userName")),
                _fold(_EXTERNAL_ID, document.get("externalId")),
            )
        return (row.managed, _fold(_DISPLAY_NAME, document.get("displayName")))

    def _put(self, resource_type: str, resource_id: str, row: _Row | None) -> None:
        """Set (or delete, with ``None``) a row and its indexes, with an undo step."""
        rows = self._data.rows(resource_type)
        previous = rows.get(resource_id)
        # A write that keeps the names (most PATCHes) leaves the indexes as
        # they are: refiling a name costs two shifts of the sorted name list.
        refile = (
            previous is None
            or row is None
            or self._keys(resource_type, previous) != self._keys(resource_type, row)
        )
        if previous is not None and refile:
            self._unindex(resource_type, resource_id, previous.document)
        if row is not None:
            if refile:
                try:
                    self._index(resource_type, resource_id, row)
                except Uniqueness:
                    if previous is not None:
                        self._index(resource_type, resource_id, previous)
                    raise
            rows[resource_id] = row
        else:
            rows.pop(resource_id, None)

        def undo() -> None:
            current = rows.get(resource_id)
            if current is not None:
                self._unindex(resource_type, resource_id, current.document)
            if previous is None:
                rows.pop(resource_id, None)
            else:
                if resource_id not in rows:
                    self._disordered[id(rows)] = rows
                rows[resource_id] = previous
                self._index(resource_type, resource_id, previous)

        self._undo.append(undo)

    def insert(
        self,
        resource_type: str,
        document: dict[str, Any],
        *,
        role: str | None,
        managed: bool,
    ) -> StoredResource:
        resource_id = str(document["id"])
        if resource_id in self._data.rows(resource_type):
            raise Uniqueness(f"id {resource_id!r} is already taken")
        row = _Row(document=document, version=1, managed=managed, role=role)
        self._put(resource_type, resource_id, row)
        return self._stored(resource_type, resource_id, row, False)

    def create(
        self, resource_type: str, document: dict[str, Any], *, role: str | None = None
    ) -> StoredResource:
        return self.insert(resource_type, document, role=role, managed=True)

    def _current(
        self,
        resource_type: str,
        resource_id: str,
        expected_version: int | None,
        adopt: bool,
    ) -> _Row | None:
        row = self._data.rows(resource_type).get(resource_id)
        if row is None or (not row.managed and not adopt):
            return None
        if expected_version is not None and row.version != expected_version:
            raise PreconditionFailed(
                f"the resource is at version {row.version}, not {expected_version}"
            )
        return row

    def replace(
        self,
        resource_type: str,
        resource_id: str,
        document: dict[str, Any],
        *,
        expected_version: int | None = None,
        role: str | None = None,
        adopt: bool = False,
    ) -> StoredResource:
        row = self._current(resource_type, resource_id, expected_version, adopt)
        if row is None:
            raise NotFound(f"{resource_type} {resource_id!r} not found")
        updated = attrs.evolve(
            row,
            document=document,
            version=row.version + 1,
            managed=True,
            role=role if role is not None else row.role,
        )
        self._put(resource_type, resource_id, updated)
        return self._stored(resource_type, resource_id, updated, False)

    def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> bool:
        if self._current(resource_type, resource_id, expected_version, False) is None:
            return False
        if resource_type == GROUP:
            self.replace_members(resource_id, ())
        else:
            for group_id in list(self._data.member_of.get(resource_id, {})):
                self._unlink(group_id, resource_id)
                self._touch(group_id, None)
        self._put(resource_type, resource_id, None)
        return True

    def _link(self, group_id: str, user_id: str) -> None:
        members = self._data.members.setdefault(group_id, {})
        member_of = self._data.member_of.setdefault(user_id, {})
        seq = next(_SEQUENCE)
        members[user_id] = seq
        member_of[group_id] = seq

        def undo() -> None:
            members.pop(user_id, None)
            member_of.pop(group_id, None)

        self._undo.append(undo)

    def _unlink(self, group_id: str, user_id: str) -> None:
        members = self._data.members.get(group_id, {})
        member_of = self._data.member_of.get(user_id, {})
        seq = members.pop(user_id, None)
        member_of.pop(group_id, None)
        if seq is None:
            return

        def undo() -> None:
            restored = self._data.members.setdefault(group_id, {})
            restored[user_id] = seq
            groups = self._data.member_of.setdefault(user_id, {})
            groups[group_id] = seq
            self._disordered[id(restored)] = restored
            self._disordered[id(groups)] = groups

        self._undo.append(undo)

    def _touch(self, group_id: str, modified: str | None) -> None:
        """A membership change moves the group's version (its ETag)."""
        row = self._data.groups.get(group_id)
        if row is None:
            return
        document = row.document
        if modified is not None:
            document = {
                **document,
                "meta": {**(document.get("meta") or {}), "lastModified": modified},
            }
        self._put(
            GROUP,
            group_id,
            attrs.evolve(row, document=document, version=row.version + 1),
        )

    def _require_group(self, group_id: str) -> None:
        """Membership writes need a managed group of this tenant."""
        row = self._data.groups.get(group_id)
        if row is None or not row.managed:
            raise NotFound(f"Group {group_id[:100]!r} not found")

    def add_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        self._require_group(group_id)
        current = self._data.members.get(group_id, {})
        added = [m for m in dict.fromkeys(member_ids) if m not in current]
        for member_id in added:
            self._link(group_id, member_id)
        if added:
            self._touch(group_id, modified)
        return added

    def remove_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        self._require_group(group_id)
        current = self._data.members.get(group_id, {})
        removed = [m for m in dict.fromkeys(member_ids) if m in current]
        for member_id in removed:
            self._unlink(group_id, member_id)
        if removed:
            self._touch(group_id, modified)
        return removed

    def replace_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> tuple[list[str], list[str]]:
        self._require_group(group_id)
        wanted = dict.fromkeys(member_ids)
        current = self._data.members.get(group_id, {})
        removed = [m for m in current if m not in wanted]
        for member_id in removed:
            self._unlink(group_id, member_id)
        added = [m for m in wanted if m not in current]
        for member_id in added:
            self._link(group_id, member_id)
        if added or removed:
            self._touch(group_id, modified)
        return added, removed

    def set_role(self, user_id: str, role: str) -> None:
        row = self._data.users.get(user_id)
        if row is not None and row.role != role:
            self._put(USER, user_id, attrs.evolve(row, role=role))
