"""The storage contract: what the service asks of a backend, and its value types.

A backend implements :class:`Storage`; the service opens one
:meth:`Storage.session` per request, scoped to the authenticated tenant, and
every call inside it reads and writes that tenant only. The session is one
transaction: it commits when the ``with`` block ends normally and rolls back
when it raises, so a failed request leaves nothing behind.

Resources travel as their JSON form (``dict``), with canonical attribute names
and without ``meta.version`` (the storage keeps the version as an integer).
Group members are a relation of their own, never part of the stored document:
:meth:`StorageSession.add_members` and friends change it row by row, so the
cost of a membership change depends on the change, not on the group's size.

Write a backend for your own tables by implementing these two protocols, then
run :mod:`tomorro_scim.testing` against it.

**Paging by position (RFC 9865 cursors).** A backend that can resume a search
just after a given resource sets a class attribute ``keyset_paging = True``
and honours :attr:`SearchQuery.keyset` / :attr:`SearchQuery.after`, reporting
:attr:`SearchResult.last` and :attr:`SearchResult.more`; the service then
serves the ``cursor`` parameter and advertises it. Without the attribute the
service answers ``cursor`` with 501 and advertises ``index`` paging only. A
backend may also offer ``cursor_secret() -> bytes``: a random secret shared by
every process using the same data (the SQL backend keeps one in its database),
which the service signs cursors with when ``ServiceSettings.cursor_secret``
is not set.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any
from typing import Protocol
from typing import runtime_checkable

import attrs

from ..filter import CompiledFilter
from ..schemas import AttributeSchema

__all__ = [
    "MAX_START_INDEX",
    "Keyset",
    "MemberRef",
    "SearchQuery",
    "SearchResult",
    "Storage",
    "StorageSession",
    "StoredResource",
    "TokenRecord",
]

USER = "User"
GROUP = "Group"

MAX_START_INDEX = 2**62
"""The largest :attr:`SearchQuery.start_index` the service asks for: past any
tenant's size and within every database's integer range, so a client's
``startIndex=10**30`` is an empty page, never an integer overflow."""


@attrs.frozen
class StoredResource:
    """A resource as the storage holds it."""

    id: str
    resource_type: str
    """``"User"`` or ``"Group"``."""

    document: dict[str, Any]
    """The JSON form; for a group, ``members`` is present only when loaded."""

    version: int
    """Incremented by every write, including membership changes."""

    managed: bool = True
    """Whether SCIM manages it; resources the host app made are not SCIM's."""

    role: str | None = None
    """The app role the role map resolved for a user (``None`` for groups)."""


@attrs.frozen
class MemberRef:
    """One member of a group, as the storage reports it."""

    value: str
    """The member's id."""

    display: str | None = None
    """The member's ``displayName`` (or ``userName``) at read time."""

    type: str = "User"


@attrs.frozen
class Keyset:
    """A position in a search's order: "just after this resource".

    ``value`` is the resource's sort value in the comparison form
    :func:`tomorro_scim.query.sort_key` orders by (a folded string, a bool, a
    number or an aware datetime), or ``None`` when it has none; it is always
    ``None`` for a search in the default order. ``tiebreak`` is the
    backend's own stable key of the resource in its default order (an
    insertion sequence number, say): ties of ``value`` are ordered by it, in
    both directions. Only the backend that reported a position interprets its
    ``tiebreak``; the service carries it, signed, in a cursor.
    """

    value: Any
    tiebreak: int | str


@attrs.frozen
class SearchQuery:
    """What to list: a filter, an order, a page, and whether to load members.

    ``count == 0`` asks for ``total`` only (RFC 7644 §3.4.2.4). ``sort_by`` is
    ``None`` for the storage's stable default order, which must be the same
    for every page so clients that page with ``startIndex`` (Okta's import)
    see each resource once.

    The order is total: sorted values (missing ones last ascending, first
    descending), ties in the default order both ways. With ``keyset`` the
    page is taken by position instead of by index: ``start_index`` is
    ignored, the page holds the first ``count`` matches that come after
    ``after`` in that order (from the start when ``after`` is ``None``), and
    the result reports :attr:`SearchResult.last` and :attr:`SearchResult.more`.
    A backend serves it without reading the resources before ``after`` where
    it can (an index range), so a deep page costs what the first one does.
    """

    filter: CompiledFilter | None = None
    sort_by: AttributeSchema | None = None
    descending: bool = False
    start_index: int = 1
    count: int = 100
    include_members: bool = True
    keyset: bool = False
    """Page by position (RFC 9865 cursors) rather than by ``start_index``."""
    after: Keyset | None = None
    """With ``keyset``: resume just after this position (one a result reported)."""


