"""Resolve PATCH paths and path-less value keys to schema attributes, once.

A path is parsed by scim2-models (``Path(text).ast``; RFC 7644 §3.5.2 as
corrected by errata 7122), bound to the resource type's schema and compiled
into a :class:`Target`: the attribute, the sub-attribute, the compiled value
filter, and what the filter says without reading the resource (the member ids
of ``members[value eq "x"]``, the value ``emails[type eq "work"]`` describes).
Targets are cached per (resource type, text, dialect), so a path Entra sends on
every cycle is parsed once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from typing import Final

import attrs
from scim2_models import Mutability
from scim2_models import Path
from scim2_models import SCIMException
from scim2_models.path import AttrPath
from scim2_models.path import CompareOperator
from scim2_models.path import Comparison
from scim2_models.path import FilterNode
from scim2_models.path import LogicalExpr
from scim2_models.path import LogicalOperator
from scim2_models.path import Present
from scim2_models.path import ValuePath

from ..errors import InvalidFilter
from ..errors import InvalidPath
from ..errors import InvalidValue
from ..errors import ScimError
from ..errors import from_scim2_models
from ..filter import DEFAULT_LIMITS
from ..filter import Predicate
from ..filter import compile_value_filter
from ..filter import measure
from ..schemas import AttributeSchema
from ..schemas import ResourceType
from .dialect import PatchDialect
from .values import canonical_value
from .values import is_membership
from .values import shown

__all__ = ["Target", "TargetKind", "compile_path", "resolve_key", "restricted"]

_CACHE_SIZE: Final = 2048
_MAX_PATH: Final = DEFAULT_LIMITS.max_length
_MAX_DEPTH: Final = DEFAULT_LIMITS.max_depth
_MAX_CLAUSES: Final = DEFAULT_LIMITS.max_clauses
_FIXED: Final = (Mutability.read_only, Mutability.immutable)


class TargetKind(enum.Enum):
    """What a path designates."""

    ROOT = "root"
    """The resource itself (no path, or the core schema URN)."""

    EXTENSION = "extension"
    """An extension object as a whole (its schema URN as the path)."""

    ATTRIBUTE = "attribute"
    """An attribute, a sub-attribute, or values selected by a filter."""


@attrs.frozen(slots=True, eq=False)
class Target:
    """A path bound to the schema: what an operation works on."""

    text: str
    """The path (or value key) as sent, for error details."""

    kind: TargetKind
    attribute: AttributeSchema | None = None
    """The top-level attribute (``emails`` for ``emails[type eq "work"].value``)."""

    sub: AttributeSchema | None = None
    """The sub-attribute (``value`` above), if any."""

    extension: str | None = None
    """For :attr:`TargetKind.EXTENSION`, the declared extension URN."""

    predicate: Predicate | None = None
    """The compiled value filter, selecting elements of a multi-valued attribute."""

    template: Mapping[str, Any] | None = None
    """The element the filter's ``eq`` terms describe, to create when none
    matches (``emails[type eq "work"]`` → ``{"type": "work"}``); ``None`` when
    the filter is not such a conjunction."""

    member_ids: tuple[str, ...] | None = None
    """For ``members[value eq "a" or value eq "b"]``: the ids it selects, which
    lets a storage remove them without reading the member list."""

    membership: bool = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: self.attribute is not None and is_membership(self.attribute),
            takes_self=True,
        ),
    )
    """Whether the target is a group's ``members`` attribute."""


@lru_cache(maxsize=256)
def restricted(attribute: AttributeSchema) -> tuple[AttributeSchema, ...]:
    """The sub-attributes of ``attribute`` a PATCH must not change freely."""
    return tuple(s for s in attribute.sub_attributes.values() if s.mutability in _FIXED)


# -- paths -------------------------------------------------------------------


def compile_path(
    resource_type: ResourceType, text: str, dialect: PatchDialect
) -> Target:
    """Bind a PATCH ``path`` to the schema of ``resource_type``.

    :raises InvalidPath: for a path that does not parse, names no attribute of
        the resource type, or filters what cannot be filtered.
    """
    if len(text) > _MAX_PATH:
        raise InvalidPath(f"the path is longer than {_MAX_PATH} characters")
    return _compile_path(resource_type, text, dialect)


