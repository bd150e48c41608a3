"""Compile a SCIM filter (RFC 7644 §3.4.2.2) into a predicate over JSON resources.

The text is parsed by scim2-models' RFC grammar (``ScimFilter(text).ast``); this
module writes no grammar. It binds every attribute of the syntax tree to the
resource type's schema once, checks operators and values against the attribute
types, and turns the tree into nested Python closures that read the resource
as the plain dict the wire carries. Evaluating a filter therefore builds no
model and resolves no name: the peer that does both pays ~7-65 µs a resource.

The semantics are scim2-models' own (``ScimFilter.match``), so the two agree
resource for resource; the property tests hold them to it. Where this module
deliberately differs, it refuses a filter scim2-models would silently evaluate
to false (a comparison on a complex attribute, ``co`` on a number or a
dateTime): RFC 7644 §3.4.2.2 calls those unsupported combinations, which are
``400 invalidFilter``, never an empty or widened result.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from functools import lru_cache
from types import CodeType
from typing import Any
from typing import Final
from unicodedata import normalize

import attrs
from scim2_models import Attribute
from scim2_models import Mutability
from scim2_models import SCIMException
from scim2_models import ScimFilter
from scim2_models.path import AttrPath
from scim2_models.path import CompareOperator
from scim2_models.path import Comparison
from scim2_models.path import FilterNode
from scim2_models.path import LogicalExpr
from scim2_models.path import LogicalOperator
from scim2_models.path import Not
from scim2_models.path import Present
from scim2_models.path import ValuePath

from .errors import InvalidFilter
from .errors import from_scim2_models
from .schemas import AttributeSchema
from .schemas import ResourceType
from .schemas import default_registry

__all__ = [
    "DEFAULT_LIMITS",
    "CompiledFilter",
    "FilterLimits",
    "Predicate",
    "comparison_key",
    "compile_filter",
    "compile_value_filter",
    "measure",
    "parse_filter",
]

Predicate = Callable[[Mapping[str, Any]], bool]
"""A compiled filter: takes a resource (or one element of a multi-valued
attribute) in its JSON form and tells whether it matches."""

_Test = Callable[[Any], bool]
_Reader = Callable[[Mapping[str, Any]], Any]

_EQ: Final = CompareOperator.eq
_NE: Final = CompareOperator.ne
_STRING_OPS: Final = frozenset(
    {CompareOperator.co, CompareOperator.sw, CompareOperator.ew}
)
_ORDER_OPS: Final = frozenset(
    {CompareOperator.gt, CompareOperator.ge, CompareOperator.lt, CompareOperator.le}
)
_T = Attribute.Type
_STRING_TYPES: Final = frozenset({_T.string, _T.reference})
_NUMBER_TYPES: Final = frozenset({_T.integer, _T.decimal})


@attrs.frozen
class FilterLimits:
    """Bounds on what a client may send as a filter.

    Past any of them the filter is refused with ``400 invalidFilter`` before it
    is evaluated, so no input can exhaust the stack, hang, or grow memory
    without bound. The defaults are far above what Entra ID or Okta send (one
    or two ``eq`` clauses).
    """

    max_length: int = 4096
    """Characters in the filter text."""

    max_depth: int = 16
    """Nested ``and``/``or``/``not``/``[...]`` levels (scim2-models caps at 32)."""

    max_clauses: int = 100
    """Comparisons and presence tests in the whole filter."""


DEFAULT_LIMITS: Final = FilterLimits()


# -- comparable forms ------------------------------------------------------


def _fold(value: str) -> str:
    """scim2-models' default comparison key for a caseExact=false string.

    NFC, lower-case, NFC again (lower-casing can leave NFC). ASCII is already
    in NFC and stays so when lower-cased, which is the common case and skips
    both normalisations.
    """
    if value.isascii():
        return value.lower()
    return normalize("NFC", normalize("NFC", value).lower())


def _exact(value: str) -> str:
    """scim2-models' default comparison key for a caseExact string."""
    if value.isascii():
        return value
    return normalize("NFC", value)


