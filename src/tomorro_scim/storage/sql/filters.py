"""Translate a compiled filter's syntax tree into a SQL condition.

The tree is scim2-models' (``CompiledFilter.ast``), already checked by
:func:`tomorro_scim.filter.compile_filter`; this module binds its attributes
to columns and writes the condition with bound parameters only.

A translation is either **exact** (the rows the condition selects are the
ones the compiled predicate accepts) or a **narrowing**: a condition every
matching row satisfies, to be followed by the predicate in Python. Nothing is
ever dropped: a part that has no column (``title``, an extension attribute,
``addresses``) becomes "true, not exact", ``and`` keeps the narrowing of its
other terms, and ``or``/``not`` of a part that is not exact give up narrowing
rather than widen or shrink the result.

Every condition is two-valued (never SQL ``NULL``), so ``not`` means what it
means in Python: a missing value is "not equal", as in the filter engine,
instead of unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from functools import cache
from typing import Any
from typing import Final

import attrs
from scim2_models.path import CompareOperator
from scim2_models.path import Comparison
from scim2_models.path import FilterNode
from scim2_models.path import LogicalExpr
from scim2_models.path import LogicalOperator
from scim2_models.path import Not
from scim2_models.path import Present
from scim2_models.path import ValuePath
from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import null
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import true
from sqlalchemy.sql.expression import literal

from ...errors import ScimError
from ...filter import CompiledFilter
from ...filter import _coerce
from ...filter import _comparison_target
from ...schemas import GROUP as GROUP_TYPE
from ...schemas import USER as USER_TYPE
from ...schemas import AttributeSchema
from ...schemas import AttributeType
from ...schemas import ResourceType
from . import schema
from .schema import storable

__all__ = ["Equality", "Translation", "equality", "translate"]

Condition = ColumnElement[bool]

_T = AttributeType
_EQ: Final = CompareOperator.eq
_NE: Final = CompareOperator.ne
_STRING_TYPES: Final = frozenset({_T.string, _T.reference})


@attrs.frozen
class Translation:
    """A SQL condition and whether it is the whole filter."""

    condition: Condition
    exact: bool
    selective: bool = False
    """Whether the condition holds an equality on a key that finds a row or
    two through an index (``userName eq``, ``externalId eq``, ``id eq``...),
    at its top or in a top-level ``and``."""


_KEYS: Final = frozenset(
    {
        schema.USER_ID,
        schema.GROUP_ID,
        schema.USER_NAME,
        schema.GROUP_NAME,
        USER_TYPE.require("externalId"),
        GROUP_TYPE.require("externalId"),
    }
)
"""Attributes whose equality an index answers with a row or two."""

_ANYTHING: Final = Translation(true(), exact=False)
"""No narrowing: the predicate decides alone."""

_NOTHING: Final = Translation(false(), exact=True)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix_bound(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix``, in
    code-point order; ``None`` when there is none (all U+10FFFF)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code <= 0x10FFFF:
            if 0xD800 <= code <= 0xDFFF:  # surrogates never occur in text
                code = 0xE000
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


@attrs.frozen
class _Element:
    """The rows of a multi-valued attribute's elements (``scim_emails`` or
    ``scim_group_members``), correlated with the resource row."""

    attribute: AttributeSchema
    columns: dict[AttributeSchema, Any]
    correlate: Callable[[], list[Condition]]
    from_table: Any
    always_list: bool = False
    """Whether the attribute is a list on every resource (loaded members
    are), so that "no element" means an empty list, never a missing one."""


class _Translator:
    def __init__(self, resource_type: ResourceType, sqlite: bool) -> None:
        self.sqlite = sqlite
        self.resource_type = resource_type
        users, groups = schema.users, schema.groups
        self.is_user = resource_type.name == "User"
        # Aliases: the element rows are read in a subquery of their own even
        # when the outer query joins the same table (group members).
        if self.is_user:
            self.table = users
            self.columns: dict[AttributeSchema, Any] = {
                **schema.USER_COLUMNS,
                schema.USER_ID: users.c.id,
            }
            emails = schema.emails.alias("filter_emails")
            self.elements = {
                schema.EMAILS: _Element(
                    attribute=schema.EMAILS,
                    columns={
                        attribute: emails.c[column.name]
                        for attribute, column in schema.EMAIL_COLUMNS.items()
                    },
                    correlate=lambda: [
                        emails.c.tenant == users.c.tenant,
                        emails.c.user_id == users.c.id,
                    ],
                    from_table=emails,
                )
            }
        else:
            self.table = groups
            self.columns = {
                **schema.GROUP_COLUMNS,
                schema.GROUP_ID: groups.c.id,
            }
            members = schema.members.alias("filter_members")
            member_value = schema.MEMBERS.sub_attribute("value")
            assert member_value is not None
            # Loaded members are {"value": id} objects: their other
            # sub-attributes are missing on every element, i.e. NULL.
            member_columns: dict[AttributeSchema, Any] = {
                sub: null() for sub in schema.MEMBERS.sub_attributes.values()
            }
            member_columns[member_value] = members.c.user_id
            self.elements = {
                schema.MEMBERS: _Element(
                    attribute=schema.MEMBERS,
                    columns=member_columns,
                    correlate=lambda: [
                        members.c.tenant == groups.c.tenant,
                        members.c.group_id == groups.c.id,
                    ],
                    from_table=members,
                    always_list=True,
                )
            }

    # -- structure ------------------------------------------------------

    def node(self, node: FilterNode, element: _Element | None = None) -> Translation:
        if isinstance(node, LogicalExpr):
            parts = [self.node(term, element) for term in node.terms]
            exact = all(part.exact for part in parts)
            if node.op is LogicalOperator.and_:
                return Translation(and_(*(p.condition for p in parts)), exact)
            # Each term's condition holds on (at least) its matches, so their
            # union holds on the disjunction's.
            return Translation(or_(*(p.condition for p in parts)), exact)
        if isinstance(node, Not):
            inner = self.node(node.expr, element)
            if not inner.exact:
                return _ANYTHING
            return Translation(not_(inner.condition), True)
        if isinstance(node, Comparison):
            return self.comparison(node, element)
        if isinstance(node, Present):
            return self.present(node, element)
        if isinstance(node, ValuePath) and element is None:
            return self.value_path(node)
        return _ANYTHING

    def resolve(
        self, node: Comparison | Present | ValuePath, element: _Element | None
    ) -> AttributeSchema | None:
        path = node.attr_path
        if element is not None:
            if path.uri is not None or path.sub_attr is not None:
                raise _Untranslatable
            found = element.attribute.sub_attribute(path.attr)
            if found is None:
                raise _Untranslatable
            return found
        return self.resource_type.resolve(
            path.attr, path.sub_attr, path.uri, search_extensions=True
        )

    # -- leaves ---------------------------------------------------------

    def comparison(self, node: Comparison, element: _Element | None) -> Translation:
        try:
            found = self.resolve(node, element)
        except _Untranslatable:
            return _ANYTHING
        if found is None:
            # compile_filter accepted an unknown attribute only to match none.
            return _NOTHING
        attribute = _comparison_target(found)
        try:
            expected = _coerce(attribute, node.op, node.value)
        except ScimError:  # pragma: no cover - compile_filter refused it first
            return _ANYTHING
        op = node.op
        if element is not None:
            if attribute not in element.columns:
                return _ANYTHING
            return self.leaf(element.columns[attribute], attribute, op, expected)
        column = self.columns.get(attribute)
        if column is not None:
            return self.leaf(column, attribute, op, expected)
        parent = attribute.parent
        values = self.elements.get(parent) if parent is not None else None
        if values is None or attribute not in values.columns:
            return _ANYTHING
        if expected is None and not values.always_list:
            # "eq null" and "ne null" over a multi-valued attribute depend on
            # whether the list exists at all, which no row records.
            return _ANYTHING
        column = values.columns[attribute]
        if op is _NE:
            # ne holds when no element equals (the filter engine's reading).
            equal = self.leaf(column, attribute, _EQ, expected)
            if not equal.exact:
                return _ANYTHING
            return Translation(not_(self.exists(values, equal.condition)), True)
        test = self.leaf(column, attribute, op, expected)
        return Translation(self.exists(values, test.condition), test.exact)

    def present(self, node: Present, element: _Element | None) -> Translation:
        try:
            found = self.resolve(node, element)
        except _Untranslatable:
            return _ANYTHING
        if found is None:
            return _NOTHING
        if element is not None:
            if found not in element.columns:
                return _ANYTHING
            return self.present_leaf(element.columns[found], found)
        if found is schema.MEMBERS and not self.is_user:
            value = schema.MEMBERS.sub_attribute("value")
            assert value is not None
            found = value
        column = self.columns.get(found)
        if column is not None:
            return self.present_leaf(column, found)
        parent = found.parent
        values = self.elements.get(parent) if parent is not None else None
        if values is None or found not in values.columns:
            return _ANYTHING
        test = self.present_leaf(values.columns[found], found)
        return Translation(self.exists(values, test.condition), test.exact)

    def value_path(self, node: ValuePath) -> Translation:
        found = self.resolve(node, None)
        if found is None:
            return _NOTHING
        values = self.elements.get(found)
        if values is None:
            return _ANYTHING
        inner = self.node(node.val_filter, values)
        # Narrowing the element test narrows "some element matches" too.
        return Translation(self.exists(values, inner.condition), inner.exact)

    def exists(self, values: _Element, condition: Condition) -> Condition:
        return exists(
            select(literal(1))
            .select_from(values.from_table)
            .where(*values.correlate(), condition)
            .correlate(self.table)
        )

    def present_leaf(self, column: Any, attribute: AttributeSchema) -> Translation:
        kind = attribute.type
        if kind in _STRING_TYPES:
            return Translation(and_(column.is_not(None), column != ""), True)
        if kind is _T.boolean:
            return Translation(column.is_not(None), True)
        # A dateTime column holds the parsed instant; "pr" looks at the raw
        # value, which may be present and unparsable.
        return _ANYTHING

    def leaf(
        self,
        column: Any,
        attribute: AttributeSchema,
        op: CompareOperator,
        expected: Any,
    ) -> Translation:
        kind = attribute.type
        if expected is None:
            if kind is _T.date_time:
                return _ANYTHING  # raw value vs parsed column, as for "pr"
            if op is _EQ:
                return Translation(column.is_(None), True)
            if op is _NE:
                return Translation(column.is_not(None), True)
            return _NOTHING
        if kind in _STRING_TYPES:
            if not isinstance(expected, str) or not storable(expected):
                return _ANYTHING
            return Translation(self.string_test(column, op, expected), True)
        if kind is _T.boolean:
            if op is _EQ:
                return Translation(column.is_(expected), True)
            if op is _NE:
                return Translation(column.is_not(expected), True)
            return _ANYTHING  # pragma: no cover - compile_filter refuses it
        if kind is _T.date_time and isinstance(expected, datetime):
            try:
                expected.astimezone(UTC)
            except (OverflowError, ValueError):
                return _ANYTHING
            return Translation(self.ordered_test(column, op, expected), True)
        return _ANYTHING

    def ordered_test(
        self, column: Any, op: CompareOperator, expected: Any
    ) -> Condition:
        if op is _NE:
            return or_(column.is_(None), column != expected)
        compare = {
            _EQ: column == expected,
            CompareOperator.gt: column > expected,
            CompareOperator.ge: column >= expected,
            CompareOperator.lt: column < expected,
            CompareOperator.le: column <= expected,
        }[op]
        return and_(column.is_not(None), compare)

    def string_test(self, column: Any, op: CompareOperator, expected: str) -> Condition:
        present = column.is_not(None)
        if op is CompareOperator.sw:
            if not expected:
                return present  # type: ignore[no-any-return]
            bound = _prefix_bound(expected)
            # A range, not LIKE: it uses the index on both databases, and is
            # exact under code-point order.
            if bound is None:
                return and_(present, column >= expected)
            return and_(present, column >= expected, column < bound)
        if op is CompareOperator.co:
            if not expected:
                return present  # type: ignore[no-any-return]
            if self.sqlite:
                # SQLite's LIKE ignores ASCII case; instr() compares exactly.
                return and_(present, func.instr(column, expected) > 0)
            pattern = "%" + _like_escape(expected) + "%"
            return and_(present, column.like(pattern, escape="\\"))
        if op is CompareOperator.ew:
            if not expected:
                return present  # type: ignore[no-any-return]
            if self.sqlite:
                tail = func.substr(column, -len(expected))
                return and_(present, tail == expected)
            pattern = "%" + _like_escape(expected)
            return and_(present, column.like(pattern, escape="\\"))
        return self.ordered_test(column, op, expected)


class _Untranslatable(Exception):
    pass


@cache
def _translator(resource_type: str, sqlite: bool) -> _Translator:
    """One translator per type and dialect: it holds no state of a filter,
    and building its aliases' column collections costs more than a search."""
    return _Translator(USER_TYPE if resource_type == "User" else GROUP_TYPE, sqlite)


