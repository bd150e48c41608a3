"""Check PATCH values against the schema and put them in canonical JSON form.

Incoming attribute names may be in any case (RFC 7643 §2.1); the result uses
the names as the schema spells them, so the resource keeps one spelling. Types
follow RFC 7643 §2.3; a value of the wrong type is ``400 invalidValue``. A
``null`` is "unassigned" (RFC 7643 §2.5): inside a value written over a
single-valued complex attribute it removes that sub-attribute, inside a new
multi-valued element it is dropped.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Hashable
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from scim2_models import Attribute

from ..errors import InvalidValue
from ..schemas import AttributeSchema
from .dialect import PatchDialect

__all__ = [
    "canonical_value",
    "element_key",
    "is_membership",
    "json_type",
    "shown",
]

_T = Attribute.Type
_SCALARS = (str, bool, int, float)


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for error details."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shown(name: str, limit: int = 60) -> str:
    """A client-supplied name, quoted and cut short, for an error detail."""
    if len(name) > limit:
        name = name[: limit - 3] + "..."
    return f"'{name}'"


def is_membership(attribute: AttributeSchema) -> bool:
    """Whether ``attribute`` is a group's core ``members`` (RFC 7643 §4.2)."""
    return (
        attribute.parent is None
        and attribute.extension_urn is None
        and attribute.multi_valued
        and attribute.name == "members"
        and "value" in attribute.sub_attributes
    )


def element_key(element: Any) -> Hashable:
    """A hashable stand-in for a canonical multi-valued element, for de-duplication."""
    if isinstance(element, dict):
        return tuple(
            sorted(
                (key, tuple(item) if isinstance(item, list) else item)
                for key, item in element.items()
            )
        )
    return element  # type: ignore[no-any-return]


def _invalid(attribute: AttributeSchema, expected: str, value: Any) -> InvalidValue:
    return InvalidValue(
        f"'{attribute.path}' expects {expected}, got {json_type(value)}"
    )


def _scalar(attribute: AttributeSchema, value: Any, dialect: PatchDialect) -> Any:
    kind = attribute.type
    if kind is _T.string or kind is _T.reference:
        if isinstance(value, str):
            return value
        raise _invalid(attribute, "a string", value)
    if kind is _T.boolean:
        if isinstance(value, bool):
            return value
        if (
            dialect.string_booleans
            and isinstance(value, str)
            and value.lower() in ("true", "false")
        ):
            return value.lower() == "true"
        raise _invalid(attribute, "a boolean", value)
    if kind is _T.integer:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _invalid(attribute, "an integer", value)
    if kind is _T.decimal:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise _invalid(attribute, "a number", value)
    if kind is _T.date_time:
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                return value
        raise _invalid(attribute, "a dateTime string (RFC 7643 §2.3.5)", value)
    if kind is _T.binary:
        if isinstance(value, str):
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                pass
            else:
                return value
        raise _invalid(attribute, "a base64 string (RFC 7643 §2.3.6)", value)
    raise _invalid(attribute, kind.value, value)  # pragma: no cover - no other types


def _complex(
    attribute: AttributeSchema, value: Any, dialect: PatchDialect, *, element: bool
) -> dict[str, Any]:
    if not isinstance(value, dict | Mapping) and dialect.value_shorthand:
        # Entra's manager arrives as "id", as {"value": "id"} or as
        # [{"value": "id"}] (IDP-DIALECTS §2.5); a bare member id likewise.
        if not attribute.multi_valued and isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, _SCALARS) and "value" in attribute.sub_attributes:
            value = {"value": value}
    if not isinstance(value, dict | Mapping):
        raise _invalid(attribute, "an object", value)
    out: dict[str, Any] = {}
    for key, raw in value.items():
        sub = attribute.sub_attribute(key) if isinstance(key, str) else None
        if sub is None:
            if dialect.ignore_unknown_member_attributes and is_membership(attribute):
                continue
            raise InvalidValue(
                f"'{attribute.path}' has no sub-attribute {shown(str(key))}"
            )
        if sub.name in out:
            raise InvalidValue(f"'{sub.path}' is given twice")
        if raw is None:
            if not element:
                out[sub.name] = None
            continue
        out[sub.name] = canonical_value(sub, raw, dialect)
    return out


def _multi(attribute: AttributeSchema, value: Any, dialect: PatchDialect) -> list[Any]:
    if not isinstance(value, list):
        if not dialect.value_shorthand:
            raise _invalid(attribute, "an array", value)
        value = [value]
    out: list[Any] = []
    # Members are de-duplicated by id when planned; other values as a whole.
    seen: set[Hashable] | None = None if is_membership(attribute) else set()
    for item in value:
        if item is None:
            continue
        if attribute.is_complex:
            element: Any = _complex(attribute, item, dialect, element=True)
            if not element:
                continue
        else:
            element = _scalar(attribute, item, dialect)
        if seen is not None:
            key = element_key(element)
            if key in seen:
                continue
            seen.add(key)
        out.append(element)
    return out


def canonical_value(
    attribute: AttributeSchema,
    value: Any,
    dialect: PatchDialect,
    *,
    element: bool = False,
) -> Any:
    """``value`` checked against ``attribute`` and spelled canonically.

    A multi-valued attribute takes an array (de-duplicated); with
    ``element=True`` the value is one element of it instead. A complex value
    keeps ``null`` sub-attributes (as ``None``) unless it is an element.

    :raises InvalidValue: when the value does not fit the attribute.
    """
    if attribute.multi_valued and not element:
        return _multi(attribute, value, dialect)
    if attribute.is_complex:
        return _complex(attribute, value, dialect, element=element)
    return _scalar(attribute, value, dialect)
