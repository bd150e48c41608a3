"""Search at the service root: ``GET /`` and ``POST /.search`` over every resource type.

RFC 7644 §3.4.2.1 lets a client query the service provider's base URI, which
returns the resources of every type that match; §3.4.3 does the same with a
SearchRequest body posted to ``/.search`` at the root. Both are answered
here, by one list of all the types the registry serves (``User`` and
``Group``), inside one storage session of the authenticated tenant, with the
same parameter reading, filter engine, sort keys, projection and rendering as
``/Users`` and ``/Groups``. The rules, and where they come from:

**Tagging.** Every resource is rendered as its own endpoint renders it, so it
carries ``schemas`` (its core schema URN first) and, unless ``attributes`` or
``excludedAttributes`` leave ``meta`` out, ``meta.resourceType``. ``schemas``
is never projected away, so a client tells the types apart under any
projection.

**Filter.** RFC 7644 §3.4.2.1: "for filtered attributes that are not part of
a particular resource type, the service provider SHALL treat the attribute as
if there is no attribute value", giving a presence or an equality test on an
undefined attribute as evaluating to false. The filter is compiled once per
type; on a type that does not declare an attribute it names, **every test of
that attribute is false** — ``eq``, ``ne``, ``co``, ``sw``, ``ew``, ``gt``,
``ge``, ``lt``, ``le``, ``pr`` and ``attr[...]`` alike — and ``and``, ``or``
and ``not`` then combine as usual. So:

* ``userName eq "x"`` and ``userName ne "x"`` match no group (``ne`` is false
  too: there is no value to differ; scim2-models reads it the same way);
* ``not (userName eq "x")`` matches every group (the negation of false);
* ``userName eq "x" or displayName eq "y"`` matches the groups named ``y``;
* ``displayName eq "y"`` matches groups and users, both types declaring
  ``displayName``;
* an extension attribute (``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department``,
  or unqualified ``department``) and a URN-qualified core attribute apply only
  to the type whose schemas hold them.

A filter naming an attribute that no type declares is ``400 invalidFilter``,
as on a single endpoint (§3.4.2.2), and so is one that any type refuses for
another reason (an operator or a value the attribute's type does not take).
A type on which the filter is false for every resource is not searched at
all, and one on which it is true for every resource is listed unfiltered.

**Sorting.** ``sortBy`` (§3.4.2.3) is resolved per type; on a type that does
not declare it, every resource has "no data for the specified sortBy value"
and sorts as missing values do: last ascending, first descending. A
``sortBy`` that no type declares, or that names attributes of different
kinds on different types (a string here, a number there), is
``400 invalidValue``, as a non-sortable ``sortBy`` is on ``/Users``. The
order is total: sort values (compared as :func:`~tomorro_scim.query.sort_key`
compares them), ties by resource type in registry order (users before
groups), then in each storage's own order. Without ``sortBy`` that is every
user, then every group, each in the storage's stable default order.

**Paging.** ``startIndex`` and ``count`` (§3.4.2.4) page the merged sequence;
``totalResults`` is the sum over the types. Without ``sortBy`` a page costs
one storage page per type (the index is located from the types' totals);
with ``sortBy`` each type is asked for its first ``startIndex + count - 1``
matches in order, which are merged, so a deep sorted page reads the
resources before it (cursor paging does not). ``count=0`` returns the total
only.

**Cursors.** RFC 9865 cursors work at the root as on each endpoint (the
service advertises them), when the storage pages by position: the cursor
holds, signed, the position reached in each type's order, and each page
resumes every type there and merges (a page that ends inside one type's
results asks that type once more, for the position to resume from, which
only the storage knows). It is bound to the tenant, the filter
and the sort like any cursor; a storage without keyset paging answers
``cursor`` with ``501``, as on ``/Users``.

**Projection.** ``attributes`` and ``excludedAttributes`` (§3.4.2.5) apply to
each type with the names it declares; a name a type lacks is simply absent
from its resources.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

import attrs
from scim2_models.path import AttrPath
from scim2_models.path import Comparison
from scim2_models.path import FilterNode
from scim2_models.path import LogicalExpr
from scim2_models.path import LogicalOperator
from scim2_models.path import Not
from scim2_models.path import Present
from scim2_models.path import ValuePath

from .cursors import cursor_fingerprint
from .errors import InvalidCursor
from .errors import InvalidFilter
from .errors import InvalidValue
from .errors import NotImplementedFeature
from .filter import CompiledFilter
from .filter import FilterLimits
from .filter import compile_filter
from .http import ScimRequest
from .http import ScimResponse
from .http import json_response
from .query import Projection
from .query import parse_list_query
from .query import sort_value
from .schemas import AttributeSchema
from .schemas import AttributeType
from .schemas import ResourceType
from .storage import Keyset
from .storage import SearchQuery
from .storage import StoredResource
from .storage.asynchronous import AsyncStorageSession

if TYPE_CHECKING:
    from .resources import ResourceHandlers

__all__ = ["RootQuery", "TypeQuery", "parse_root_query", "search_root"]

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

ROOT = "/"
"""The "resource type" a root cursor's fingerprint names (no type is called so)."""

