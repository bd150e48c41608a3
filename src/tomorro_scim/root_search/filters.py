"""A root search's filter, per resource type (RFC 7644 §3.4.2.1, §3.4.2.2).

RFC 7644 §3.4.2.1: "for filtered attributes that are not part of a
particular resource type, the service provider SHALL treat the attribute as
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
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

from scim2_models.path import AttrPath
from scim2_models.path import Comparison
from scim2_models.path import FilterNode
from scim2_models.path import LogicalExpr
from scim2_models.path import LogicalOperator
from scim2_models.path import Not
from scim2_models.path import Present
from scim2_models.path import ValuePath

from ..errors import InvalidFilter
from ..filter import CompiledFilter
from ..filter import FilterLimits
from ..filter import compile_filter
from ..schemas import ResourceType

__all__ = ["compile_per_type"]


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


def compile_per_type(
    text: Any, resource_types: Sequence[ResourceType], limits: FilterLimits
) -> list[tuple[CompiledFilter | None, bool]]:
    """Per type: the filter to give the storage, and whether to search at all.

    :raises InvalidFilter: a filter that is not a string, does not parse,
        names an attribute no type declares, or that a type refuses.
    """
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
