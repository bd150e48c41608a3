"""The PatchOp envelope, and the IdP dialects tolerated while reading it.

RFC 7644 §3.5.2 defines the PatchOp message; Entra ID and Okta send shapes the
RFC does not (IDP-DIALECTS.md §2.4, §2.5, §3.3). Every tolerance is a switch of
:class:`PatchDialect`, on by default, so a strict RFC mode is one value away
(:meth:`PatchDialect.strict`). This module reads the envelope into
:class:`RawOperation` values; the meaning of each operation is the planner's.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any
from typing import Final
from typing import NamedTuple

import attrs

from ..errors import InvalidSyntax

__all__ = [
    "DEFAULT",
    "MISSING",
    "PATCH_OP_URN",
    "Op",
    "PatchDialect",
    "RawOperation",
    "read_operations",
]

PATCH_OP_URN: Final = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@attrs.frozen(cache_hash=True)
class PatchDialect:
    """Which IdP deviations from RFC 7644 §3.5.2 the PATCH engine accepts.

    Each switch names one quirk and where it comes from; all are on by default
    because real Entra and Okta traffic needs them. ``PatchDialect.strict()``
    turns every one off, and the quirk is then refused with a 400.
    """

    case_insensitive_ops: bool = True
    """``"op": "Replace"`` / ``"Add"`` (Entra default job; MS-TUT, MS-KI; OneLogin)."""

    case_insensitive_keys: bool = True
    """``"operations"`` and other spellings of the message keys ``Operations``,
    ``op``, ``path``, ``value`` (indigo-iam/iam#1227, wso2/product-is#19409)."""

    string_booleans: bool = True
    """``"True"`` / ``"False"`` in any case where a boolean is expected (MS-KI;
    AzureAD/SCIMReferenceCode#21)."""

    remove_value_as_filter: bool = True
    """``{"op":"Remove","path":"members","value":[{"value":"id"}]}`` removes only
    the listed values, never the whole attribute (Entra default job; MS-KI)."""

    create_on_unmatched_filter: bool = True
    """``add``/``replace`` through a value filter that matches nothing creates the
    value from the filter's ``eq`` terms, e.g. ``emails[type eq "work"].value``
    (thomaspoignant/scim-patch#176). RFC 7644 §3.5.2.3 answers ``noTarget``."""

    value_shorthand: bool = True
    """A bare string for a complex attribute with a ``value`` sub-attribute means
    ``{"value": ...}``; a one-element list for a single-valued one means its
    element; a single value for a multi-valued one means a one-element list.
    Covers Entra's bare-string ``manager`` (Captain-P-Goldfish/SCIM-SDK#686) and
    its ``[{"value": ...}]`` form (MS-TUT example 5), and the bare-string member
    of Microsoft's Postman collection (MS-PM)."""

    pathless_attribute_paths: bool = True
    """Path-less values keyed by attribute paths: ``"name.givenName"`` and
    ``"urn:...:enterprise:2.0:User:employeeNumber"`` (aadOptscim062020; MS-KI)."""

    extension_attribute_shorthand: bool = True
    """An unqualified name that only an extension declares, e.g. ``"path":
    "manager"`` (MS-TUT example 5). RFC 7644 §3.10 reads unqualified names in
    the core schema only."""

    empty_operations: bool = True
    """``"Operations": []`` is a successful no-op (Microsoft SCIM Validator;
    scimmyjs/scimmy#59). RFC 7644 §3.5.2 asks for one or more operations."""

    lenient_envelope: bool = True
    """A missing ``schemas`` member, and unknown members of the message or of an
    operation (a top-level ``id``, ``"name": "addMember"``; MS-PM), are
    ignored instead of refused."""

    ignore_unknown_member_attributes: bool = True
    """Unknown keys in a group member (``{"displayName": ..., "value": ...}``,
    MS-PM) are dropped: a membership is identified by its ``value`` alone."""

    @classmethod
    def strict(cls) -> PatchDialect:
        """RFC 7644 as written: every tolerance off."""
        return cls(**{field.name: False for field in attrs.fields(cls)})


DEFAULT: Final = PatchDialect()
"""The default dialect: every Entra and Okta tolerance on."""


class Op(enum.Enum):
    """The three PATCH operations of RFC 7644 §3.5.2."""

    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


_OPS: Final = {op.value: op for op in Op}


class _Missing(enum.Enum):
    MISSING = enum.auto()


MISSING: Final = _Missing.MISSING
"""Marks an operation without a ``value`` member (distinct from ``null``)."""


class RawOperation(NamedTuple):
    """One operation of the envelope, its keys found and its op recognised."""

    op_index: int
    op: Op
    path: str | None
    value: Any
    """The value as sent, or :data:`MISSING`."""


_OPERATION_KEYS: Final = ("op", "path", "value")


def _lookup(body: Mapping[str, Any], key: str, fold: bool) -> tuple[str | None, Any]:
    """Find ``key`` in a message object, optionally ignoring its case."""
    if key in body:
        return key, body[key]
    if fold:
        for candidate, value in body.items():
            if isinstance(candidate, str) and candidate.lower() == key.lower():
                return candidate, value
    return None, MISSING


def _lists_patch_op(schemas: list[Any]) -> bool:
    if PATCH_OP_URN in schemas:
        return True
    folded = PATCH_OP_URN.lower()
    return any(isinstance(urn, str) and urn.lower() == folded for urn in schemas)


def read_operations(body: Any, dialect: PatchDialect) -> list[RawOperation]:
    """Read a PatchOp request body (RFC 7644 §3.5.2) into raw operations.

    :raises InvalidSyntax: when the body is not a PatchOp message the dialect
        accepts.
    """
    if not isinstance(body, dict | Mapping):
        raise InvalidSyntax("the PATCH body must be a JSON object")
    fold = dialect.case_insensitive_keys
    schemas_key, schemas = _lookup(body, "schemas", fold)
    if schemas_key is None:
        if not dialect.lenient_envelope:
            raise InvalidSyntax(f"'schemas' must list '{PATCH_OP_URN}'")
    elif not isinstance(schemas, list) or not _lists_patch_op(schemas):
        raise InvalidSyntax(f"'schemas' must list '{PATCH_OP_URN}'")
    operations_key, operations = _lookup(body, "Operations", fold)
    if operations_key is None:
        raise InvalidSyntax("the PATCH body has no 'Operations'")
    if not dialect.lenient_envelope:
        extra = set(body) - {schemas_key, operations_key}
        if extra:
            raise InvalidSyntax(
                f"unknown member {sorted(map(str, extra))[0]!r} in the PATCH body"
            )
    if not isinstance(operations, list):
        raise InvalidSyntax("'Operations' must be an array")
    if not operations and not dialect.empty_operations:
        raise InvalidSyntax("'Operations' must hold at least one operation")
    return [
        _read_operation(index, operation, dialect)
        for index, operation in enumerate(operations)
    ]


def _read_operation(index: int, operation: Any, dialect: PatchDialect) -> RawOperation:
    if not isinstance(operation, dict | Mapping):
        raise InvalidSyntax(f"Operations[{index}]: an operation must be a JSON object")
    raw_op = operation.get("op", MISSING)
    path = operation.get("path", MISSING)
    value = operation.get("value", MISSING)
    if dialect.case_insensitive_keys:
        if raw_op is MISSING:
            raw_op = _lookup(operation, "op", True)[1]
        if path is MISSING:
            path = _lookup(operation, "path", True)[1]
        if value is MISSING:
            value = _lookup(operation, "value", True)[1]
    if not dialect.lenient_envelope:
        found = sum(part is not MISSING for part in (raw_op, path, value))
        if found != len(operation):
            extra = sorted(str(k) for k in operation if k not in _OPERATION_KEYS)
            raise InvalidSyntax(f"Operations[{index}]: unknown member {extra[0]!r}")
    op = _OPS.get(raw_op) if isinstance(raw_op, str) else None
    if op is None and isinstance(raw_op, str) and dialect.case_insensitive_ops:
        op = _OPS.get(raw_op.lower())
    if op is None:
        raise InvalidSyntax(
            f"Operations[{index}]: 'op' must be one of add, remove, replace"
        )
    if path is MISSING or path is None or path == "":
        path = None
    elif not isinstance(path, str):
        raise InvalidSyntax(f"Operations[{index}]: 'path' must be a string")
    return RawOperation(index, op, path, value)