@lru_cache(maxsize=_CACHE_SIZE)
def _compile_path(
    resource_type: ResourceType, text: str, dialect: PatchDialect
) -> Target:
    try:
        node = Path(text).ast
    except SCIMException as exc:
        raise _as_invalid_path(from_scim2_models(exc)) from None
    if isinstance(node, Comparison | Present):
        node = _as_value_path(node)
    if isinstance(node, ValuePath):
        return _filtered(resource_type, text, node, dialect)
    if not isinstance(node, AttrPath):  # pragma: no cover - the grammar's PathNode
        raise InvalidPath("the path is not an attribute path")
    whole = f"{node.uri}:{node.attr}" if node.uri else None
    if whole is not None:
        if whole.lower() == resource_type.schema.lower() and node.sub_attr is None:
            return Target(text=text, kind=TargetKind.ROOT)
        extension = resource_type.extension(whole)
        if extension is not None:
            if node.sub_attr is None:
                return Target(text=text, kind=TargetKind.EXTENSION, extension=extension)
            # "urn:...:2.0:User.manager": the "." Entra put before extension
            # attribute names until December 2018 (MS-KI).
            if dialect.extension_attribute_shorthand:
                node = AttrPath(attr=node.sub_attr, uri=extension)
    attribute = _attribute(resource_type, node, dialect)
    sub = None
    if node.sub_attr is not None:
        sub = attribute.sub_attribute(node.sub_attr)
        if sub is None:
            raise InvalidPath(
                f"'{attribute.path}' has no sub-attribute {shown(node.sub_attr)}"
            )
    return Target(text=text, kind=TargetKind.ATTRIBUTE, attribute=attribute, sub=sub)


def _as_invalid_path(error: ScimError) -> InvalidPath:
    return error if isinstance(error, InvalidPath) else InvalidPath(error.detail)


def _as_value_path(node: Comparison | Present) -> ValuePath:
    """``emails.type eq "work"`` selects like ``emails[type eq "work"]``.

    Errata 7122 allows a bare comparison as a PATCH path; scim2-models reads it
    the same way (``Path._as_value_path``). A comparison on a simple
    multi-valued attribute compares its elements, named ``value``.
    """
    head = AttrPath(attr=node.attr_path.attr, uri=node.attr_path.uri)
    inner_attr = AttrPath(attr=node.attr_path.sub_attr or "value")
    inner: FilterNode = (
        Present(attr_path=inner_attr)
        if isinstance(node, Present)
        else Comparison(attr_path=inner_attr, op=node.op, value=node.value)
    )
    return ValuePath(attr_path=head, val_filter=inner)


def _attribute(
    resource_type: ResourceType, path: AttrPath, dialect: PatchDialect
) -> AttributeSchema:
    uri = path.uri
    if uri is not None and resource_type.split_urn(f"{uri}:x")[0] is None:
        raise InvalidPath(
            f"{shown(uri)} is not a schema of the {resource_type.name} resource type"
        )
    found = resource_type.resolve(path.attr, None, uri)
    if found is None and uri is None and dialect.extension_attribute_shorthand:
        found = resource_type.unqualified_extension_attribute(path.attr)
    if found is None:
        raise InvalidPath(
            f"{shown(path.attr)} is not an attribute of the {resource_type.name} resource type"
        )
    return found


def _filtered(
    resource_type: ResourceType, text: str, node: ValuePath, dialect: PatchDialect
) -> Target:
    if node.attr_path.sub_attr is not None:
        raise InvalidPath("a value filter applies to a multi-valued attribute")
    attribute = _attribute(resource_type, node.attr_path, dialect)
    if not attribute.multi_valued:
        raise InvalidPath(f"'{attribute.path}' is not multi-valued and takes no filter")
    sub = None
    if node.sub_attr is not None:
        sub = attribute.sub_attribute(node.sub_attr)
        if sub is None:
            raise InvalidPath(
                f"'{attribute.path}' has no sub-attribute {shown(node.sub_attr)}"
            )
    _check_limits(node.val_filter)
    try:
        predicate = compile_value_filter(node.val_filter, attribute)
    except InvalidFilter as exc:
        raise InvalidPath(exc.detail) from None
    member_ids = None
    if is_membership(attribute) and sub is None:
        member_ids = _member_ids(node.val_filter)
    return Target(
        text=text,
        kind=TargetKind.ATTRIBUTE,
        attribute=attribute,
        sub=sub,
        predicate=predicate,
        template=_template(attribute, node.val_filter, dialect),
        member_ids=member_ids,
    )


def _check_limits(root: FilterNode) -> None:
    """Refuse filters past the filter engine's limits before compiling them.

    The compiler recurses, so depth is bounded first (PEER-LESSONS §6). The
    path filter's root counts as a level of its own here.
    """
    depth, clauses = measure(root)
    if depth + 1 > _MAX_DEPTH:
        raise InvalidPath(f"the path filter nests deeper than {_MAX_DEPTH} levels")
    if clauses > _MAX_CLAUSES:
        raise InvalidPath(f"the path filter has more than {_MAX_CLAUSES} comparisons")


