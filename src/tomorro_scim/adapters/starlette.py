"""Serve a :class:`~tomorro_scim.service.ScimService` as an ASGI app (Starlette, FastAPI).

Mount it under the SCIM base path::

    app.mount("/scim/v2", scim_app(service))

It translates the ASGI request into a :class:`~tomorro_scim.http.ScimRequest`
and the :class:`~tomorro_scim.http.ScimResponse` back, and nothing else. It
speaks raw ASGI: the request is read from the scope and the ``receive``
channel, the answer written as two ``send`` messages, with no framework
request or response object in between.

How it calls the service depends on the storage, so the event loop never
waits on I/O: an async storage is awaited on the loop (``handle_async``), and
so is a synchronous one with a face for event loops (SQLite's
:class:`~tomorro_scim.storage.sql.SqlStorage`, whose statements run on the
loop and which suspends only to wait for a lock, see
:mod:`tomorro_scim.storage.sql.loop`); any other synchronous one that may
block (PostgreSQL's) runs on a thread pool the app owns; one that declares
``blocking = False`` (the in-memory one: pure CPU, no I/O) is called on the
loop itself. On the loop, the thread hop, which costs more than the request,
is saved.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from ipaddress import AddressValueError
from ipaddress import IPv6Address

from starlette.concurrency import run_in_threadpool
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from ..http import ScimRequest
from ..http import ScimResponse
from ..service import ScimService

__all__ = ["DEFAULT_THREADS", "ScimApp", "scim_app"]

DEFAULT_THREADS = 8
"""The most worker threads a blocking storage runs on at once, unless
``threads`` says otherwise (see :class:`ScimApp`)."""

_HOST = re.compile(
    # RFC 3986 §3.2.2 host and §3.2.3 port, as a Host header carries them
    # (RFC 9110 §7.2): a reg-name, or an IPv6 or IPvFuture literal in brackets.
    r"(?:[A-Za-z0-9\-._~%!$&'()*+,;=]+"
    r"|\[(?P<ip>[0-9A-Fa-f:.]+|[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\])"
    r"(?::(?P<port>[0-9]+))?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_running_loop = asyncio.get_running_loop
"""The asyncio loop running now (``RuntimeError`` under another library)."""
_NO_BODY_STATUSES = frozenset({204, 304})
"""Statuses that carry no body, hence no ``Content-Length`` (RFC 9110 §8.6)."""


def _valid_host(value: str) -> bool:
    """Whether a Host header names a host (and port) and nothing more; a value
    that is not one must not reach ``Location`` or ``meta.location``."""
    match = _HOST.fullmatch(value)
    if match is None:
        return False
    port = match["port"]
    if port is not None:
        digits = port.lstrip("0")
        if len(digits) > 5 or int(digits or "0") > 65535:
            return False
    address = match["ip"]
    if address is not None and address[0] not in "vV":
        try:
            IPv6Address(address)
        except AddressValueError:
            return False
    return True


def _origin(scope: Scope, host: str | None) -> str:
    """``scheme://host[:port]`` as the client reached the server, or ``""``.

    The ``Host`` header when it is a valid host, else the address the server
    listens on (``scope["server"]``, its port left out when it is the scheme's
    default), else nothing: the base URL is then a path. ``X-Forwarded-*``
    headers are not read here; a proxy-headers middleware (uvicorn's
    ``--proxy-headers``) rewrites the scope's scheme and client instead.
    """
    scheme: str = scope.get("scheme", "http")
    if host is not None and _valid_host(host):
        return f"{scheme}://{host}"
    server = scope.get("server")
    if server is None or server[1] is None:  # none, or a Unix socket
        return ""
    name, port = server
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    if port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{name}"
    return f"{scheme}://{name}:{port}"


def _declared_length(value: str | None) -> int:
    if not value:
        return 0
    try:
        return max(0, int(value))
    except ValueError:
        return 0


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, int] | None:
    """The whole request body and its size, or ``(b"", size)`` as soon as the
    size passes ``limit`` (the rest is left unread), or ``None`` when the
    client went away first."""
    message = await receive()
    if message["type"] != "http.request":
        return None
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return (body, len(body)) if len(body) <= limit else (b"", len(body))
    chunks = [body]
    size = len(body)
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            if size > limit:
                break
            return b"".join(chunks), size
    return b"", size


async def _respond(send: Send, answer: ScimResponse) -> None:
    status = answer.status
    body = answer.body
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in answer.headers
    ]
    if status >= 200 and status not in _NO_BODY_STATUSES:
        headers.append((b"content-length", str(len(body)).encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ScimApp:
    """An ASGI application answering every path below its mount point.

    :param service: the service to serve.
    :param offload: run each request on the app's worker threads (``True``)
        or on the event loop (``False``). By default a synchronous storage is
        offloaded unless it declares ``blocking = False`` or has a face for
        event loops (``on_event_loop()``, SQLite's), which is awaited; an
        async storage is always awaited on the loop.
    :param threads: the most worker threads that run requests at once.

    The worker threads (a :class:`~concurrent.futures.ThreadPoolExecutor`
    the app owns, cheaper per request than Starlette's AnyIO pool) start with
    the first offloaded request, and each request runs in a copy of the
    caller's :mod:`contextvars` context. They are joined by :meth:`close`, or
    by the ASGI lifespan shutdown when this app is the server's top-level
    app; a mounted app receives no lifespan events, so call :meth:`close`
    from the host app's own shutdown.
    """

    def __init__(
        self,
        service: ScimService,
        *,
        offload: bool | None = None,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.service = service
        self.awaits = service.awaits_storage and not offload
        """Await the service on the loop: its storage is async, or has a
        face for event loops (SQLite's) and ``offload`` is not ``True``."""
        self.offload = not self.awaits and (
            offload
            if offload is not None
            else bool(getattr(service.storage, "blocking", True))
        )
        """Run each request in the thread pool (the default for any other
        synchronous storage that does not declare ``blocking = False``)."""
        self.threads = threads
        """The most worker threads the pool runs at once."""
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._serve(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = self.service
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            if name not in headers:  # the first of a repeated header wins
                headers[name] = raw_value.decode("latin-1")
        limit = service.settings.max_body_bytes
        declared = _declared_length(headers.get("content-length"))
        if declared > limit:
            # An oversized body is refused (413) without being read.
            body = b""
        else:
            received = await _read_body(receive, limit)
            if received is None:
                return  # the client disconnected: nobody to answer
            body, size = received
            if size > limit:
                # Streamed past the limit (no Content-Length): 413 as well.
                declared = size
        root: str = scope.get("root_path", "")
        path: str = scope.get("path", "/")
        request = ScimRequest(
            method=scope["method"],
            path=path[len(root) :] if root and path.startswith(root) else path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            base_url=_origin(scope, headers.get("host")) + root,
            declared_length=declared,
        )
        if self.awaits:
            answer = await service.handle_async(request)
        elif self.offload:
            answer = await self._offloaded(request)
        else:
            answer = service.handle(request)
        await _respond(send, answer)

    async def _offloaded(self, request: ScimRequest) -> ScimResponse:
        """``service.handle(request)`` on the app's pool, in a copy of the
        caller's context (its context variables reach the service)."""
        try:
            loop = _running_loop()
        except RuntimeError:
            # Not asyncio (Starlette on trio): anyio's thread pool.
            return await run_in_threadpool(self.service.handle, request)
        context = contextvars.copy_context()
        answer: ScimResponse = await loop.run_in_executor(
            self._pool(), context.run, self.service.handle, request
        )
        return answer

    def _pool(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._executor_lock:
                executor = self._executor
                if executor is None:
                    executor = ThreadPoolExecutor(
                        max_workers=self.threads, thread_name_prefix="tomorro-scim"
                    )
                    self._executor = executor
        return executor

    def close(self) -> None:
        """Shut the thread pool down, once the requests in it are answered.

        Safe to call more than once; a request that arrives later starts a
        new pool.
        """
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Joining the threads may wait for a request: not on the loop.
                await run_in_threadpool(self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return


def scim_app(
    service: ScimService,
    *,
    offload: bool | None = None,
    threads: int = DEFAULT_THREADS,
) -> ScimApp:
    """The ASGI app serving ``service``; mount it at the SCIM base path.

    ``offload`` forces (``True``) or avoids (``False``) the thread pool; by
    default a synchronous storage uses it unless it declares
    ``blocking = False`` or has a face for event loops (SQLite's), and an
    async storage never does. ``threads`` caps the pool's worker threads
    (see :class:`ScimApp`).
    """
    return ScimApp(service, offload=offload, threads=threads)