def translate(
    compiled: CompiledFilter, resource_type: str, sqlite: bool
) -> Translation:
    """The SQL condition of ``compiled`` over ``resource_type``'s table.

    A filter compiled for another resource type, or against other schema
    objects than the built-in ones, is left to the predicate entirely.
    """
    registered = compiled.resource_type
    expected = USER_TYPE if resource_type == "User" else GROUP_TYPE
    if registered is not expected:
        return _ANYTHING
    translation = _translator(registered.name, sqlite).node(compiled.ast)
    if _selective(compiled.ast, registered):
        return attrs.evolve(translation, selective=True)
    return translation


def _selective(node: FilterNode, resource_type: ResourceType) -> bool:
    if isinstance(node, LogicalExpr) and node.op is LogicalOperator.and_:
        return any(_selective(term, resource_type) for term in node.terms)
    if not isinstance(node, Comparison) or node.op is not _EQ or node.value is None:
        return False
    path = node.attr_path
    found = resource_type.resolve(path.attr, path.sub_attr, path.uri)
    return found is not None and found in _KEYS


@attrs.frozen
class Equality:
    """A filter that is one ``eq`` on a string column, read without building a
    condition: the IdPs' match queries (``userName eq "…"``, ``externalId eq
    "…"``, ``displayName eq "…"``), sent before nearly every write."""

    column: str
    """The name of the column of the resource's table."""
    value: str
    """The literal in the column's comparison form."""
    selective: bool
    """As :attr:`Translation.selective`."""


def equality(compiled: CompiledFilter, resource_type: str) -> Equality | None:
    """The :class:`Equality` ``compiled`` is, or ``None``.

    It selects exactly the rows :func:`translate` selects for the same filter
    (the condition ``column IS NOT NULL AND column = value``): the attribute
    resolves, is coerced and is mapped to its column the same way.
    """
    registered = compiled.resource_type
    expected_type = USER_TYPE if resource_type == "User" else GROUP_TYPE
    node = compiled.ast
    if (
        registered is not expected_type
        or not isinstance(node, Comparison)
        or node.op is not _EQ
        or not isinstance(node.value, str)
    ):
        return None
    path = node.attr_path
    found = registered.resolve(
        path.attr, path.sub_attr, path.uri, search_extensions=True
    )
    if found is None:
        return None
    attribute = _comparison_target(found)
    if attribute.type not in _STRING_TYPES:
        return None
    column = _translator(registered.name, False).columns.get(attribute)
    if column is None:
        return None
    try:
        value = _coerce(attribute, _EQ, node.value)
    except ScimError:  # pragma: no cover - compile_filter refused it first
        return None
    if not isinstance(value, str) or not storable(value):
        return None
    return Equality(column.name, value, _selective(node, registered))