def _parse_datetime(value: Any) -> datetime | None:
    """An RFC 7643 §2.3.5 dateTime as an aware instant; naive values are UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _decode_binary(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def comparison_key(attribute: AttributeSchema, value: Any) -> Any:
    """The form filters, sorting and uniqueness compare a value of ``attribute`` in.

    Strings are NFC-normalised and, unless the attribute is caseExact,
    lower-cased (scim2-models' ``default_comparison_key``); dateTimes become
    aware instants; other values are returned unchanged.
    """
    if attribute.type is _T.date_time:
        return _parse_datetime(value)
    if isinstance(value, str):
        return _exact(value) if attribute.case_exact else _fold(value)
    return value


# -- value coercion --------------------------------------------------------


def _coerce(attribute: AttributeSchema, op: CompareOperator, raw: Any) -> Any:
    """Turn the literal of a comparison into the attribute's type, or refuse it."""
    if raw is None:
        return None
    kind = attribute.type
    where = f"for attribute '{attribute.path}'"
    if kind in _STRING_TYPES:
        if isinstance(raw, str):
            return _exact(raw) if attribute.case_exact else _fold(raw)
    elif kind is _T.boolean:
        if isinstance(raw, bool):
            return raw
        # Entra sends booleans as "True"/"False" strings, filters included
        # (roles[primary eq "True"]); IDP-DIALECTS §2.5.
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
    elif kind in _NUMBER_TYPES:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            if kind is _T.integer and isinstance(raw, float) and not raw.is_integer():
                raise InvalidFilter(f"{raw!r} is not an integer {where}")
            return raw
    elif kind is _T.date_time:
        parsed = _parse_datetime(raw) if isinstance(raw, str) else None
        if parsed is not None:
            return parsed
        raise InvalidFilter(f"{raw!r} is not a dateTime {where}")
    elif kind is _T.binary:
        decoded = _decode_binary(raw)
        if decoded is not None:
            return decoded
        raise InvalidFilter(f"{raw!r} is not base64 {where}")
    raise InvalidFilter(f"{raw!r} is not a valid {kind.value} value {where}")


def _check_operator(attribute: AttributeSchema, op: CompareOperator) -> None:
    kind = attribute.type
    name = attribute.path
    if kind is _T.complex:
        raise InvalidFilter(
            f"'{name}' is a complex attribute; compare one of its sub-attributes"
        )
    if attribute.mutability is Mutability.write_only and op not in (_EQ, _NE):
        raise InvalidFilter(f"'{name}' is write-only and only takes eq or ne")
    if op in _STRING_OPS and kind not in _STRING_TYPES:
        raise InvalidFilter(
            f"operator '{op.value}' needs a string attribute; '{name}' is {kind.value}"
        )
    if op in _ORDER_OPS and kind in (_T.boolean, _T.binary):
        raise InvalidFilter(
            f"operator '{op.value}' cannot order the {kind.value} attribute '{name}'"
        )


# -- single-value tests ----------------------------------------------------


def _string_test(op: CompareOperator, expected: str, case_exact: bool) -> _Test:
    if case_exact:
        return _exact_string_test(op, expected)
    # The folding of _fold is written out in each test: these closures run
    # once per resource, and a call per value is a third of their cost.
    if op is _EQ:
        size = len(expected)

        def eq_folded(v: Any) -> bool:
            if v.__class__ is not str:
                return False
            # ASCII keeps its length when folded: most values are rejected
            # on their length without allocating the folded copy.
            if v.isascii():
                return len(v) == size and v.lower() == expected
            return _fold(v) == expected

        return eq_folded
    if op is _NE:
        return lambda v: (
            v.__class__ is not str
            or ((v.lower() if v.isascii() else _fold(v)) != expected)
        )
    if op is CompareOperator.co:
        return lambda v: (
            v.__class__ is str
            and (expected in (v.lower() if v.isascii() else _fold(v)))
        )
    if op is CompareOperator.sw:
        return lambda v: (
            v.__class__ is str
            and (v.lower() if v.isascii() else _fold(v)).startswith(expected)
        )
    if op is CompareOperator.ew:
        return lambda v: (
            v.__class__ is str
            and (v.lower() if v.isascii() else _fold(v)).endswith(expected)
        )
    return _ordering_test(
        op, expected, lambda v: _fold(v) if v.__class__ is str else None
    )


def _exact_string_test(op: CompareOperator, expected: str) -> _Test:
    if op is _EQ:
        return lambda v: v.__class__ is str and _exact(v) == expected
    if op is _NE:
        return lambda v: v.__class__ is not str or _exact(v) != expected
    if op is CompareOperator.co:
        return lambda v: v.__class__ is str and expected in _exact(v)
    if op is CompareOperator.sw:
        return lambda v: v.__class__ is str and _exact(v).startswith(expected)
    if op is CompareOperator.ew:
        return lambda v: v.__class__ is str and _exact(v).endswith(expected)
    return _ordering_test(
        op, expected, lambda v: _exact(v) if v.__class__ is str else None
    )


def _ordering_test(
    op: CompareOperator, expected: Any, convert: Callable[[Any], Any]
) -> _Test:
    def compare(v: Any) -> bool:
        left = convert(v)
        if left is None:
            return False
        try:
            if op is CompareOperator.gt:
                return bool(left > expected)
            if op is CompareOperator.ge:
                return bool(left >= expected)
            if op is CompareOperator.lt:
                return bool(left < expected)
            return bool(left <= expected)
        except TypeError:
            return False

    return compare


def _typed_test(
    op: CompareOperator, expected: Any, convert: Callable[[Any], Any]
) -> _Test:
    """Tests for the non-string types, whose values are converted before comparing."""
    if op is _EQ:
        return lambda v: (c := convert(v)) is not None and c == expected
    if op is _NE:
        return lambda v: (c := convert(v)) is None or c != expected
    return _ordering_test(op, expected, convert)


def _as_bool(v: Any) -> bool | None:
    return v if v.__class__ is bool else None


def _as_number(v: Any) -> int | float | None:
    return v if v.__class__ is int or v.__class__ is float else None


def _value_test(
    attribute: AttributeSchema, op: CompareOperator, expected: Any
) -> _Test:
    """How one value of ``attribute`` is compared to the coerced literal.

    Mirrors scim2-models: a missing value equals only ``null``; a value of
    another type than the attribute's matches nothing but ``ne``.
    """
    if expected is None:
        if op is _EQ:
            return lambda v: v is None
        if op is _NE:
            return lambda v: v is not None
        return lambda v: False
    kind = attribute.type
    if kind in _STRING_TYPES:
        return _string_test(op, expected, attribute.case_exact)
    if kind is _T.boolean:
        return _typed_test(op, expected, _as_bool)
    if kind in _NUMBER_TYPES:
        return _typed_test(op, expected, _as_number)
    if kind is _T.date_time:
        return _typed_test(op, expected, _parse_datetime)
    return _typed_test(op, expected, _decode_binary)


# -- presence --------------------------------------------------------------


def _is_present(value: Any) -> bool:
    """RFC 7644 §3.4.2.2 ``pr``: a non-empty value, or a non-empty complex node."""
    if value is None:
        return False
    if isinstance(value, str):
        return len(value) > 0
    if isinstance(value, dict):
        return any(_is_present(item) for item in value.values())
    if isinstance(value, list):
        return any(_is_present(item) for item in value)
    return True


# -- readers ---------------------------------------------------------------


def _reader(attribute: AttributeSchema) -> _Reader:
    """Read an attribute off a resource dict; a sub-attribute of a multi-valued
    attribute reads as the list of its values, one per element."""
    keys = attribute.json_keys
    parent = attribute.parent
    if parent is None:
        if len(keys) == 1:
            (name,) = keys
            return lambda r: r.get(name)
        urn, name = keys

        def read_extension(r: Mapping[str, Any]) -> Any:
            holder = r.get(urn)
            return holder.get(name) if isinstance(holder, dict) else None

        return read_extension

    head = _reader(parent)
    name = attribute.name
    if parent.multi_valued:

        def read_each(r: Mapping[str, Any]) -> Any:
            items = head(r)
            if not isinstance(items, list):
                return None
            return [item.get(name) for item in items if isinstance(item, dict)]

        return read_each

    def read_sub(r: Mapping[str, Any]) -> Any:
        holder = head(r)
        return holder.get(name) if isinstance(holder, dict) else None

    return read_sub


def _over_values(read: _Reader, test: _Test, universal: bool) -> Predicate:
    """Apply ``test`` to what ``read`` returns; a list matches if any value does
    (all values, for ``ne``: "no value equals" is scim2-models' reading)."""
    if universal:

        def every(r: Mapping[str, Any]) -> bool:
            value = read(r)
            if value.__class__ is list:
                return all(test(item) for item in value)
            return test(value)

        return every

    def some(r: Mapping[str, Any]) -> bool:
        value = read(r)
        if value.__class__ is list:
            return any(test(item) for item in value)
        return test(value)

    return some


def _fused(attribute: AttributeSchema, test: _Test, universal: bool) -> Predicate:
    """Read ``attribute`` and apply ``test`` in one closure for the shapes IdPs
    filter on; anything else goes through the general reader."""
    keys = attribute.json_keys
    parent = attribute.parent
    if not attribute.multi_valued and (parent is None or not parent.multi_valued):
        if len(keys) == 1:
            (name,) = keys
            return lambda r: test(r.get(name))
        if len(keys) == 2:
            outer, inner = keys

            def nested(r: Mapping[str, Any]) -> bool:
                holder = r.get(outer)
                return test(holder.get(inner) if holder.__class__ is dict else None)

            return nested
    elif (
        parent is not None and parent.multi_valued and len(keys) == 2 and not universal
    ):
        outer, inner = keys

        def any_element(r: Mapping[str, Any]) -> bool:
            items = r.get(outer)
            if items.__class__ is not list:
                return test(None)
            for item in items:
                if item.__class__ is dict and test(item.get(inner)):
                    return True
            return False

        return any_element
    return _over_values(_reader(attribute), test, universal)


# -- the compiler ----------------------------------------------------------


class _Scope:
    """Where the attribute names of a (sub-)filter are resolved.

    At the top level, against a resource type; inside ``attr[...]``, against
    the sub-attributes of ``attr`` (RFC 7644 §3.4.2.2 valuePath).
    """

    def __init__(
        self,
        resource_type: ResourceType | None,
        element_of: AttributeSchema | None = None,
        unknown_matches_none: bool = False,
    ) -> None:
        self.resource_type = resource_type
        self.element_of = element_of
        self.unknown_matches_none = unknown_matches_none

    def resolve(self, path: AttrPath) -> AttributeSchema | None:
        """The attribute a path names, or ``None`` when unknown and tolerated."""
        if self.element_of is not None:
            if path.uri is not None or path.sub_attr is not None:
                raise InvalidFilter(
                    f"'{path}' inside '{self.element_of.path}[...]' must name one "
                    f"sub-attribute of '{self.element_of.path}'"
                )
            found = self.element_of.sub_attribute(path.attr)
            if found is None:
                raise InvalidFilter(
                    f"'{self.element_of.path}' has no sub-attribute '{path.attr}'"
                )
            return found
        resource_type = self.resource_type
        assert resource_type is not None, "a scope has a resource type or an element"
        uri = path.uri
        known_uri = uri is None or resource_type.split_urn(f"{uri}:x")[0] is not None
        if not known_uri:
            if self.unknown_matches_none:
                return None
            raise InvalidFilter(
                f"'{uri}' is not a schema of the {resource_type.name} resource type"
            )
        found = resource_type.resolve(
            path.attr, path.sub_attr, uri, search_extensions=True
        )
        if found is None:
            if self.unknown_matches_none:
                return None
            raise InvalidFilter(
                f"'{path}' is not an attribute of the {resource_type.name} resource type"
            )
        return found


def _comparison_target(attribute: AttributeSchema) -> AttributeSchema:
    """``emails co "x"`` compares ``emails.value`` (RFC 7644 §3.4.2.2 examples,
    RFC 7643 §2.4), as does ``members eq "id"``, which Entra sends, and
    ``manager eq "id"``, Entra's manager check (MS-TUT example 4)."""
    if attribute.is_complex:
        value = attribute.sub_attribute("value")
        if value is not None:
            return value
    return attribute


def _never(_: Mapping[str, Any]) -> bool:
    return False


@lru_cache(maxsize=512)
def _compile_source(code: str) -> CodeType:
    """Byte-compile generated source once per filter *shape*.

    Literals live in the namespace, not in the source, so every Entra match
    query (``userName eq "<a new address>"``) has the same source and reuses
    this code object; only the cheap ``exec`` that binds the namespace runs.
    """
    return compile(code, "<scim filter>", "exec")


_SYMBOLS: Final = {
    _EQ: "==",
    _NE: "!=",
    CompareOperator.gt: ">",
    CompareOperator.ge: ">=",
    CompareOperator.lt: "<",
    CompareOperator.le: "<=",
}


def _test_source(
    attribute: AttributeSchema,
    op: CompareOperator,
    expected: Any,
    read: str,
    out: _Source,
) -> str | None:
    """The inline test of the value ``read`` evaluates to, or ``None`` for the
    types left to the closures (numbers, binary)."""
    if expected is None:
        if op is _EQ:
            return f"({read} is None)"
        return f"({read} is not None)" if op is _NE else "False"
    value = out.variable()
    constant = out.constant(expected)
    kind = attribute.type
    if kind in _STRING_TYPES:
        if attribute.case_exact:
            key = f"({value} if {value}.isascii() else _exact({value}))"
        else:
            key = f"({value}.lower() if {value}.isascii() else _fold({value}))"
        bound = f"({value} := {read})"
        if op is _NE:
            return f"({bound}.__class__ is not str or {key} != {constant})"
        if op is _EQ and not attribute.case_exact:
            # ASCII keeps its length when folded: reject on length first.
            size = out.constant(len(expected))
            return (
                f"({bound}.__class__ is str and ((len({value}) == {size} and "
                f"{value}.lower() == {constant}) if {value}.isascii() else "
                f"_fold({value}) == {constant}))"
            )
        test = {
            _EQ: f"{key} == {constant}",
            CompareOperator.co: f"{constant} in {key}",
            CompareOperator.sw: f"{key}.startswith({constant})",
            CompareOperator.ew: f"{key}.endswith({constant})",
        }.get(op) or f"{key} {_SYMBOLS[op]} {constant}"
        return f"({bound}.__class__ is str and {test})"
    if kind is _T.boolean:
        return f"({read} {'is not' if op is _NE else 'is'} {constant})"
    if kind is _T.date_time:
        bound = f"({value} := _instant({read}))"
        if op is _NE:
            return f"({bound} is None or {value} != {constant})"
        return f"({bound} is not None and {value} {_SYMBOLS[op]} {constant})"
    return None


class _Source:
    """The namespace and names of one generated filter function.

    A compiled filter is one Python function whose body is the whole boolean
    expression, with the common leaves (a string, boolean or dateTime
    attribute read off the resource and compared) written out inline, so
    evaluating ``a and b`` costs one call instead of five. Only names this
    class makes appear in the source: every value, the client's literals
    included, reaches the function through its namespace, never as text.
    """

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "__builtins__": {},
            "_fold": _fold,
            "_exact": _exact,
            "_instant": _parse_datetime,
            "_present": _is_present,
            "str": str,
            "dict": dict,
            "list": list,
            "len": len,
        }
        self._count = 0
        self.functions: list[str] = []
        """Helper functions the expression calls (loops over multi-valued attributes)."""

    def constant(self, value: Any) -> str:
        self._count += 1
        name = f"_c{self._count}"
        self.namespace[name] = value
        return name

    def variable(self) -> str:
        self._count += 1
        return f"_v{self._count}"