_FAR = 2**62
"""Past any tenant's size, within every database's integer range: positions
sent to the storage are capped here (an empty page either way)."""


@attrs.frozen
class TypeQuery:
    """What one resource type contributes to a root search."""

    resource_type: ResourceType
    filter: CompiledFilter | None
    """The filter compiled for this type (``None``: no filter, or one true on
    every resource of the type)."""
    sort_by: AttributeSchema | None
    """``sortBy`` as this type declares it, ``None`` when it does not."""
    projection: Projection
    searched: bool = True
    """``False`` when the filter is false on every resource of this type."""

    def search(self, query: RootQuery, **page: Any) -> SearchQuery:
        """The storage query for this type, paged by ``page``."""
        return SearchQuery(
            filter=self.filter,
            sort_by=self.sort_by,
            descending=query.descending,
            include_members=False,
            **page,
        )


@attrs.frozen
class RootQuery:
    """A root search, checked and resolved against every resource type."""

    types: tuple[TypeQuery, ...]
    sorted: bool
    descending: bool
    start_index: int
    count: int
    cursor: str | None
    """As :attr:`~tomorro_scim.query.ListQuery.cursor`."""
    filter_text: str = ""
    sort_text: str = ""


# -- reading the parameters ------------------------------------------------


def _attribute_paths(node: FilterNode) -> Iterator[AttrPath]:
    """The attribute paths of a filter's tests, outside any ``[...]``."""
    if isinstance(node, LogicalExpr):
        for term in node.terms:
            yield from _attribute_paths(term)
    elif isinstance(node, Not):
        yield from _attribute_paths(node.expr)
    elif isinstance(node, Comparison | Present | ValuePath):
        yield node.attr_path


def _declares(resource_type: ResourceType, path: AttrPath) -> bool:
    """Whether the filter engine binds ``path`` on ``resource_type`` (it
    resolves paths this way; an unbound one tests false)."""
    uri = path.uri
    if uri is not None and resource_type.split_urn(f"{uri}:x")[0] is None:
        return False
    found = resource_type.resolve(path.attr, path.sub_attr, uri, search_extensions=True)
    return found is not None


def _truth(node: FilterNode, resource_type: ResourceType) -> bool | None:
    """The filter's value on every resource of the type when the type's
    undeclared attributes decide it, else ``None``."""
    if isinstance(node, Not):
        inner = _truth(node.expr, resource_type)
        return None if inner is None else not inner
    if isinstance(node, LogicalExpr):
        values = [_truth(term, resource_type) for term in node.terms]
        deciding = node.op is not LogicalOperator.and_
        if deciding in values:
            return deciding
        return (not deciding) if all(v is not None for v in values) else None
    if isinstance(node, Comparison | Present | ValuePath):
        return None if _declares(resource_type, node.attr_path) else False
    return None


