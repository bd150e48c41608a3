"""Each bulk operation run as the single request it stands for (RFC 7644 §3.7).

An operation goes through the handler a single request would
(:class:`~tomorro_scim.resources.ResourceHandlers` ``create``/``replace``/
``patch``/``delete``), so it gets that request's checks, events and status,
and its own storage session: **every operation is its own transaction**. It
runs in the tenant the bulk request authenticated as, and carries the bulk
request's ``User-Agent`` (the client its events name). An unexpected failure
of one operation (a storage fault) is logged at ERROR with the request id and
reported as that operation's ``500``; the others go on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from typing import Any

import attrs

from ..errors import InternalError
from ..errors import ScimError
from ..http import ScimRequest
from ..http import ScimResponse
from ..schemas import ResourceType

if TYPE_CHECKING:
    from ..resources import ResourceHandlers

__all__ = ["Subrequests"]

_errors = logging.getLogger("tomorro_scim.errors")


@attrs.frozen
class Subrequests:
    """Runs the operations of one bulk request through the resource handlers."""

    handlers: ResourceHandlers
    request: ScimRequest
    """The bulk request: its base URL and client are the operations'."""
    request_id: str
    tenant: str

    def location(self, resource_type: ResourceType, resource_id: str) -> str:
        """The URL of a resource, as the single request would give it."""
        return f"{self.request.base_url}{resource_type.endpoint}/{resource_id}"

    def _request(
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

    async def run(
        self,
        method: str,
        resource_type: ResourceType,
        resource_id: str | None,
        data: dict[str, Any] | None,
        version: str | None,
    ) -> ScimResponse | ScimError:
        """Run one operation through its handler, in its own transaction.

        :param version: the operation's ``If-Match``, if any.
        :returns: the handler's response, or the error a single request
            would have been answered with.
        """
        request = self._request(method, resource_type, resource_id)
        if version is not None:
            request = attrs.evolve(
                request, headers={**request.headers, "if-match": version}
            )
        handlers, request_id, tenant = self.handlers, self.request_id, self.tenant
        try:
            return await handlers.write(
                method, request, request_id, tenant, resource_type, resource_id, data
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