class _Compiler:
    def __init__(self, scope: _Scope) -> None:
        self.scope = scope
        self.read_attributes: set[str] = set()

    def resolve(self, path: AttrPath) -> AttributeSchema | None:
        found = self.scope.resolve(path)
        if found is not None and self.scope.element_of is None:
            top = found.parent or found
            name = top.name.lower()
            self.read_attributes.add(
                f"{top.extension_urn.lower()}:{name}" if top.extension_urn else name
            )
        return found

    def read(self, attribute: AttributeSchema) -> _Reader:
        if self.scope.element_of is not None:
            name = attribute.name
            return lambda element: element.get(name)
        return _reader(attribute)

    def build(self, node: FilterNode) -> Predicate:
        """One generated function for the whole tree (see :class:`_Source`);
        the closures alone if Python refuses the source (absurdly deep trees)."""
        out = _Source()
        try:
            expression = self.source(node, out)
            code = (
                "".join(out.functions) + f"def _filter(r):\n    return {expression}\n"
            )
            exec(_compile_source(code), out.namespace)
        except (SyntaxError, RecursionError, MemoryError):
            return self.compile(node)
        predicate: Predicate = out.namespace["_filter"]
        return predicate

    def source(self, node: FilterNode, out: _Source) -> str:
        """A Python expression over ``r`` equal to the predicate of ``node``."""
        if isinstance(node, LogicalExpr):
            joiner = " and " if node.op is LogicalOperator.and_ else " or "
            return "(" + joiner.join(self.source(t, out) for t in node.terms) + ")"
        if isinstance(node, Not):
            return f"(not {self.source(node.expr, out)})"
        inline = None
        if isinstance(node, Comparison):
            inline = self.inline_comparison(node, out)
        elif isinstance(node, Present):
            inline = self.inline_present(node, out)
        elif isinstance(node, ValuePath) and self.scope.element_of is None:
            inline = self.inline_value_path(node, out)
        if inline is not None:
            return inline
        return f"{out.constant(self.compile(node))}(r)"

    def read_source(self, attribute: AttributeSchema, out: _Source) -> str | None:
        """An expression reading a single value of ``attribute`` off ``r``, or
        ``None`` for the shapes left to the closures (lists, deep nesting)."""
        if self.scope.element_of is not None:
            return f"r.get({out.constant(attribute.name)})"
        parent = attribute.parent
        if attribute.multi_valued or (parent is not None and parent.multi_valued):
            return None
        keys = attribute.json_keys
        if len(keys) == 1:
            return f"r.get({out.constant(keys[0])})"
        if len(keys) == 2:
            holder = out.variable()
            outer, inner = (out.constant(k) for k in keys)
            return (
                f"({holder}.get({inner}) if ({holder} := r.get({outer})).__class__ "
                "is dict else None)"
            )
        return None

    def inline_comparison(self, node: Comparison, out: _Source) -> str | None:
        found = self.resolve(node.attr_path)
        if found is None:
            return "False"
        attribute = _comparison_target(found)
        _check_operator(attribute, node.op)
        expected = _coerce(attribute, node.op, node.value)
        read = self.read_source(attribute, out)
        if read is not None:
            return _test_source(attribute, node.op, expected, read, out)
        parent = attribute.parent
        if (
            self.scope.element_of is None
            and parent is not None
            and parent.multi_valued
            and len(attribute.json_keys) == 2
            and node.op is not _NE
            and expected is not None
        ):
            # emails.value sw "x": any element's value; the loop is generated
            # too, so each element costs no call.
            test = _test_source(
                attribute,
                node.op,
                expected,
                f"item.get({out.constant(attribute.name)})",
                out,
            )
            if test is None:
                return None
            function = out.constant(None)
            out.functions.append(
                f"def {function}(r):\n"
                f"    items = r.get({out.constant(parent.name)})\n"
                "    if items.__class__ is not list:\n"
                "        return False\n"
                "    for item in items:\n"
                f"        if item.__class__ is dict and {test}:\n"
                "            return True\n"
                "    return False\n"
            )
            return f"{function}(r)"
        return None

    def inline_value_path(self, node: ValuePath, out: _Source) -> str | None:
        """``emails[type eq "work" and value ew "@x"]`` as one generated loop
        whose body is the bracket filter written out over each element."""
        attribute = self.resolve(node.attr_path)
        if attribute is None:
            return "False"
        if not attribute.multi_valued:
            raise InvalidFilter(
                f"'{attribute.path}' is not multi-valued; '[...]' selects values of "
                "a multi-valued attribute"
            )
        if not attribute.is_complex or len(attribute.json_keys) != 1:
            return None
        element = _Compiler(_Scope(None, element_of=attribute))
        # The element is bound to ``r`` inside the loop, which is the name
        # the element scope's expressions read.
        test = element.source(node.val_filter, out)
        function = out.constant(None)
        out.functions.append(
            f"def {function}(resource):\n"
            f"    items = resource.get({out.constant(attribute.name)})\n"
            "    if items.__class__ is not list:\n"
            "        return False\n"
            "    for r in items:\n"
            f"        if r.__class__ is dict and {test}:\n"
            "            return True\n"
            "    return False\n"
        )
        return f"{function}(r)"

    def inline_present(self, node: Present, out: _Source) -> str | None:
        attribute = self.resolve(node.attr_path)
        if attribute is None:
            return "False"
        read = self.read_source(attribute, out)
        if read is None:
            return None
        value = out.variable()
        return (
            f"(({value} := {read}) is not None and ({value} != '' if "
            f"{value}.__class__ is str else _present({value})))"
        )

    def compile(self, node: FilterNode) -> Predicate:
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, Present):
            return self.present(node)
        if isinstance(node, LogicalExpr):
            return self.logical(node)
        if isinstance(node, Not):
            inner = self.compile(node.expr)
            return lambda r: not inner(r)
        if isinstance(node, ValuePath):
            return self.value_path(node)
        raise InvalidFilter(f"unsupported filter expression '{node}'")

    def comparison(self, node: Comparison) -> Predicate:
        found = self.resolve(node.attr_path)
        if found is None:
            return _never
        attribute = _comparison_target(found)
        _check_operator(attribute, node.op)
        expected = _coerce(attribute, node.op, node.value)
        test = _value_test(attribute, node.op, expected)
        if self.scope.element_of is not None:
            name = attribute.name
            return lambda element: test(element.get(name))
        return _fused(attribute, test, universal=node.op is _NE)

    def present(self, node: Present) -> Predicate:
        attribute = self.resolve(node.attr_path)
        if attribute is None:
            return _never
        read = self.read(attribute)
        return lambda r: _is_present(read(r))

    def logical(self, node: LogicalExpr) -> Predicate:
        terms = tuple(self.compile(term) for term in node.terms)
        if node.op is LogicalOperator.and_:
            if len(terms) == 2:
                left, right = terms
                return lambda r: left(r) and right(r)
            return lambda r: all(term(r) for term in terms)
        if len(terms) == 2:
            left, right = terms
            return lambda r: left(r) or right(r)
        return lambda r: any(term(r) for term in terms)

    def value_path(self, node: ValuePath) -> Predicate:
        if self.scope.element_of is not None:
            raise InvalidFilter("a value filter cannot be nested in another")
        attribute = self.resolve(node.attr_path)
        if attribute is None:
            return _never
        if not attribute.multi_valued:
            raise InvalidFilter(
                f"'{attribute.path}' is not multi-valued; '[...]' selects values of "
                "a multi-valued attribute"
            )
        matches = compile_value_filter(node.val_filter, attribute)
        read = _reader(attribute)

        def any_element(r: Mapping[str, Any]) -> bool:
            items = read(r)
            if not isinstance(items, list):
                return False
            return any(matches(item) for item in items)

        return any_element


