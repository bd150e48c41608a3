"""``POST /Bulk``: many resource operations in one request (RFC 7644 §3.7).

Each operation runs through the same handler a single request would
(:class:`~tomorro_scim.resources.ResourceHandlers` ``create``/``replace``/
``patch``/``delete``), so it gets that request's checks, events and status,
and its own storage session: **every operation is its own transaction**. A
failing operation undoes nothing the others did, and the service goes on with
the next one (§3.7: "continue performing as many changes as possible and
disregard partial failures"). The module is written once, as coroutines, and
serves both :meth:`~tomorro_scim.service.ScimService.handle` and
:meth:`~tomorro_scim.service.ScimService.handle_async`. Every operation stays
inside the tenant the request authenticated as: a path or a ``bulkId`` can only
name a resource of that tenant.

Neither Entra ID nor Okta sends ``/Bulk``; the endpoint is for scripts and
other SCIM clients. The decisions, each against the RFC:

The request
    The body must be an object whose ``schemas`` lists
    ``urn:ietf:params:scim:api:messages:2.0:BulkRequest`` and whose
    ``Operations`` is a list; otherwise the whole request is ``400
    invalidSyntax``. Member names are matched whatever their case, at the top
    and in each operation (``operations``, ``BULKID``), as elsewhere in the
    library. ``failOnErrors``, when present, must be a positive integer (``400
    invalidValue``).

The limits (§3.7.4)
    More operations than ``maxOperations``, or a body larger than
    ``maxPayloadSize``, is ``413`` for the whole request, with a detail naming
    the size and the limit. The payload is checked before the body is parsed
    (from ``Content-Length`` when the adapter left a large body unread); the
    number of operations right after. Both limits come from
    :class:`~tomorro_scim.service.ServiceSettings` and are what
    ``/ServiceProviderConfig`` advertises.

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

``bulkId`` references (§3.7.2)
    A string value that is exactly ``bulkId:<id>`` anywhere in ``data`` (a
    member's ``value``, the enterprise ``manager``, a custom extension), the id
    segment of ``path`` (``/Groups/bulkId:qwerty``), and a quoted
    ``"bulkId:<id>"`` inside the ``path`` filter of a PATCH operation
    (``members[value eq "bulkId:qwerty"]``) is replaced by the id of the
    resource the POST with that ``bulkId`` created; the storage never sees the
    reference. Only POSTs declare a ``bulkId``: it names the resource they
    create. Operations may come in any order (§3.7: the provider may reorder
    them if "the same stateful result is achieved"): they run in request
    order, except that a POST runs just before the first operation that
    references it, after the POSTs it references in turn. Nothing else moves,
    so which of two clashing ``userName`` wins stays the request's choice. The
    order is walked depth-first with an explicit stack, so a long chain of
    references cannot exhaust the Python stack. A reference no POST of the
    request declares is ``400 invalidValue`` (the request is wrong whatever the
    state); a reference to a POST that failed is ``409`` (the RFC names no
    status for it; 409 is the one §3.7.1 gives an unresolved cross-reference).

Circular references (§3.7.1: the service provider "MUST try to resolve" them)
    Following references from an operation can come back to a POST that is
    waiting for its own references to run: a cycle. The POST whose reference
    closes it (the last one reached) is created first, without the attributes
    whose values reference a POST of the cycle (for a multi-valued attribute
    such as ``members``, without those values only); the others are created
    with its id; then a follow-up PATCH of the resource, in its own
    transaction, sets the values it was created without (``add`` for a
    multi-valued attribute, ``replace`` for another), and the operation's
    ``version`` becomes the one after it. If the follow-up fails, or a POST it
    references failed, the operation reports that error (``409`` for the
    failed reference) with its ``location``: the resource exists, without
    those values. Two users who manage each other (enterprise ``manager``), or
    one who manages herself, come out as asked. Two groups that contain each
    other (the RFC's example) come out created, each without the other: in
    this library a group's members are users, and a member id that names no
    user is skipped (a ``MembersSkipped`` event), or refused with ``400``
    under ``reject_unknown_members``.

The response (§3.7.3)
    ``200`` with a ``BulkResponse`` listing, in request order, one entry per
    operation that was processed: ``method``, the ``bulkId`` sent, ``location``
    (for every operation except a POST that created nothing), ``version`` (the
    resource's ETag after a successful POST, PUT or PATCH), ``status`` as a
    string (``"201"``, as the RFC's examples write it) and, for a failure,
    ``response``: the SCIM Error body the single request would have had. A
    success carries no ``response`` body (the RFC lets the server omit it).
    ``failOnErrors: n`` stops the processing once ``n`` operations have failed:
    the operations not run yet are neither run nor listed. An unexpected
    failure of one operation (a storage fault) is logged at ERROR with the
    request id and reported as that operation's ``500``; the others go on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import attrs

from .errors import Conflict
from .errors import InternalError
from .errors import InvalidSyntax
from .errors import InvalidValue
from .errors import MethodNotAllowed
from .errors import NotFound
from .errors import NotImplementedFeature
from .errors import PayloadTooLarge
from .errors import ScimError
from .http import ScimRequest
from .http import ScimResponse
from .http import json_response
from .patch.dialect import PATCH_OP_URN
from .schemas import ResourceType
from .schemas import SchemaRegistry

if TYPE_CHECKING:
    from .resources import ResourceHandlers

__all__ = ["BULK_REQUEST", "BULK_RESPONSE", "serve_bulk"]

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
"""The schema URI of a bulk request (RFC 7644 §3.7)."""

BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
"""The schema URI of a bulk response (RFC 7644 §3.7)."""

_errors = logging.getLogger("tomorro_scim.errors")

_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_PREFIX = "bulkid:"
_IN_FILTER = re.compile(r'"(?i:bulkid):([^"]*)"')
"""A quoted reference inside a PATCH path filter: ``members[value eq "bulkId:x"]``."""

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


def _reference(value: str) -> str | None:
    """The bulkId a ``bulkId:<id>`` string names, else ``None``."""
    if value[: len(_PREFIX)].lower() == _PREFIX:
        return value[len(_PREFIX) :]
    return None


def _strings(value: Any) -> Iterator[str]:
    """Every string value (not key) inside a JSON value, in document order,
    without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(reversed(item.values()))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """A copy of a JSON value, each string value passed through ``change``.

    Iterative, so a deeply nested body cannot exhaust the stack.
    """
    if isinstance(value, str):
        return change(value)
    if not isinstance(value, dict | list):
        return value
    root: dict[str, Any] | list[Any] = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, dict[str, Any] | list[Any]]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            copy: Any
            if isinstance(item, dict | list):
                copy = {} if isinstance(item, dict) else []
                stack.append((item, copy))
            elif isinstance(item, str):
                copy = change(item)
            else:
                copy = item
            if isinstance(target, dict):
                target[str(key)] = copy
            else:
                target.append(copy)
    return root