def _compile(
    text: Any, resource_types: Sequence[ResourceType], limits: FilterLimits
) -> list[tuple[CompiledFilter | None, bool]]:
    """Per type: the filter to give the storage, and whether to search at all."""
    if not isinstance(text, str):
        raise InvalidFilter("the filter must be a string")
    compiled = [
        compile_filter(text, rt, limits=limits, unknown_attributes_match_none=True)
        for rt in resource_types
    ]
    tree = compiled[0].ast
    for path in _attribute_paths(tree):
        if not any(_declares(rt, path) for rt in resource_types):
            names = ", ".join(rt.name for rt in resource_types)
            raise InvalidFilter(
                f"'{str(path)[:120]}' is not an attribute of any resource type "
                f"({names})"
            )
    out: list[tuple[CompiledFilter | None, bool]] = []
    for rt, compiled_filter in zip(resource_types, compiled, strict=True):
        truth = _truth(tree, rt)
        out.append((None if truth else compiled_filter, truth is not False))
    return out


def _sort_kind(attribute: AttributeSchema) -> str:
    """What kind of value a sort on ``attribute`` compares (RFC 7643 §2.3)."""
    target = attribute.sub_attribute("value") if attribute.is_complex else attribute
    kind = target.type if target is not None else None
    if kind in (AttributeType.string, AttributeType.reference, AttributeType.binary):
        return "string"
    if kind in (AttributeType.integer, AttributeType.decimal):
        return "number"
    return kind.value if kind is not None else "complex"


def _sort_attributes(
    text: Any, resource_types: Sequence[ResourceType]
) -> list[AttributeSchema | None]:
    if not isinstance(text, str):
        raise InvalidValue("sortBy must be an attribute path")
    found = [rt.attribute(text) for rt in resource_types]
    declared = [a for a in found if a is not None]
    if not declared:
        names = ", ".join(rt.name for rt in resource_types)
        raise InvalidValue(
            f"sortBy '{text[:80]}' is not an attribute of any resource type ({names})"
        )
    if any(a.is_complex and not a.multi_valued for a in declared):
        raise InvalidValue(f"sortBy '{text[:80]}' is not a sortable attribute")
    if len({_sort_kind(a) for a in declared}) > 1:
        raise InvalidValue(
            f"sortBy '{text[:80]}' names values of different kinds on different "
            "resource types, which have no common order"
        )
    return found


def parse_root_query(
    resource_types: Sequence[ResourceType],
    parameters: Mapping[str, Any],
    *,
    default_count: int,
    max_count: int,
    filter_limits: FilterLimits,
) -> RootQuery:
    """Read a root search's parameters (query string or SearchRequest keys).

    Paging, ``sortOrder``, ``cursor`` and the projection are read as
    :func:`~tomorro_scim.query.parse_list_query` reads them for each type;
    ``filter`` and ``sortBy`` as the module docstring says.

    :raises InvalidFilter: a filter that does not parse, names an attribute
        no type declares, or that a type refuses.
    :raises InvalidValue: a bad ``sortBy``, ``sortOrder``, ``count``,
        ``startIndex``, or both ``cursor`` and ``startIndex``.
    """
    own = {"filter", "sortby"}
    rest = {k: v for k, v in parameters.items() if str(k).lower() not in own}
    params = {str(k).lower(): v for k, v in parameters.items()}
    per_type = [
        parse_list_query(
            rt,
            rest,
            default_count=default_count,
            max_count=max_count,
            filter_limits=filter_limits,
        )
        for rt in resource_types
    ]
    filter_text = params.get("filter")
    filters: list[tuple[CompiledFilter | None, bool]] = [(None, True)] * len(
        resource_types
    )
    if filter_text is not None and filter_text != "":
        filters = _compile(filter_text, resource_types, filter_limits)
    sort_text = params.get("sortby")
    sorts: list[AttributeSchema | None] = [None] * len(resource_types)
    if sort_text:
        sorts = _sort_attributes(sort_text, resource_types)
    first = per_type[0]
    return RootQuery(
        types=tuple(
            TypeQuery(rt, compiled, sort, query.projection, searched)
            for rt, query, (compiled, searched), sort in zip(
                resource_types, per_type, filters, sorts, strict=True
            )
        ),
        sorted=bool(sort_text),
        descending=first.descending,
        start_index=first.start_index,
        count=first.count,
        cursor=first.cursor,
        filter_text=filter_text if isinstance(filter_text, str) else "",
        sort_text=sort_text if isinstance(sort_text, str) else "",
    )


