"""``POST /Bulk``: many resource operations in one request (RFC 7644 §3.7).

Each operation runs through the same handler a single request would
(:class:`~tomorro_scim.resources.ResourceHandlers` ``create``/``replace``/
``patch``/``delete``), so it gets that request's checks, events and status,
and its own storage session: **every operation is its own transaction**. A
failing operation undoes nothing the others did, and the service goes on with
the next one (§3.7: "continue performing as many changes as possible and
disregard partial failures"). The package is written once, as coroutines, and
serves both :meth:`~tomorro_scim.service.ScimService.handle` and
:meth:`~tomorro_scim.service.ScimService.handle_async`. Every operation stays
inside the tenant the request authenticated as: a path or a ``bulkId`` can only
name a resource of that tenant.

Neither Entra ID nor Okta sends ``/Bulk``; the endpoint is for scripts and
other SCIM clients. The decisions, each against the RFC, live with the code
that makes them:

* :mod:`.request`: the BulkRequest and each operation, read and routed;
* :mod:`.references`: what a ``bulkId`` reference is, and its replacement
  (§3.7.2);
* :mod:`.order`: the order operations run in, and the cycles it finds;
* :mod:`.cycles`: how a cycle of references is resolved (§3.7.1);
* :mod:`.run`: running the operations, failed references, ``failOnErrors``;
* :mod:`.subrequests`: one operation as a single request, in its own
  transaction;
* :mod:`.response`: the BulkResponse (§3.7.3).

The limits (§3.7.4)
    More operations than ``maxOperations``, or a body larger than
    ``maxPayloadSize``, is ``413`` for the whole request, with a detail naming
    the size and the limit. The payload is checked before the body is parsed
    (from ``Content-Length`` when the adapter left a large body unread); the
    number of operations right after. Both limits come from
    :class:`~tomorro_scim.service.ServiceSettings` and are what
    ``/ServiceProviderConfig`` advertises.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from ..errors import MethodNotAllowed
from ..errors import NotFound
from ..errors import NotImplementedFeature
from ..errors import PayloadTooLarge
from ..http import ScimRequest
from ..http import ScimResponse
from ..schemas import SchemaRegistry
from .request import BULK_REQUEST
from .request import read_operation
from .request import read_request
from .response import BULK_RESPONSE
from .response import bulk_response
from .run import BulkRun
from .subrequests import Subrequests

if TYPE_CHECKING:
    from ..resources import ResourceHandlers

__all__ = ["BULK_REQUEST", "BULK_RESPONSE", "serve_bulk"]


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
    raw_operations, fail_on_errors = read_request(read_body(request), max_operations)
    declared: set[str] = set()
    operations = [
        read_operation(index, raw, registry, declared)
        for index, raw in enumerate(raw_operations)
    ]
    subrequests = Subrequests(handlers, request, request_id, tenant)
    entries = await BulkRun(subrequests, operations, fail_on_errors).run()
    return bulk_response(entries)