def _field(body: dict[str, Any], name: str) -> Any:
    """A member of a message object, its name matched whatever its case."""
    if name in body:
        return body[name]
    folded = name.lower()
    for key, value in body.items():
        if key.lower() == folded:
            return value
    return None


def _patch_paths(data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """The PatchOp operations of ``data`` with a string ``path``: (operation, key, path)."""
    operations = _field(data, "Operations")
    if not isinstance(operations, list):
        return
    for operation in operations:
        if isinstance(operation, dict):
            for key, path in operation.items():
                if key.lower() == "path" and isinstance(path, str):
                    yield operation, key, path


@attrs.define(eq=False)
class _Operation:
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
        head = () if self.path_reference is None else (self.path_reference,)
        return (*head, *self.data_references)


def _read_operation(
    index: int, raw: Any, registry: SchemaRegistry, declared: set[str]
) -> _Operation:
    """Read one operation; a fault is recorded on it, never raised."""
    operation = _Operation(index)
    if not isinstance(raw, dict):
        operation.error = InvalidSyntax(f"Operations[{index}] is not a JSON object")
        return operation
    try:
        _fill(operation, raw, registry, declared)
    except ScimError as error:
        operation.error = error
    return operation


def _fill(
    operation: _Operation,
    raw: dict[str, Any],
    registry: SchemaRegistry,
    declared: set[str],
) -> None:
    where = f"Operations[{operation.index}]"
    method = _field(raw, "method")
    if isinstance(method, str) and method.upper() in _METHODS:
        operation.method = method.upper()
    bulk_id = _field(raw, "bulkId")
    if isinstance(bulk_id, str) and bulk_id:
        operation.bulk_id = bulk_id
    if operation.method is None:
        raise InvalidValue(f"{where}.method must be one of {', '.join(_METHODS)}")
    if bulk_id is not None and operation.bulk_id is None:
        raise InvalidValue(f"{where}.bulkId must be a non-empty string")
    path = _field(raw, "path")
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
    version = _field(raw, "version")
    if version is not None and not isinstance(version, str):
        raise InvalidValue(f"{where}.version must be a string, such as 'W/\"3\"'")
    operation.version = version if operation.method != "POST" else None
    if operation.method != "DELETE":
        data = _field(raw, "data")
        if not isinstance(data, dict):
            raise InvalidSyntax(f"{where}.data must be a JSON object")
        operation.data = data
        found = [r for s in _strings(data) if (r := _reference(s)) is not None]
        if operation.method == "PATCH":
            found += [
                match
                for _, _, text in _patch_paths(data)
                for match in _IN_FILTER.findall(text)
            ]
        operation.data_references = tuple(dict.fromkeys(found))


def _route(operation: _Operation, path: str, registry: SchemaRegistry) -> None:
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
        operation.path_reference = _reference(segments[1])
    if operation.method == "POST" and operation.target is not None:
        raise MethodNotAllowed(f"POST goes to a resource endpoint, not to '{shown}'")
    if operation.method != "POST" and operation.target is None:
        raise MethodNotAllowed(
            f"{operation.method} needs a resource's path, such as '{shown}/<id>'"
        )


@attrs.define(eq=False)
class _Deferred:
    """An attribute left out of a POST on a cycle, set by a follow-up PATCH."""

    path: str
    """The PATCH path of the attribute (``members``, ``<extension URN>:manager``)."""
    multi_valued: bool
    value: Any
    """The values left out (a list) of a multi-valued attribute, else its value."""


@attrs.define(eq=False)
class _FollowUp:
    operation: _Operation
    resource_id: str
    location: str
    deferred: list[_Deferred]

    @property
    def references(self) -> set[str]:
        return {
            r
            for d in self.deferred
            for s in _strings(d.value)
            if (r := _reference(s)) is not None
        }


def _defer(
    data: dict[str, Any], pending: set[str]
) -> tuple[dict[str, Any], list[_Deferred]]:
    """``data`` without the attributes (or values) that reference ``pending`` bulkIds."""

    def refers(value: Any) -> bool:
        return any(_reference(s) in pending for s in _strings(value))

    def split(path: str, name: str, value: Any, into: dict[str, Any]) -> None:
        if not refers(value):
            into[name] = value
        elif isinstance(value, list):
            into[name] = [v for v in value if not refers(v)]
            deferred.append(_Deferred(path, True, [v for v in value if refers(v)]))
        else:
            deferred.append(_Deferred(path, False, value))

    kept: dict[str, Any] = {}
    deferred: list[_Deferred] = []
    for key, value in data.items():
        if key.lower().startswith("urn:") and isinstance(value, dict):
            extension: dict[str, Any] = {}
            for name, item in value.items():
                split(f"{key}:{name}", name, item, extension)
            kept[key] = extension
        else:
            split(key, key, value, kept)
    return kept, deferred


class _BulkRun:
    """The state of one bulk request while its operations run."""

    def __init__(
        self,
        handlers: ResourceHandlers,
        request: ScimRequest,
        request_id: str,
        tenant: str,
        operations: list[_Operation],
        fail_on_errors: int | None,
    ) -> None:
        self.handlers = handlers
        self.request = request
        self.request_id = request_id
        self.tenant = tenant
        self.operations = operations
        self.fail_on_errors = fail_on_errors
        self.declared = {
            o.bulk_id: o
            for o in operations
            if o.method == "POST" and o.bulk_id is not None and o.error is None
        }
        """The POST that declares each bulkId (an erroneous one declares nothing
        it could create, so its references fail as a failed POST's do)."""
        for o in operations:
            if o.method == "POST" and o.bulk_id is not None and o.error is not None:
                self.declared.setdefault(o.bulk_id, o)
        self.ids: dict[str, str] = {}
        """bulkId -> the id of the resource its POST created."""
        self.failed: set[str] = set()
        """bulkIds whose POST failed."""
        self.started: set[int] = set()
        self.processed: set[int] = set()
        self.cut: dict[int, set[str]] = {}
        """Per POST on a cycle, the references it is created without."""
        self.entries: dict[int, dict[str, Any]] = {}
        self.errors = 0
        self.follow_ups: list[_FollowUp] = []

    # -- the order ------------------------------------------------------------

    def _settled(self, reference: str) -> bool:
        """Whether a reference can be resolved now, or is known to fail."""
        return (
            reference not in self.declared
            or reference in self.ids
            or reference in self.failed
        )

    def _dependencies(self, operation: _Operation) -> Iterator[_Operation]:
        """The POSTs an operation references, in the order it names them."""
        if operation.error is None:
            for reference in operation.references:
                if reference in self.declared:
                    yield self.declared[reference]

    async def run(self) -> list[dict[str, Any]]:
        """Run the operations; the entries of those processed, in request order.

        The request order is kept, except that a POST runs before the first
        operation that references it: each operation is the root of a
        depth-first walk of its references, with an explicit stack (no
        recursion, whatever the length of a chain). A reference to a POST
        still on the stack closes a cycle: the operation holding it is created
        without it, and a follow-up sets it once the POST has run (§3.7.1).
        """
        for root in self.operations:
            if self._stopped():
                break
            if root.index in self.started:
                continue
            self.started.add(root.index)
            stack = [(root, self._dependencies(root))]
            while stack and not self._stopped():
                operation, dependencies = stack[-1]
                following = None
                for dependency in dependencies:
                    if dependency.index not in self.started:
                        following = dependency
                        break
                    if dependency.index not in self.processed:
                        assert dependency.bulk_id is not None
                        self.cut.setdefault(operation.index, set()).add(
                            dependency.bulk_id
                        )
                if following is not None:
                    self.started.add(following.index)
                    stack.append((following, self._dependencies(following)))
                    continue
                stack.pop()
                await self._process(operation)
                self.processed.add(operation.index)
                await self._run_follow_ups()
        for follow_up in self.follow_ups:
            missing = sorted(r for r in follow_up.references if not self._settled(r))
            self._record(
                follow_up.operation,
                Conflict(
                    "created without the values that reference "
                    + ", ".join(repr(f"bulkId:{r[:64]}") for r in missing)
                    + ": processing stopped (failOnErrors) before those POSTs ran"
                ),
                location=follow_up.location,
            )
        return [self.entries[i] for i in sorted(self.entries)]

    async def _run_follow_ups(self) -> None:
        """Run every follow-up whose references can now be resolved.

        A follow-up finishes an operation already under way, so it runs even
        once failOnErrors has stopped new operations.
        """
        while True:
            ready = next(
                (
                    f
                    for f in self.follow_ups
                    if all(self._settled(r) for r in f.references)
                ),
                None,
            )
            if ready is None:
                return
            self.follow_ups.remove(ready)
            await self._follow_up(ready)

    def _stopped(self) -> bool:
        return self.fail_on_errors is not None and self.errors >= self.fail_on_errors

    # -- one operation ----------------------------------------------------------

    def _location(self, resource_type: ResourceType, resource_id: str) -> str:
        return f"{self.request.base_url}{resource_type.endpoint}/{resource_id}"

    def _record(
        self,
        operation: _Operation,
        outcome: ScimResponse | ScimError,
        *,
        location: str | None = None,
    ) -> None:
        """The operation's entry in the response (RFC 7644 §3.7.3)."""
        entry: dict[str, Any] = {}
        if location is not None:
            entry["location"] = location
        if operation.method is not None:
            entry["method"] = operation.method
        if operation.bulk_id is not None:
            entry["bulkId"] = operation.bulk_id
        if isinstance(outcome, ScimError):
            entry["status"] = str(outcome.status)
            entry["response"] = outcome.to_dict()
            self.errors += 1
        else:
            version = outcome.header("etag")
            if version is not None:
                entry["version"] = version
            entry["status"] = str(outcome.status)
        self.entries[operation.index] = entry

    def _subrequest(
        self, method: str, resource_type: ResourceType, resource_id: str | None
    ) -> ScimRequest:
        headers: dict[str, str] = {}
        client = self.request.header("user-agent")
        if client is not None:
            headers["user-agent"] = client
        return ScimRequest(
            method,
            resource_type.endpoint + ("" if resource_id is None else f"/{resource_id}"),
            headers=headers,
            base_url=self.request.base_url,
        )

    def _resolve(self, value: Any, *, in_patch_paths: bool = False) -> Any:
        """``value`` with every settled ``bulkId:`` reference replaced by its id."""

        def swap(text: str) -> str:
            reference = _reference(text)
            return self.ids.get(reference, text) if reference is not None else text

        resolved = _map_strings(value, swap)
        if in_patch_paths and isinstance(resolved, dict):
            for operation, key, path in list(_patch_paths(resolved)):
                operation[key] = _IN_FILTER.sub(
                    lambda m: '"' + self.ids.get(m.group(1), m.group(0)[1:-1]) + '"',
                    path,
                )
        return resolved

    def _unresolvable(self, operation: _Operation) -> ScimError | None:
        for reference in operation.references:
            if reference not in self.declared:
                return InvalidValue(
                    f"'bulkId:{reference[:64]}' names no POST operation of this request"
                )
        for reference in operation.references:
            if reference in self.failed:
                return Conflict(
                    f"'bulkId:{reference[:64]}' cannot be resolved: "
                    "the POST operation with that bulkId failed"
                )
        return None

    async def _process(self, operation: _Operation) -> None:
        resource_type = operation.resource_type
        resource_id = operation.target
        if operation.path_reference is not None:
            resource_id = self.ids.get(operation.path_reference)
        location = None
        if resource_type is not None and resource_id is not None:
            location = self._location(resource_type, resource_id)
        problem = operation.error or self._unresolvable(operation)
        if problem is not None:
            self._fail(operation, problem, location)
            return
        assert resource_type is not None
        assert operation.method is not None
        data = operation.data
        deferred: list[_Deferred] = []
        cut = self.cut.get(operation.index)
        if cut and data is not None:
            data, deferred = _defer(data, cut)
        if data is not None:
            data = self._resolve(data, in_patch_paths=operation.method == "PATCH")
        outcome = await self._attempt(
            operation.method, resource_type, resource_id, data, operation.version
        )
        if isinstance(outcome, ScimError):
            self._fail(operation, outcome, location)
            return
        if operation.method == "POST":
            body = outcome.json()
            resource_id = str(body["id"])
            location = self._location(resource_type, resource_id)
            assert operation.bulk_id is not None
            self.ids[operation.bulk_id] = resource_id
            if deferred:
                self.follow_ups.append(
                    _FollowUp(operation, resource_id, location, deferred)
                )
        self._record(operation, outcome, location=location)

    def _fail(
        self, operation: _Operation, error: ScimError, location: str | None
    ) -> None:
        if operation.method == "POST":
            if operation.bulk_id is not None and (
                self.declared.get(operation.bulk_id) is operation
            ):
                self.failed.add(operation.bulk_id)
            location = None
        self._record(operation, error, location=location)

    async def _follow_up(self, follow_up: _FollowUp) -> None:
        """Set the values a POST on a cycle was created without (§3.7.1)."""
        operation = follow_up.operation
        assert operation.bulk_id is not None
        assert operation.resource_type is not None
        patches: list[dict[str, Any]] = []
        lost: set[str] = set()

        def failed(value: Any) -> set[str]:
            return {
                r
                for s in _strings(value)
                if (r := _reference(s)) is not None and r in self.failed
            }

        for deferred in follow_up.deferred:
            if deferred.multi_valued:
                values = [v for v in deferred.value if not failed(v)]
                for v in deferred.value:
                    lost |= failed(v)
                if values:
                    patches.append(
                        {
                            "op": "add",
                            "path": deferred.path,
                            "value": self._resolve(values),
                        }
                    )
            elif failed(deferred.value):
                lost |= failed(deferred.value)
            else:
                patches.append(
                    {
                        "op": "replace",
                        "path": deferred.path,
                        "value": self._resolve(deferred.value),
                    }
                )
        if patches:
            outcome = await self._attempt(
                "PATCH",
                operation.resource_type,
                follow_up.resource_id,
                {"schemas": [PATCH_OP_URN], "Operations": patches},
                None,
            )
            if isinstance(outcome, ScimError):
                self._record(operation, outcome, location=follow_up.location)
                return
            version = outcome.header("etag")
            if version is not None:
                self.entries[operation.index]["version"] = version
        if lost:
            self._record(
                operation,
                Conflict(
                    "created without the values that reference "
                    + ", ".join(repr(f"bulkId:{r[:64]}") for r in sorted(lost))
                    + ": the POST operations with those bulkIds failed"
                ),
                location=follow_up.location,
            )

    async def _attempt(
        self,
        method: str,
        resource_type: ResourceType,
        resource_id: str | None,
        data: dict[str, Any] | None,
        version: str | None,
    ) -> ScimResponse | ScimError:
        """Run one operation through its handler, in its own transaction."""
        request = self._subrequest(method, resource_type, resource_id)
        if version is not None:
            request = attrs.evolve(
                request, headers={**request.headers, "if-match": version}
            )
        handlers, request_id, tenant = self.handlers, self.request_id, self.tenant
        try:
            if method == "POST":
                return await handlers.create(
                    request, request_id, tenant, resource_type, data
                )
            assert resource_id is not None
            if method == "PUT":
                return await handlers.replace(
                    request, request_id, tenant, resource_type, resource_id, data
                )
            if method == "PATCH":
                return await handlers.patch(
                    request, request_id, tenant, resource_type, resource_id, data
                )
            return await handlers.delete(
                request, request_id, tenant, resource_type, resource_id
            )
        except ScimError as error:
            return error
        except Exception:
            _errors.exception(
                "unexpected error in a bulk operation: %s %s (request %s)",
                method,
                request.path[:200],
                request_id,
            )
            return InternalError()


def _read_request(body: Any, max_operations: int) -> tuple[list[Any], int | None]:
    """The operations and ``failOnErrors`` of a BulkRequest, or why it is refused."""
    if not isinstance(body, dict):
        raise InvalidSyntax("a bulk request must be a JSON object")
    schemas = _field(body, "schemas")
    folded = BULK_REQUEST.lower()
    if not isinstance(schemas, list) or not any(
        isinstance(urn, str) and urn.lower() == folded for urn in schemas
    ):
        raise InvalidSyntax(f"'schemas' must list '{BULK_REQUEST}'")
    operations = _field(body, "Operations")
    if not isinstance(operations, list):
        raise InvalidSyntax("a bulk request needs 'Operations', a list")
    if len(operations) > max_operations:
        raise PayloadTooLarge(
            f"the bulk request has {len(operations)} operations; "
            f"maxOperations is {max_operations}"
        )
    fail_on_errors = _field(body, "failOnErrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool)
        or not isinstance(fail_on_errors, int)
        or fail_on_errors < 1
    ):
        raise InvalidValue("'failOnErrors' must be a positive integer")
    return operations, fail_on_errors


async def serve_bulk(
    request: ScimRequest,
    request_id: str,
    tenant: str,
    *,
    segments: Sequence[str],
    handlers: ResourceHandlers,
    registry: SchemaRegistry,
    max_operations: int,
    max_payload_bytes: int,
    read_body: Callable[[ScimRequest], Any],
) -> ScimResponse:
    """Answer ``POST /Bulk`` for ``tenant`` (RFC 7644 §3.7).

    :param segments: the request path's segments (``["Bulk"]``).
    :param handlers: run each operation, each in its own transaction.
    :param max_operations: ``maxOperations``; 0 turns ``/Bulk`` off (501).
    :param max_payload_bytes: ``maxPayloadSize``, checked before ``read_body``.
    :param read_body: parses the request body as JSON (the service's own
        reader, so media types and JSON errors are answered alike).
    :raises ScimError: for a request refused as a whole (405, 413, 400, 501).
    """
    if len(segments) > 1:
        raise NotFound(f"no endpoint at '{request.path[:200]}'")
    if request.method != "POST":
        raise MethodNotAllowed(allowed=("POST",))
    if max_operations <= 0:
        raise NotImplementedFeature("/Bulk is not enabled on this service provider")
    size = max(len(request.body), request.declared_length)
    if size > max_payload_bytes:
        raise PayloadTooLarge(
            f"the bulk request is {size} bytes; maxPayloadSize is {max_payload_bytes}"
        )
    raw_operations, fail_on_errors = _read_request(read_body(request), max_operations)
    declared: set[str] = set()
    operations = [
        _read_operation(index, raw, registry, declared)
        for index, raw in enumerate(raw_operations)
    ]
    run = _BulkRun(handlers, request, request_id, tenant, operations, fail_on_errors)
    entries = await run.run()
    return json_response({"schemas": [BULK_RESPONSE], "Operations": entries})
