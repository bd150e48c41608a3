"""A root search's parameters, read and resolved against every resource type.

Paging, ``sortOrder``, ``cursor`` and the projection are read as
:func:`~tomorro_scim.query.parse_list_query` reads them for each type;
``filter`` as :mod:`.filters` says, and ``sortBy`` as follows.

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
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import attrs

from ..errors import InvalidValue
from ..filter import CompiledFilter
from ..filter import FilterLimits
from ..query import Projection
from ..query import parse_list_query
from ..schemas import AttributeSchema
from ..schemas import AttributeType
from ..schemas import ResourceType
from ..storage import SearchQuery
from .filters import compile_per_type

__all__ = ["RootQuery", "TypeQuery", "parse_root_query"]


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
    ``filter`` as :mod:`.filters` says, ``sortBy`` as this module's
    docstring says.

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
        filters = compile_per_type(filter_text, resource_types, filter_limits)
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