def compile_value_filter(node: FilterNode, attribute: AttributeSchema) -> Predicate:
    """Compile the filter inside ``attribute[...]`` into a test of ONE element.

    For a complex attribute the element is a dict and names are its
    sub-attributes (``type eq "work"``); for a multi-valued simple attribute the
    element is the value itself, addressed as ``value`` (scim2-models' reading).
    The PATCH engine uses this for paths like ``members[value eq "id"]``.

    :raises InvalidFilter: for unknown sub-attributes or invalid comparisons.
    """
    if attribute.is_complex:
        return _Compiler(_Scope(None, element_of=attribute)).build(node)
    return _scalar_element_filter(node, attribute)


def _scalar_element_filter(node: FilterNode, attribute: AttributeSchema) -> Predicate:
    """Elements of a multi-valued simple attribute, named ``value`` in the filter."""
    if isinstance(node, Comparison | Present):
        path = node.attr_path
        if (
            path.uri is not None
            or path.sub_attr is not None
            or path.attr.lower() != "value"
        ):
            raise InvalidFilter(
                f"the values of '{attribute.path}' are compared as 'value', not '{path}'"
            )
        if isinstance(node, Present):
            return lambda v: _is_present(v)
        _check_operator(attribute, node.op)
        test = _value_test(attribute, node.op, _coerce(attribute, node.op, node.value))
        return lambda v: test(v)
    if isinstance(node, Not):
        inner = _scalar_element_filter(node.expr, attribute)
        return lambda v: not inner(v)
    if isinstance(node, LogicalExpr):
        terms = tuple(_scalar_element_filter(t, attribute) for t in node.terms)
        if node.op is LogicalOperator.and_:
            return lambda v: all(t(v) for t in terms)
        return lambda v: any(t(v) for t in terms)
    raise InvalidFilter("a value filter cannot be nested in another")