# -- merging the types' orders ---------------------------------------------


def _precedes(value: Any, other: Any, descending: bool) -> bool:
    """Whether a sort value comes strictly before another (``None``: missing,
    last ascending and first descending, RFC 7644 §3.4.2.3)."""
    if value is None or other is None:
        return (value is None) == descending and (other is None) != descending
    return bool(value > other) if descending else bool(value < other)


_Hit = tuple[TypeQuery, StoredResource]


def _merge(
    streams: Sequence[tuple[TypeQuery, Sequence[StoredResource]]],
    descending: bool,
    limit: int,
) -> tuple[list[_Hit], list[int]]:
    """The first ``limit`` resources of the types' ordered streams, merged in
    the root order, and how many each stream gave. Only the streams' heads
    are compared, so the first n merged come from each stream's first n."""
    values = [sort_value(part.sort_by) for part, _ in streams]
    heads = [0] * len(streams)
    merged: list[_Hit] = []
    while len(merged) < limit:
        best = -1
        best_value: Any = None
        for index, (_, items) in enumerate(streams):
            if heads[index] >= len(items):
                continue
            value = values[index](items[heads[index]].document)
            if best < 0 or _precedes(value, best_value, descending):
                best, best_value = index, value
        if best < 0:
            break
        part, items = streams[best]
        merged.append((part, items[heads[best]]))
        heads[best] += 1
    return merged, heads


# -- cursors ---------------------------------------------------------------


def _pack(positions: Sequence[Keyset | None]) -> Keyset:
    """The positions reached in each type, as one keyset a cursor carries."""

    def encode(value: Any) -> Any:
        return {"dt": value.isoformat()} if isinstance(value, datetime) else value

    packed = [None if p is None else [encode(p.value), p.tiebreak] for p in positions]
    return Keyset(None, json.dumps(packed, separators=(",", ":")))


def _unpack(keyset: Keyset, size: int) -> list[Keyset | None]:
    """The positions :func:`_pack` packed; the cursor's signature vouches
    for the structure, which is checked all the same."""
    invalid = InvalidCursor(
        "the cursor is not one this server issued for this root search; send an "
        "empty cursor for the first page, then each page's nextCursor"
    )
    try:
        packed = json.loads(str(keyset.tiebreak))
        if not isinstance(packed, list) or len(packed) != size:
            raise invalid
        positions: list[Keyset | None] = []
        for item in packed:
            if item is None:
                positions.append(None)
                continue
            value, tiebreak = item
            if isinstance(value, dict):
                value = datetime.fromisoformat(value["dt"])
            elif value is not None and not isinstance(value, str | bool | int | float):
                raise invalid
            if isinstance(tiebreak, bool) or not isinstance(tiebreak, int | str):
                raise invalid
            positions.append(Keyset(value, tiebreak))
    except (ValueError, TypeError, KeyError):
        raise invalid from None
    return positions


# -- the three ways to page ------------------------------------------------


async def _by_index(
    session: AsyncStorageSession, query: RootQuery
) -> tuple[int, list[_Hit]]:
    """Default order: the users, then the groups; each type's page is located
    from the totals of the types before it."""
    skip = query.start_index - 1
    wanted = query.count
    total = 0
    page: list[_Hit] = []
    for part in query.types:
        if not part.searched:
            continue
        result = await session.search(
            part.resource_type.name,
            part.search(query, start_index=min(skip, _FAR) + 1, count=wanted),
        )
        total += result.total
        page += [(part, stored) for stored in result.resources]
        wanted -= len(result.resources)
        skip = max(0, skip - result.total)
    return total, page


