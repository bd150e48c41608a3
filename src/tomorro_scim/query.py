"""List and search parameters: filter, sorting, paging and projection.

RFC 7644 §3.4.2 (query parameters on GET) and §3.4.3 (the SearchRequest body
of ``POST /.search``) say the same things two ways; both are read into one
:class:`ListQuery`. Sorting and paging helpers here are what the in-memory
backend uses; the projection is applied by the service to every resource it
returns.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any
from typing import TypeVar

import attrs
from scim2_models import Returned

from .errors import InvalidFilter
from .errors import InvalidSyntax
from .errors import InvalidValue
from .filter import CompiledFilter
from .filter import FilterLimits
from .filter import comparison_key
from .filter import compile_filter
from .schemas import AttributeSchema
from .schemas import AttributeType
from .schemas import ResourceType
from .storage import Keyset

__all__ = [
    "ListQuery",
    "Projection",
    "keyset_follows",
    "keyset_page",
    "page_of",
    "parse_list_query",
    "parse_projection",
    "sort_key",
]

_T = TypeVar("_T")

SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@attrs.frozen
class Projection:
    """Which attributes to return (RFC 7644 §3.4.2.5, §3.9).

    ``attributes`` replaces the default set (keeping those ``returned:
    always``); ``excluded`` removes from it (never those ``returned:
    always``). Each entry is a top-level attribute, or a sub-attribute whose
    parent is kept with only the named sub-attributes.
    """

    attributes: tuple[AttributeSchema, ...] = ()
    excluded: tuple[AttributeSchema, ...] = ()
    whole_extensions: tuple[str, ...] = ()
    """Extension URNs named whole in ``attributes``."""
    excluded_extensions: tuple[str, ...] = ()
    """Extension URNs named whole in ``excludedAttributes``."""
    explicit: bool = False
    """``attributes`` was given, even if it named nothing this type declares:
    then only the ``returned: always`` attributes remain (RFC 7644 §3.4.2.5)."""

    @property
    def selects(self) -> bool:
        """Whether ``attributes`` replaced the default set."""
        return self.explicit or bool(self.attributes or self.whole_extensions)

    @property
    def is_default(self) -> bool:
        return not (self.selects or self.excluded or self.excluded_extensions)

    def includes(self, attribute: AttributeSchema) -> bool:
        """Whether a top-level attribute (its value) appears in the output."""
        if attribute.returned is Returned.never:
            return False
        if attribute.returned is Returned.always:
            return True
        if self.selects:
            return any(
                a is attribute or a.parent is attribute for a in self.attributes
            ) or (attribute.extension_urn in self.whole_extensions)
        if attribute.returned is Returned.request:
            return False
        if attribute.extension_urn in self.excluded_extensions:
            return False
        return not any(a is attribute for a in self.excluded)

    def apply(
        self, document: dict[str, Any], resource_type: ResourceType
    ) -> dict[str, Any]:
        """A copy of ``document`` holding only what this projection returns."""
        out: dict[str, Any] = {}
        for key, value in document.items():
            if key == "schemas":
                out[key] = value
                continue
            extension = (
                resource_type.extension(key) if key[:4].lower() == "urn:" else None
            )
            if extension is not None:
                if not isinstance(value, dict):
                    continue
                projected = {
                    name: sub
                    for name, sub in value.items()
                    if (attribute := resource_type.resolve(name, uri=extension))
                    is not None
                    and self.includes(attribute)
                }
                projected = {
                    name: self._narrow(resource_type.resolve(name, uri=extension), sub)
                    for name, sub in projected.items()
                }
                if projected:
                    out[key] = projected
                continue
            attribute = resource_type.resolve(key)
            if attribute is None or not self.includes(attribute):
                continue
            out[key] = self._narrow(attribute, value)
        return out

    def _narrow(self, attribute: AttributeSchema | None, value: Any) -> Any:
        """Keep the requested sub-attributes, drop the excluded ones."""
        if attribute is None or not attribute.is_complex:
            return value
        wanted = [a.name for a in self.attributes if a.parent is attribute]
        unwanted = [a.name for a in self.excluded if a.parent is attribute]
        never = [
            sub.name
            for sub in attribute.sub_attributes.values()
            if sub.returned is Returned.never
        ]
        if not (wanted or unwanted or never):
            return value
        whole = any(a is attribute for a in self.attributes)

        def narrow_one(item: Any) -> Any:
            if not isinstance(item, dict):
                return item
            return {
                k: v
                for k, v in item.items()
                if k not in never
                and (whole or not wanted or k in wanted)
                and k not in unwanted
            }

        if isinstance(value, list):
            return [narrow_one(item) for item in value]
        return narrow_one(value)

    def returns(self, name: str, resource_type: ResourceType) -> bool:
        """Whether the top-level attribute ``name`` is returned at all."""
        attribute = resource_type.resolve(name)
        return attribute is not None and self.includes(attribute)


_DEFAULT_PROJECTION = Projection()


def _split(name: str, value: str | Sequence[str] | None) -> list[str]:
    """A comma-separated string or a list of strings, as a list of names."""
    if value is None:
        return []
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(p, str) for p in value):
        parts = list(value)
    else:
        # RFC 7644 §3.4.3: a SearchRequest's attribute lists are strings.
        raise InvalidValue(f"'{name}' must be a list of attribute names")
    return [p.strip() for p in parts if p.strip()]


def parse_projection(
    resource_type: ResourceType,
    attributes: str | Sequence[str] | None,
    excluded: str | Sequence[str] | None,
) -> Projection:
    """Read ``attributes``/``excludedAttributes`` (comma-separated or lists).

    Names the resource type does not declare are ignored: RFC 7644 §3.4.2.5
    gives them no error, and clients ask for the same list on every type.
    """
    if attributes is None and excluded is None:
        return _DEFAULT_PROJECTION  # nearly every request
    wanted: list[AttributeSchema] = []
    whole: list[str] = []
    for path in _split("attributes", attributes):
        extension = resource_type.extension(path)
        if extension is not None:
            whole.append(extension)
            continue
        attribute = resource_type.attribute(_strip_filter(path))
        if attribute is not None:
            wanted.append(attribute)
    unwanted: list[AttributeSchema] = []
    unwanted_whole: list[str] = []
    for path in _split("excludedAttributes", excluded):
        extension = resource_type.extension(path)
        if extension is not None:
            unwanted_whole.append(extension)
        elif (attribute := resource_type.attribute(_strip_filter(path))) is not None:
            unwanted.append(attribute)
    return Projection(
        tuple(wanted),
        tuple(unwanted),
        tuple(whole),
        tuple(unwanted_whole),
        explicit=bool(_split("attributes", attributes)),
    )


def _strip_filter(path: str) -> str:
    """``emails[type eq "work"]`` (Microsoft's Postman collection) projects ``emails``."""
    head, bracket, rest = path.partition("[")
    if not bracket:
        return path
    _, close, tail = rest.rpartition("]")
    return head + tail if close else head


@attrs.frozen
class ListQuery:
    """A list or search request, checked and resolved against a resource type."""

    filter: CompiledFilter | None
    sort_by: AttributeSchema | None
    descending: bool
    start_index: int
    count: int
    projection: Projection
    cursor: str | None = None
    """RFC 9865 §2: ``None`` pages by ``startIndex``; ``""`` asks for the
    first page by cursor; anything else is a ``nextCursor`` to resume from."""
    filter_text: str = ""
    """The filter as sent (a cursor is bound to it)."""


def _integer(name: str, raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise InvalidValue(f"{name} must be an integer, not {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    raise InvalidValue(f"{name} must be an integer, not {str(raw)[:40]!r}")


def parse_list_query(
    resource_type: ResourceType,
    parameters: Mapping[str, Any],
    *,
    default_count: int,
    max_count: int,
    filter_limits: FilterLimits,
) -> ListQuery:
    """Read list parameters from a query string's or a SearchRequest's keys.

    Keys are matched case-insensitively. ``count`` above ``max_count`` is
    capped (RFC 7644 §3.4.2.4 lets the server return fewer; RFC 9865 §2 Table
    1 says the same for cursor paging), a negative one counts as 0, and a
    ``startIndex`` below 1 counts as 1.

    ``cursor`` (RFC 9865 §2, also in a SearchRequest body, §3) selects cursor
    paging; present but empty, it asks for the first page. A request naming
    both ``cursor`` and ``startIndex`` is refused with ``400 invalidValue``:
    RFC 9865 §2.4 has a client pick one method per request with one of the
    two parameters and defines no meaning for both, and answering either way
    would page differently from what the client expects.
    """
    params = {str(k).lower(): v for k, v in parameters.items()}
    filter_text = params.get("filter")
    compiled: CompiledFilter | None = None
    if filter_text is not None and filter_text != "":
        if not isinstance(filter_text, str):
            raise InvalidFilter("the filter must be a string")
        compiled = compile_filter(filter_text, resource_type, limits=filter_limits)

    sort_by: AttributeSchema | None = None
    sort_text = params.get("sortby")
    if sort_text:
        if not isinstance(sort_text, str):
            raise InvalidValue("sortBy must be an attribute path")
        sort_by = resource_type.attribute(sort_text)
        if sort_by is None or (sort_by.is_complex and not sort_by.multi_valued):
            raise InvalidValue(f"sortBy '{sort_text[:80]}' is not a sortable attribute")

    order = params.get("sortorder") or "ascending"
    if not isinstance(order, str) or order.lower() not in ("ascending", "descending"):
        raise InvalidValue("sortOrder must be 'ascending' or 'descending'")

    start = _integer("startIndex", params.get("startindex"))
    count = _integer("count", params.get("count"))
    cursor = params.get("cursor")
    if cursor is not None:
        if not isinstance(cursor, str):
            raise InvalidValue("cursor must be a string")
        if start is not None:
            raise InvalidValue(
                "cursor and startIndex select two paging methods; send one "
                "(RFC 9865 §2.4)"
            )
    return ListQuery(
        filter=compiled,
        sort_by=sort_by,
        descending=order.lower() == "descending",
        start_index=max(1, start if start is not None else 1),
        count=min(max(0, count if count is not None else default_count), max_count),
        projection=parse_projection(
            resource_type, params.get("attributes"), params.get("excludedattributes")
        ),
        cursor=cursor,
        filter_text=compiled.expression if compiled is not None else "",
    )


def search_request_parameters(body: Any) -> dict[str, Any]:
    """The list parameters of a ``POST /.search`` body (RFC 7644 §3.4.3)."""
    if not isinstance(body, dict):
        raise InvalidSyntax("a SearchRequest must be a JSON object")
    schemas = body.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or SEARCH_REQUEST_SCHEMA not in schemas
    ):
        raise InvalidSyntax(
            f"a SearchRequest's schemas must hold {SEARCH_REQUEST_SCHEMA}"
        )
    return {k: v for k, v in body.items() if k != "schemas"}


# -- sorting and paging ----------------------------------------------------

_SORTABLE: dict[AttributeType, tuple[type, ...]] = {
    AttributeType.string: (str,),
    AttributeType.reference: (str,),
    AttributeType.boolean: (bool,),
    AttributeType.integer: (int,),
    AttributeType.decimal: (int, float),
    AttributeType.date_time: (datetime,),
    AttributeType.binary: (str,),
}


def _first_or_primary(values: Any) -> Any:
    if not isinstance(values, list):
        return values
    for item in values:
        if isinstance(item, dict) and item.get("primary") is True:
            return item
    return values[0] if values else None


@cache
def sort_key(
    attribute: AttributeSchema,
) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    """A key that orders resources by ``attribute`` (RFC 7644 §3.4.2.3).

    Strings order by their comparison form (case folded unless caseExact); a
    multi-valued attribute sorts by its primary value, or else its first.
    Resources without a value sort last ascending and first descending.
    """
    target = attribute
    if attribute.is_complex and attribute.multi_valued:
        value_attribute = attribute.sub_attribute("value")
        if value_attribute is None:
            raise InvalidValue(f"'{attribute.path}' has no value to sort by")
        target = value_attribute
    accepted = _SORTABLE.get(target.type, ())
    keys = target.json_keys
    parent = target.parent

    def key(document: Mapping[str, Any]) -> tuple[int, Any]:
        value: Any = document
        for index, name in enumerate(keys):
            if not isinstance(value, dict):
                return (1, None)
            value = value.get(name)
            if parent is not None and parent.multi_valued and index == len(keys) - 2:
                value = _first_or_primary(value)
        compared = comparison_key(target, value)
        if not isinstance(compared, accepted) or (
            bool not in accepted and isinstance(compared, bool)
        ):
            return (1, None)
        return (0, compared)

    return key


def page_of(items: Sequence[_T], start_index: int, count: int) -> Sequence[_T]:
    """The 1-based page ``[start_index, start_index + count)`` of ``items``."""
    begin = max(0, start_index - 1)
    return items[begin : begin + max(0, count)]


def sort_value(attribute: AttributeSchema | None) -> Callable[[Mapping[str, Any]], Any]:
    """The value :func:`sort_key` orders by, ``None`` when missing (or unsorted)."""
    if attribute is None:
        return lambda document: None
    key = sort_key(attribute)

    def value(document: Mapping[str, Any]) -> Any:
        missing, found = key(document)
        return None if missing else found

    return value


def keyset_follows(value: Any, tiebreak: Any, after: Keyset, descending: bool) -> bool:
    """Whether a resource (sort ``value``, ``None`` if missing, and ``tiebreak``)
    comes after the position ``after`` in the order of RFC 7644 §3.4.2.3:
    values ascending with missing ones last, or descending with missing ones
    first; ties, missing ones included, by ``tiebreak`` ascending both ways."""
    if value is None or after.value is None:
        if value is None and after.value is None:
            return bool(tiebreak > after.tiebreak)
        return (value is None) != descending
    if value == after.value:
        return bool(tiebreak > after.tiebreak)
    return bool(value < after.value) if descending else bool(value > after.value)


def keyset_page(
    items: Sequence[_T],
    value_of: Callable[[_T], Any],
    tiebreak_of: Callable[[_T], Any],
    after: Keyset | None,
    descending: bool,
    count: int,
) -> tuple[Sequence[_T], Keyset | None, bool]:
    """The page of ``items`` (already in search order) that follows ``after``.

    Returns the page, the position of its last item and whether more
    follow. The start is found by bisection, ``keyset_follows`` being false
    then true along the order.
    """
    low, high = 0, len(items)
    if after is not None:
        while low < high:
            middle = (low + high) // 2
            item = items[middle]
            if keyset_follows(value_of(item), tiebreak_of(item), after, descending):
                high = middle
            else:
                low = middle + 1
    page = items[low : low + max(0, count)]
    last = Keyset(value_of(page[-1]), tiebreak_of(page[-1])) if page else None
    return page, last, bool(page) and low + len(page) < len(items)