# -- parsing and limits ----------------------------------------------------


def measure(root: FilterNode) -> tuple[int, int]:
    """(depth, clauses) of a tree, walked without recursion.

    Depth counts the ``and``/``or``/``not``/``[...]`` levels above the deepest
    comparison (a lone comparison is 0); clauses counts comparisons and
    presence tests. The PATCH engine bounds its path filters with it too.
    """
    depth = clauses = 0
    stack: list[tuple[FilterNode, int]] = [(root, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, Comparison | Present):
            clauses += 1
            depth = max(depth, level)
        elif isinstance(node, LogicalExpr):
            stack.extend((term, level + 1) for term in node.terms)
        elif isinstance(node, Not):
            stack.append((node.expr, level + 1))
        elif isinstance(node, ValuePath):
            stack.append((node.val_filter, level + 1))
    return depth, clauses


_ATTR_NAME = r"\$?[A-Za-z][A-Za-z0-9$_-]*"
_URN = r"urn:[A-Za-z0-9][A-Za-z0-9._-]*(?::[A-Za-z0-9][A-Za-z0-9._-]*)*"
_SIMPLE_COMPARISON = re.compile(
    rf"[ \t\f\r\n]*((?:{_URN}:)?{_ATTR_NAME}(?:\.{_ATTR_NAME})?)[ \t\f\r\n]+"
    r"(eq|ne|co|sw|ew|gt|ge|lt|le)[ \t\f\r\n]+"
    r'("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*")[ \t\f\r\n]*',
    re.IGNORECASE,
)
"""``attr op "string"``: the RFC 7644 §3.4.2.2 productions (attrPath, compareOp,
a JSON string) for the one shape every IdP match query has."""

_KEYWORDS = frozenset(
    {"and", "or", "not", "pr", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}
    | {"true", "false", "null"}
)


def _simple_comparison(expression: str) -> Comparison | None:
    """The syntax tree of ``attr op "string"`` without the general parser.

    Entra and Okta send ``userName eq "<a new address>"`` on every match, a
    new text each time, so the parse cache never helps them; this reads the
    one shape directly and builds the very node scim2-models' grammar builds
    (a property test holds the two together). Anything else, including a
    keyword used as an attribute name, goes to the grammar.
    """
    match = _SIMPLE_COMPARISON.fullmatch(expression)
    if match is None:
        return None
    raw_path, op, literal = match.groups()
    uri: str | None = None
    rest = raw_path
    if raw_path[:4].lower() == "urn:":
        uri, _, rest = raw_path.rpartition(":")
    attr, _, sub_attr = rest.partition(".")
    if attr.lower() in _KEYWORDS:
        return None
    try:
        path = AttrPath(attr=attr, sub_attr=sub_attr or None, uri=uri)
    except ValueError:
        # A name only the case-insensitive match let through (U+212A, say):
        # the grammar words the error.
        return None
    return Comparison(path, CompareOperator(op.lower()), json.loads(literal))


def parse_filter(expression: str, limits: FilterLimits = DEFAULT_LIMITS) -> FilterNode:
    """Parse filter text into scim2-models' syntax tree, within ``limits``.

    :raises InvalidFilter: on a syntax error (the detail gives the column) or
        past a limit.
    """
    if not isinstance(expression, str):
        raise InvalidFilter("the filter must be a string")
    if not expression.strip():
        raise InvalidFilter("the filter is empty")
    if len(expression) > limits.max_length:
        raise InvalidFilter(
            f"the filter is {len(expression)} characters long; the limit is "
            f"{limits.max_length}"
        )
    simple = _simple_comparison(expression)
    if simple is not None:
        return simple
    try:
        root = ScimFilter(expression).ast
    except SCIMException as exc:
        raise from_scim2_models(exc) from None
    except (ValueError, TypeError, RecursionError):
        raise InvalidFilter("the filter could not be parsed") from None
    depth, clauses = measure(root)
    if depth > limits.max_depth:
        raise InvalidFilter(
            f"the filter nests {depth} levels deep; the limit is {limits.max_depth}"
        )
    if clauses > limits.max_clauses:
        raise InvalidFilter(
            f"the filter has {clauses} comparisons; the limit is {limits.max_clauses}"
        )
    return root


@attrs.frozen(eq=False)
class CompiledFilter:
    """A filter compiled for one resource type; call it on a resource dict.

    ``ast`` is scim2-models' syntax tree, kept so a storage can translate the
    same tree (to SQL, say) instead of parsing the text again.
    """

    expression: str
    ast: FilterNode
    resource_type: ResourceType
    predicate: Predicate
    attributes: frozenset[str] = frozenset()
    """The top-level attributes the filter reads, by lower-cased name
    (extension attributes as ``<urn>:<name>``)."""

    def references(self, name: str) -> bool:
        """Whether the filter reads the top-level attribute ``name``, so a
        storage knows what it must load (group members, say) to evaluate it."""
        return name.lower() in self.attributes

    def __call__(self, resource: Mapping[str, Any]) -> bool:
        return self.predicate(resource)

    def filter(self, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The resources that match, in their order."""
        predicate = self.predicate
        return [r for r in resources if predicate(r)]


def compile_filter(
    expression: str,
    resource_type: str | ResourceType = "User",
    *,
    limits: FilterLimits = DEFAULT_LIMITS,
    unknown_attributes_match_none: bool = False,
) -> CompiledFilter:
    """Compile ``expression`` into a predicate over ``resource_type``'s JSON form.

    :param resource_type: a registered type name (``"User"``, ``"Group"``) or
        a :class:`~tomorro_scim.schemas.ResourceType`.
    :param unknown_attributes_match_none: evaluate an attribute the type does
        not declare to false instead of refusing the filter, as a search over
        several resource types must (RFC 7644 §3.4.2.1).
    :raises InvalidFilter: for a syntax error, an unknown attribute, an
        operator or a value the attribute's type does not take, or a filter
        past ``limits``.
    """
    if isinstance(resource_type, str):
        try:
            resource_type = default_registry().get(resource_type)
        except KeyError:
            raise ValueError(f"unknown resource type {resource_type!r}") from None
    return _compile_cached(
        expression, resource_type, limits, unknown_attributes_match_none
    )


@lru_cache(maxsize=1024)
def _compile_cached(
    expression: str,
    resource_type: ResourceType,
    limits: FilterLimits,
    unknown_matches_none: bool,
) -> CompiledFilter:
    # Only successful compilations are cached (lru_cache does not keep
    # exceptions); a client varying its filter text can evict entries but not
    # grow the cache past its bound.
    root = parse_filter(expression, limits)
    compiler = _Compiler(
        _Scope(resource_type, unknown_matches_none=unknown_matches_none)
    )
    predicate = compiler.build(root)
    return CompiledFilter(
        expression=expression,
        ast=root,
        resource_type=resource_type,
        predicate=predicate,
        attributes=frozenset(compiler.read_attributes),
    )
