"""Serve a :class:`~tomorro_scim.service.ScimService` as an ASGI app (Starlette, FastAPI).

Mount it under the SCIM base path::

    app.mount("/scim/v2", scim_app(service))

It translates the ASGI request into a :class:`~tomorro_scim.http.ScimRequest`
and the :class:`~tomorro_scim.http.ScimResponse` back, and nothing else. How
it calls the service depends on the storage, so the event loop never waits on
I/O: an async storage is awaited on the loop (``handle_async``); a
synchronous one that may block (a database) runs in Starlette's thread pool;
one that declares ``blocking = False`` (the in-memory one: pure CPU, no I/O)
is called on the loop itself, which saves the thread hop that costs more
than the request.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from ..http import ScimRequest
from ..service import ScimService
from ..storage.asynchronous import is_async_storage

__all__ = ["ScimApp", "scim_app"]


def _declared_length(request: Request) -> int:
    try:
        return max(0, int(request.headers.get("content-length") or 0))
    except ValueError:
        return 0


class ScimApp:
    """An ASGI application answering every path below its mount point."""

    def __init__(self, service: ScimService, *, offload: bool | None = None) -> None:
        self.service = service
        self.offload = (
            offload
            if offload is not None
            else bool(getattr(service.storage, "blocking", True))
        )
        """Run each request in the thread pool (the default for any
        synchronous storage that does not declare ``blocking = False``)."""
        self.awaits = is_async_storage(service.storage)
        """Await the service on the loop: its storage is async."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        declared = _declared_length(request)
        # An oversized body is refused (413) without being read into memory.
        too_large = declared > self.service.settings.max_body_bytes
        root = scope.get("root_path", "")
        path = scope.get("path", "/")
        scim_request = ScimRequest(
            method=request.method,
            path=path[len(root) :] if root and path.startswith(root) else path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=dict(request.headers),
            body=b"" if too_large else await request.body(),
            base_url=str(request.base_url).rstrip("/") + root,
            declared_length=declared,
        )
        if self.awaits:
            answer = await self.service.handle_async(scim_request)
        elif self.offload:
            answer = await run_in_threadpool(self.service.handle, scim_request)
        else:
            answer = self.service.handle(scim_request)
        response = Response(answer.body, answer.status, dict(answer.headers))
        await response(scope, receive, send)


def scim_app(service: ScimService, *, offload: bool | None = None) -> ScimApp:
    """The ASGI app serving ``service``; mount it at the SCIM base path.

    ``offload`` forces (``True``) or avoids (``False``) the thread pool; by
    default it is used unless the storage declares ``blocking = False``.
    """
    return ScimApp(service, offload=offload)