async def _by_index_sorted(
    session: AsyncStorageSession, query: RootQuery
) -> tuple[int, list[_Hit]]:
    """Sorted: each type's first ``startIndex + count - 1`` matches, merged."""
    end = min(query.start_index - 1 + query.count, _FAR) if query.count else 0
    total = 0
    streams: list[tuple[TypeQuery, Sequence[StoredResource]]] = []
    for part in query.types:
        if not part.searched:
            continue
        result = await session.search(
            part.resource_type.name, part.search(query, start_index=1, count=end)
        )
        total += result.total
        streams.append((part, result.resources))
    merged, _ = _merge(streams, query.descending, end)
    return total, merged[query.start_index - 1 :]


async def _by_cursor(
    session: AsyncStorageSession, query: RootQuery, positions: list[Keyset | None]
) -> tuple[int, list[_Hit], bool]:
    """One page after ``positions`` (updated in place); and whether more follow."""
    total = 0
    more = False
    streams: list[tuple[TypeQuery, Sequence[StoredResource]]] = []
    indexes: list[int] = []
    results = []
    for index, part in enumerate(query.types):
        if not part.searched:
            continue
        result = await session.search(
            part.resource_type.name,
            part.search(query, count=query.count, keyset=True, after=positions[index]),
        )
        total += result.total
        streams.append((part, result.resources))
        indexes.append(index)
        results.append(result)
    page, taken = _merge(streams, query.descending, query.count)
    for index, result, used in zip(indexes, results, taken, strict=True):
        if used == len(result.resources):
            more = more or result.more
            if used:
                positions[index] = result.last
            continue
        # The page took only the first ``used`` of this type's resources: the
        # storage tells where they end (the tiebreak is its own).
        more = True
        if used:
            part = query.types[index]
            again = await session.search(
                part.resource_type.name,
                part.search(query, count=used, keyset=True, after=positions[index]),
            )
            positions[index] = again.last
    return total, page, more


async def search_root(
    handlers: ResourceHandlers,
    resource_types: Sequence[ResourceType],
    request: ScimRequest,
    tenant: str,
    parameters: Mapping[str, Any],
) -> ScimResponse:
    """Answer a root search (``GET /`` query parameters, or the keys of a
    ``POST /.search`` SearchRequest) with one ListResponse over
    ``resource_types``, in ``tenant`` only."""
    settings = handlers.settings
    query = parse_root_query(
        resource_types,
        parameters,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        filter_limits=settings.filter_limits,
    )
    by_cursor = query.cursor is not None
    fingerprint = ""
    positions: list[Keyset | None] = [None] * len(query.types)
    if by_cursor:
        if not handlers.keyset_paging:
            raise NotImplementedFeature(
                "this service provider's storage does not page by cursor; "
                "page with startIndex"
            )
        fingerprint = cursor_fingerprint(
            tenant, ROOT, query.filter_text, query.sort_text or None, query.descending
        )
        if query.cursor:
            keyset = (await handlers._codec()).decode(query.cursor, fingerprint)
            positions = _unpack(keyset, len(query.types))
    more = False
    async with handlers.storage.session(tenant) as session:
        if by_cursor:
            total, page, more = await _by_cursor(session, query, positions)
        elif query.sorted:
            total, page = await _by_index_sorted(session, query)
        else:
            total, page = await _by_index(session, query)
        resources = [
            await handlers._render(
                session, stored, part.resource_type, request, part.projection
            )
            for part, stored in page
        ]
    body: dict[str, Any] = {"schemas": [LIST_RESPONSE], "totalResults": total}
    if by_cursor:
        # RFC 9865 §2: nextCursor on every page but the last; count=0 asks
        # for totalResults only.
        if more and query.count:
            body["nextCursor"] = (await handlers._codec()).encode(
                fingerprint, _pack(positions)
            )
    else:
        body["startIndex"] = query.start_index
    body["itemsPerPage"] = len(resources)
    body["Resources"] = resources
    return json_response(body)
