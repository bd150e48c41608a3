"""The BulkResponse (RFC 7644 §3.7.3).

``200`` with a ``BulkResponse`` listing, in request order, one entry per
operation that was processed: ``method``, the ``bulkId`` sent, ``location``
(for every operation except a POST that created nothing), ``version`` (the
resource's ETag after a successful POST, PUT or PATCH), ``status`` as a
string (``"201"``, as the RFC's examples write it) and, for a failure,
``response``: the SCIM Error body the single request would have had. A
success carries no ``response`` body (the RFC lets the server omit it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ScimError
from ..http import ScimResponse
from ..http import json_response
from .request import Operation

__all__ = ["BULK_RESPONSE", "bulk_response", "entry"]

BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
"""The schema URI of a bulk response (RFC 7644 §3.7)."""


def entry(
    operation: Operation,
    outcome: ScimResponse | ScimError,
    location: str | None = None,
) -> dict[str, Any]:
    """The operation's entry in the response."""
    out: dict[str, Any] = {}
    if location is not None:
        out["location"] = location
    if operation.method is not None:
        out["method"] = operation.method
    if operation.bulk_id is not None:
        out["bulkId"] = operation.bulk_id
    if isinstance(outcome, ScimError):
        out["status"] = str(outcome.status)
        out["response"] = outcome.to_dict()
    else:
        version = outcome.header("etag")
        if version is not None:
            out["version"] = version
        out["status"] = str(outcome.status)
    return out


def bulk_response(entries: Sequence[dict[str, Any]]) -> ScimResponse:
    """The ``200`` answer listing ``entries``, in the order given."""
    return json_response({"schemas": [BULK_RESPONSE], "Operations": list(entries)})
