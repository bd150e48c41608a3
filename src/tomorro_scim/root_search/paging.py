"""Reading one page of a root search: each type's results, merged (RFC 7644 §3.4.2.4, RFC 9865).

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
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..errors import InvalidCursor
from ..query import sort_value
from ..storage import MAX_START_INDEX
from ..storage import Keyset
from ..storage import StoredResource
from ..storage.asynchronous import AsyncStorageSession
from .parameters import RootQuery
from .parameters import TypeQuery

__all__ = [
    "ROOT",
    "Hit",
    "by_cursor",
    "by_index",
    "by_index_sorted",
    "pack",
    "unpack",
]

ROOT = "/"
"""The "resource type" a root cursor's fingerprint names (no type is called so)."""

_FAR = MAX_START_INDEX
"""Positions sent to the storage are capped here (an empty page either way)."""

Hit = tuple[TypeQuery, StoredResource]
"""One resource of a page, with the type that found it."""


# -- merging the types' orders ---------------------------------------------


def _precedes(value: Any, other: Any, descending: bool) -> bool:
    """Whether a sort value comes strictly before another (``None``: missing,
    last ascending and first descending, RFC 7644 §3.4.2.3)."""
    if value is None or other is None:
        return (value is None) == descending and (other is None) != descending
    return bool(value > other) if descending else bool(value < other)


def _merge(
    streams: Sequence[tuple[TypeQuery, Sequence[StoredResource]]],
    descending: bool,
    limit: int,
) -> tuple[list[Hit], list[int]]:
    """The first ``limit`` resources of the types' ordered streams, merged in
    the root order, and how many each stream gave. Only the streams' heads
    are compared, so the first n merged come from each stream's first n."""
    values = [sort_value(part.sort_by) for part, _ in streams]
    heads = [0] * len(streams)
    merged: list[Hit] = []
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


def pack(positions: Sequence[Keyset | None]) -> Keyset:
    """The positions reached in each type, as one keyset a cursor carries."""

    def encode(value: Any) -> Any:
        return {"dt": value.isoformat()} if isinstance(value, datetime) else value

    packed = [None if p is None else [encode(p.value), p.tiebreak] for p in positions]
    # UTF-8, as the codec writes its payload: every type's sort value shares
    # one cursor's length limit, and a \u escape is twice a CJK character.
    text = json.dumps(packed, ensure_ascii=False, separators=(",", ":"))
    return Keyset(None, text)


def unpack(keyset: Keyset, size: int) -> list[Keyset | None]:
    """The positions :func:`pack` packed; the cursor's signature vouches
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


async def by_index(
    session: AsyncStorageSession, query: RootQuery
) -> tuple[int, list[Hit]]:
    """Default order: the users, then the groups; each type's page is located
    from the totals of the types before it."""
    skip = query.start_index - 1
    wanted = query.count
    total = 0
    page: list[Hit] = []
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


async def by_index_sorted(
    session: AsyncStorageSession, query: RootQuery
) -> tuple[int, list[Hit]]:
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


async def by_cursor(
    session: AsyncStorageSession, query: RootQuery, positions: list[Keyset | None]
) -> tuple[int, list[Hit], bool]:
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
