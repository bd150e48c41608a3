"""Reading a BulkRequest and its operations (RFC 7644 §3.7), before any runs.

The request
    The body must be an object whose ``schemas`` lists
    ``urn:ietf:params:scim:api:messages:2.0:BulkRequest`` and whose
    ``Operations`` is a list; otherwise the whole request is ``400
    invalidSyntax``. Member names are matched whatever their case, at the top
    and in each operation (``operations``, ``BULKID``), as elsewhere in the
    library. ``failOnErrors``, when present, must be a positive integer (``400
    invalidValue``). More operations than ``maxOperations`` is ``413`` for the
    whole request (§3.7.4).

One operation
    A malformed operation fails on its own, with the status a single request
    would get where there is one, and the rest still run: not an object (``400
    invalidSyntax``); a ``method`` other than POST, PUT, PATCH or DELETE (any
    case; ``400 invalidValue``); a POST without a ``bulkId``, which §3.7 makes
    REQUIRED, or a ``bulkId`` used by an earlier POST of the request (it must
    be unique; ``400 invalidValue``); a missing or non-string ``path`` or
    ``version`` (``400 invalidValue``); ``data`` missing or not an object for
    POST, PUT and PATCH (``400 invalidSyntax``). The path is routed as a single
    request's: ``/Users`` or ``/Groups`` for POST, ``/Users/<id>`` or
    ``/Groups/<id>`` for the others; an unknown endpoint is ``404``, the wrong
    shape for the method ``405``, and ``/Bulk``, ``/Me``, ``.search`` or a
    discovery endpoint ``400 invalidValue``. ``version`` is the operation's
    ``If-Match`` (a stale one is ``412``, RFC 7644 §3.14); a POST ignores it.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import InvalidSyntax
from ..errors import InvalidValue
from ..errors import MethodNotAllowed
from ..errors import NotFound
from ..errors import PayloadTooLarge
from ..errors import ScimError
from ..schemas import ResourceType
from ..schemas import SchemaRegistry
from .references import data_references
from .references import reference
from .values import field

__all__ = ["BULK_REQUEST", "Operation", "read_operation", "read_request"]

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
"""The schema URI of a bulk request (RFC 7644 §3.7)."""

_METHODS = ("POST", "PUT", "PATCH", "DELETE")

_NOT_RESOURCES = frozenset(
    {
        "bulk",
        "me",
        ".search",
        "serviceproviderconfig",
        "serviceconfiguration",
        "schemas",
        "resourcetypes",
    }
)


@attrs.define(eq=False)
class Operation:
    """One entry of ``Operations``, read and routed."""

    index: int
    method: str | None = None
    """The method, upper-cased, when it is one of the four."""
    bulk_id: str | None = None
    resource_type: ResourceType | None = None
    target: str | None = None
    """The id segment of the path, as sent (may be a ``bulkId:`` reference)."""
    data: dict[str, Any] | None = None
    version: str | None = None
    error: ScimError | None = None
    """Why the operation cannot run, found while reading it."""
    path_reference: str | None = None
    data_references: tuple[str, ...] = ()

    @property
    def references(self) -> tuple[str, ...]:
        """The bulkIds the operation names: in its path first, then in its data."""
        head = () if self.path_reference is None else (self.path_reference,)
        return (*head, *self.data_references)


def read_request(body: Any, max_operations: int) -> tuple[list[Any], int | None]:
    """The operations and ``failOnErrors`` of a BulkRequest, or why it is refused."""
    if not isinstance(body, dict):
        raise InvalidSyntax("a bulk request must be a JSON object")
    schemas = field(body, "schemas")
    folded = BULK_REQUEST.lower()
    if not isinstance(schemas, list) or not any(
        isinstance(urn, str) and urn.lower() == folded for urn in schemas
    ):
        raise InvalidSyntax(f"'schemas' must list '{BULK_REQUEST}'")
    operations = field(body, "Operations")
    if not isinstance(operations, list):
        raise InvalidSyntax("a bulk request needs 'Operations', a list")
    if len(operations) > max_operations:
        raise PayloadTooLarge(
            f"the bulk request has {len(operations)} operations; "
            f"maxOperations is {max_operations}"
        )
    fail_on_errors = field(body, "failOnErrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool)
        or not isinstance(fail_on_errors, int)
        or fail_on_errors < 1
    ):
        raise InvalidValue("'failOnErrors' must be a positive integer")
    return operations, fail_on_errors


def read_operation(
    index: int, raw: Any, registry: SchemaRegistry, declared: set[str]
) -> Operation:
    """Read one operation; a fault is recorded on it, never raised.

    :param declared: the bulkIds of the POSTs read so far; this one's is added.
    """
    operation = Operation(index)
    if not isinstance(raw, dict):
        operation.error = InvalidSyntax(f"Operations[{index}] is not a JSON object")
        return operation
    try:
        _fill(operation, raw, registry, declared)
    except ScimError as error:
        operation.error = error
    return operation


def _fill(
    operation: Operation,
    raw: dict[str, Any],
    registry: SchemaRegistry,
    declared: set[str],
) -> None:
    where = f"Operations[{operation.index}]"
    method = field(raw, "method")
    if isinstance(method, str) and method.upper() in _METHODS:
        operation.method = method.upper()
    bulk_id = field(raw, "bulkId")
    if isinstance(bulk_id, str) and bulk_id:
        operation.bulk_id = bulk_id
    if operation.method is None:
        raise InvalidValue(f"{where}.method must be one of {', '.join(_METHODS)}")
    if bulk_id is not None and operation.bulk_id is None:
        raise InvalidValue(f"{where}.bulkId must be a non-empty string")
    path = field(raw, "path")
    if not isinstance(path, str):
        raise InvalidValue(f"{where}.path must be a string, such as '/Users'")
    _route(operation, path, registry)
    if operation.method == "POST":
        if operation.bulk_id is None:
            raise InvalidValue(f"{where}: a POST operation needs a bulkId")
        if operation.bulk_id in declared:
            raise InvalidValue(
                f"{where}.bulkId {operation.bulk_id[:64]!r} is already the bulkId "
                "of an earlier POST of this request"
            )
        declared.add(operation.bulk_id)
    version = field(raw, "version")
    if version is not None and not isinstance(version, str):
        raise InvalidValue(f"{where}.version must be a string, such as 'W/\"3\"'")
    operation.version = version if operation.method != "POST" else None
    if operation.method != "DELETE":
        data = field(raw, "data")
        if not isinstance(data, dict):
            raise InvalidSyntax(f"{where}.data must be a JSON object")
        operation.data = data
        operation.data_references = data_references(
            data, in_patch_paths=operation.method == "PATCH"
        )


def _route(operation: Operation, path: str, registry: SchemaRegistry) -> None:
    """Resolve ``path`` as a single request's path would be, for this method."""
    shown = path[:200]
    segments = [s for s in path.split("/") if s]
    if not segments:
        raise InvalidValue("an operation's path names /Users, /Groups or a resource")
    head = segments[0].lower()
    if head in _NOT_RESOURCES or (
        len(segments) == 2 and segments[1].lower() == ".search"
    ):
        raise InvalidValue(f"'{shown}' is not a resource a bulk operation can change")
    resource_type = registry.by_endpoint("/" + segments[0])
    if resource_type is None or len(segments) > 2:
        raise NotFound(f"no endpoint at '{shown}'")
    operation.resource_type = resource_type
    if len(segments) == 2:
        operation.target = segments[1]
        operation.path_reference = reference(segments[1])
    if operation.method == "POST" and operation.target is not None:
        raise MethodNotAllowed(f"POST goes to a resource endpoint, not to '{shown}'")
    if operation.method != "POST" and operation.target is None:
        raise MethodNotAllowed(
            f"{operation.method} needs a resource's path, such as '{shown}/<id>'"
        )