@attrs.frozen
class SearchResult:
    """One page of results, and the number of matches before paging.

    ``total`` counts every match, wherever the page starts. For a ``keyset``
    query, ``last`` is the position of the page's last resource (``None`` for
    an empty page) and ``more`` tells whether any match follows it; both are
    left at their defaults otherwise.
    """

    total: int
    resources: Sequence[StoredResource]
    last: Keyset | None = None
    more: bool = False


@attrs.frozen
class TokenRecord:
    """A bearer token as stored: never the token itself, only its hash."""

    token_id: str
    """The public, lookup part of the token."""

    tenant: str
    secret_hash: bytes
    """SHA-256 of the secret part."""

    created: str
    """ISO 8601 instant."""

    label: str = ""
    revoked: bool = False


@runtime_checkable
class StorageSession(Protocol):
    """One tenant's transaction. Every method reads or writes ``tenant`` only.

    Errors a client can cause are raised as the library's errors:
    :class:`~tomorro_scim.errors.Uniqueness` for a taken ``userName`` or group
    ``displayName`` (compared case-insensitively), and
    :class:`~tomorro_scim.errors.PreconditionFailed` when ``expected_version``
    is given and the stored version moved.
    """

    tenant: str

    def get(
        self, resource_type: str, resource_id: str, *, include_members: bool = True
    ) -> StoredResource | None:
        """A managed resource by id, or ``None``; unmanaged ones are invisible."""
        ...

    def search(self, resource_type: str, query: SearchQuery) -> SearchResult:
        """Managed resources matching ``query.filter``, ordered and paged."""
        ...

    def find_user_by_user_name(self, user_name: str) -> StoredResource | None:
        """Any user, managed or not, whose ``userName`` folds to the same value."""
        ...

    def create(
        self, resource_type: str, document: dict[str, Any], *, role: str | None = None
    ) -> StoredResource:
        """Store a new managed resource; ``document["id"]`` is already set."""
        ...

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
        """Replace the stored document (members are not part of it).

        ``adopt`` marks an unmanaged resource managed (POST adopting a user
        the host app made); without it an unmanaged resource is not found.
        ``role=None`` keeps the stored role. Raises
        :class:`~tomorro_scim.errors.NotFound` when there is no such resource.
        """
        ...

    def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> bool:
        """Delete a managed resource and its memberships; ``False`` if absent.

        Deleting a user moves the version of every group it leaves.
        """
        ...

    def add_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        """Add members; returns the ids that were not members yet.

        ``member_ids`` name managed users of the tenant (the service checks
        them with :meth:`existing_user_ids`); members keep the order they
        were added in. Raises :class:`~tomorro_scim.errors.NotFound` when
        ``group_id`` names no managed group of the tenant.

        When anything changed, the group's version moves and, if ``modified``
        is given, its ``meta.lastModified`` becomes that instant — without
        rewriting the rest of the document, so concurrent membership changes
        and a rename never overwrite each other. Nothing changed, nothing
        moves.
        """
        ...

    def remove_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        """Remove members; returns the ids that were members (see add_members)."""
        ...

    def replace_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> tuple[list[str], list[str]]:
        """Make the members exactly ``member_ids``; returns (added, removed)."""
        ...

    def members(self, group_id: str) -> list[MemberRef]:
        """The members of a group, with their display names, in a stable order."""
        ...

    def user_groups(self, user_id: str) -> list[StoredResource]:
        """The managed groups a user belongs to (documents without members)."""
        ...

    def existing_user_ids(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` that name managed users of this tenant."""
        ...

    def set_role(self, user_id: str, role: str) -> None:
        """Record the role the role map resolved for a user."""
        ...


@runtime_checkable
class Storage(Protocol):
    """A backend: opens tenant-scoped transactions and keeps bearer tokens.

    A backend whose calls never wait on I/O may set a class attribute
    ``blocking = False``; async adapters then call it on their event loop
    instead of a worker thread. Without it, a backend is taken to block.
    """

    def session(self, tenant: str) -> AbstractContextManager[StorageSession]:
        """A transaction on ``tenant``'s data; commits on success, rolls back on error."""
        ...

    def save_token(self, record: TokenRecord) -> None:
        """Store a newly issued token's record."""
        ...

    def find_token(self, token_id: str) -> TokenRecord | None:
        """The record of a token by its public id."""
        ...

    def list_tokens(self, tenant: str) -> list[TokenRecord]:
        """The tokens issued for a tenant, revoked ones included."""
        ...

    def revoke_token(self, token_id: str) -> bool:
        """Revoke a token; ``False`` if there is none with that id."""
        ...
