"""Search at the service root: ``GET /`` and ``POST /.search`` over every resource type.

RFC 7644 §3.4.2.1 lets a client query the service provider's base URI, which
returns the resources of every type that match; §3.4.3 does the same with a
SearchRequest body posted to ``/.search`` at the root. Both are answered
here, by one list of all the types the registry serves (``User`` and
``Group``), inside one storage session of the authenticated tenant, with the
same parameter reading, filter engine, sort keys, projection and rendering as
``/Users`` and ``/Groups``. The rules, and where they live:

* :mod:`.filters`: a filter on attributes some types lack (§3.4.2.1);
* :mod:`.parameters`: the parameters, and ``sortBy`` across types
  (§3.4.2.3);
* :mod:`.paging`: ``startIndex``/``count`` over the merged types
  (§3.4.2.4), and RFC 9865 cursors.

**Tagging.** Every resource is rendered as its own endpoint renders it, so it
carries ``schemas`` (its core schema URN first) and, unless ``attributes`` or
``excludedAttributes`` leave ``meta`` out, ``meta.resourceType``. ``schemas``
is never projected away, so a client tells the types apart under any
projection.

**Projection.** ``attributes`` and ``excludedAttributes`` (§3.4.2.5) apply to
each type with the names it declares; a name a type lacks is simply absent
from its resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from ..http import ScimRequest
from ..http import ScimResponse
from ..schemas import ResourceType
from ..storage import Keyset
from .paging import ROOT
from .paging import by_cursor
from .paging import by_index
from .paging import by_index_sorted
from .paging import pack
from .paging import unpack
from .parameters import RootQuery
from .parameters import TypeQuery
from .parameters import parse_root_query

if TYPE_CHECKING:
    from ..resources import ResourceHandlers

__all__ = ["RootQuery", "TypeQuery", "parse_root_query", "search_root"]


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
    paged_by_cursor = query.cursor is not None
    fingerprint = ""
    positions: list[Keyset | None] = [None] * len(query.types)
    if paged_by_cursor:
        fingerprint, keyset = await handlers.open_cursor(
            query.cursor,
            tenant,
            ROOT,
            query.filter_text,
            query.sort_text or None,
            query.descending,
        )
        if keyset is not None:
            positions = unpack(keyset, len(query.types))
    more = False
    async with handlers.storage.session(tenant) as session:
        if paged_by_cursor:
            total, page, more = await by_cursor(session, query, positions)
        elif query.sorted:
            total, page = await by_index_sorted(session, query)
        else:
            total, page = await by_index(session, query)
        resources = [
            await handlers.render(
                session, stored, part.resource_type, request, part.projection
            )
            for part, stored in page
        ]
    return await handlers.list_response(
        total,
        resources,
        start_index=None if paged_by_cursor else query.start_index,
        fingerprint=fingerprint,
        # count=0 asks for totalResults only, so it has no next page.
        next_position=pack(positions) if more and query.count else None,
    )