def _is_value_eq(node: FilterNode) -> bool:
    return (
        isinstance(node, Comparison)
        and node.op is CompareOperator.eq
        and node.attr_path.uri is None
        and node.attr_path.sub_attr is None
        and node.attr_path.attr.lower() == "value"
        and isinstance(node.value, str)
    )


def _member_ids(node: FilterNode) -> tuple[str, ...] | None:
    """The ids of ``value eq "a"`` or ``value eq "a" or value eq "b" ...``.

    ``members.value`` is caseExact (RFC 7643 §4.2), so these ids select exactly
    the members a storage finds by equality. Any other filter needs the list.
    """
    terms = (
        node.terms
        if isinstance(node, LogicalExpr) and node.op is LogicalOperator.or_
        else (node,)
    )
    if not all(_is_value_eq(term) for term in terms):
        return None
    return tuple(dict.fromkeys(term.value for term in terms))  # type: ignore[attr-defined]


def _template(
    attribute: AttributeSchema, node: FilterNode, dialect: PatchDialect
) -> Mapping[str, Any] | None:
    """The element a conjunction of ``eq`` terms describes, or ``None``."""
    terms = (
        node.terms
        if isinstance(node, LogicalExpr) and node.op is LogicalOperator.and_
        else (node,)
    )
    element: dict[str, Any] = {}
    for term in terms:
        if not isinstance(term, Comparison) or term.op is not CompareOperator.eq:
            return None
        path = term.attr_path
        if path.uri is not None or path.sub_attr is not None or term.value is None:
            return None
        sub = attribute.sub_attribute(path.attr) if attribute.is_complex else None
        if sub is None or sub.name in element:
            return None
        try:
            element[sub.name] = canonical_value(sub, term.value, dialect)
        except InvalidValue:
            return None
    return element


# -- path-less value keys ----------------------------------------------------


_IGNORED_KEYS: Final = frozenset({"schemas"})


def resolve_key(
    resource_type: ResourceType,
    key: str,
    dialect: PatchDialect,
    within: str | None = None,
) -> Target | None:
    """Bind a key of a path-less ``add``/``replace`` value to the schema.

    Keys are attribute names, an extension URN holding an object, or, in the
    default dialect, attribute paths (``"name.givenName"``,
    ``"urn:...:User:employeeNumber"``). ``schemas`` gives ``None``: it lists
    the schemas in use, which the engine keeps in step with the data. With
    ``within`` (an extension URN), ``key`` is a key of that extension's object.

    :raises InvalidValue: for a key that names no attribute.
    """
    return _resolve_key(resource_type, key, dialect, within)


@lru_cache(maxsize=_CACHE_SIZE)
def _resolve_key(
    resource_type: ResourceType, key: str, dialect: PatchDialect, within: str | None
) -> Target | None:
    uri: str | None
    # scim2-tester sends a "schemas" key inside an extension object too.
    if key.lower() in _IGNORED_KEYS:
        return None
    if within is not None:
        uri, rest = within, key
    else:
        extension = resource_type.extension(key)
        if extension is not None:
            return Target(text=key, kind=TargetKind.EXTENSION, extension=extension)
        uri, rest = resource_type.split_urn(key)
        if uri is None and key[:4].lower() == "urn:":
            raise InvalidValue(
                f"{shown(key)} names no schema of the {resource_type.name} resource type"
            )
    attr, dot, sub_attr = rest.partition(".")
    qualified = uri is not None and within is None
    if (qualified or dot) and not dialect.pathless_attribute_paths:
        raise InvalidValue(f"{shown(key)} is an attribute path, not an attribute name")
    if uri is not None and uri.lower() == resource_type.schema.lower():
        uri = None
    attribute = resource_type.resolve(attr, None, uri)
    if attribute is None and uri is None and dialect.extension_attribute_shorthand:
        attribute = resource_type.unqualified_extension_attribute(attr)
    if attribute is None:
        raise InvalidValue(
            f"{shown(key)} is not an attribute of the {resource_type.name} resource type"
        )
    sub = None
    if dot:
        sub = attribute.sub_attribute(sub_attr)
        if sub is None:
            raise InvalidValue(
                f"'{attribute.path}' has no sub-attribute {shown(sub_attr)}"
            )
    return Target(text=key, kind=TargetKind.ATTRIBUTE, attribute=attribute, sub=sub)
