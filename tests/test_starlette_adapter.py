"""The Starlette (ASGI) adapter, driven by raw ASGI calls.

Each test builds the scope and the ``receive`` messages an ASGI server would,
and reads back the messages the app sends: the path relative to the mount
(``root_path``), the query string, the headers, the base URL behind
``Location`` and ``meta.location`` (RFC 7644 §3.1, RFC 7643 §3.1), the 413 of
an oversized body (RFC 9110 §15.5.14) announced or streamed, the thread pool
of a blocking storage (its lifespan, its context, its size) and how each kind
of storage is called.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import MutableMapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from tests.suspending import SuspendingStorage

from tomorro_scim.adapters import starlette as adapter
from tomorro_scim.adapters.starlette import ScimApp
from tomorro_scim.adapters.starlette import scim_app
from tomorro_scim.auth import AsyncTokenManager
from tomorro_scim.auth import TokenManager
from tomorro_scim.http import ScimRequest
from tomorro_scim.http import ScimResponse
from tomorro_scim.service import ScimService
from tomorro_scim.service import ServiceSettings
from tomorro_scim.storage.memory import MemoryStorage
from tomorro_scim.storage.sql import SqlStorage

TOKEN = "adapter-test-token-0123456789abcdef"
ROOT = "/scim/v2"
AUTH = (b"authorization", f"Bearer {TOKEN}".encode())
SCIM_JSON = (b"content-type", b"application/scim+json")
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"

Message = dict[str, Any]


@attrs.define
class Exchange:
    """What the app sent back, and how often it asked for the body."""

    messages: list[Message]
    receives: int

    @property
    def status(self) -> int:
        status: int = self.messages[0]["status"]
        return status

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = self.messages[0]["headers"]
        return headers

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name.encode():
                return value.decode("latin-1")
        return None

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])

    def json(self) -> Any:
        return json.loads(self.body)


def http_scope(
    method: str,
    path: str,
    *,
    query: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    root_path: str = ROOT,
    host: bytes | None = b"testserver",
    scheme: str = "http",
    server: tuple[str, int | None] | None = ("127.0.0.1", 8000),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The scope a server (and Starlette's ``Mount``) hands the app: ``path``
    is the full path, ``root_path`` the part of it the mount consumed."""
    raw = [(b"host", host)] if host is not None else []
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": query,
        "headers": raw + list(headers),
        "server": server,
        "client": ("127.0.0.1", 50000),
    }
    scope.update(extra or {})
    return scope


async def call(
    app: Any,
    scope: dict[str, Any],
    chunks: Sequence[bytes] = (b"",),
    *,
    disconnect: bool = False,
) -> Exchange:
    """Run ``app`` on ``scope``; the body arrives as ``chunks`` (one
    ``http.request`` message each), then a disconnect if ``disconnect``.
    Asking for more than that fails the test: a real server would hang."""
    incoming: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        incoming[-1]["more_body"] = True
        incoming.append({"type": "http.disconnect"})
    sent: list[Message] = []
    asked = 0

    async def receive() -> Message:
        nonlocal asked
        if asked == len(incoming):
            raise AssertionError("the app read past the end of the body")
        asked += 1
        return incoming[asked - 1]

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return Exchange(sent, asked)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def user_body(user_name: str, *, pad_to: int = 0) -> bytes:
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": user_name}).encode()
    return body + b" " * max(0, pad_to - len(body))  # RFC 8259 §2: whitespace


@attrs.define
class Seen:
    """What reached ``ScimService.handle``/``handle_async``, and where."""

    requests: list[ScimRequest] = attrs.Factory(list)
    threads: list[threading.Thread] = attrs.Factory(list)
    awaited: list[ScimRequest] = attrs.Factory(list)
    """Those that reached ``handle_async``."""


def watch(service: ScimService, monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Record every request the service is handed, at ``handle`` or at
    ``handle_async`` (neither calls the other), and the thread it runs on."""
    seen = Seen()
    handle, handle_async = service.handle, service.handle_async

    def recorded(request: ScimRequest) -> ScimResponse:
        seen.requests.append(request)
        seen.threads.append(threading.current_thread())
        return handle(request)

    async def recorded_async(request: ScimRequest) -> ScimResponse:
        seen.requests.append(request)
        seen.threads.append(threading.current_thread())
        seen.awaited.append(request)
        return await handle_async(request)

    monkeypatch.setattr(service, "handle_async", recorded_async)
    monkeypatch.setattr(service, "handle", recorded)
    return seen


@pytest.fixture
def memory_service() -> ScimService:
    storage = MemoryStorage()
    TokenManager(storage).issue("acme", token=TOKEN)
    return ScimService(storage, settings=ServiceSettings(max_body_bytes=256))


class BlockingMemoryStorage(MemoryStorage):
    """A storage the adapter takes to block (as PostgreSQL's does): it has
    no face for event loops and does not declare ``blocking = False``."""

    blocking = True


@pytest.fixture
def blocking_service() -> ScimService:
    storage = BlockingMemoryStorage()
    TokenManager(storage).issue("acme", token=TOKEN)
    return ScimService(storage, settings=ServiceSettings(max_body_bytes=256))


@pytest.fixture
def sqlite_service(tmp_path: Path) -> Iterator[ScimService]:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'adapter.db'}")
    TokenManager(storage).issue("acme", token=TOKEN)
    yield ScimService(storage, settings=ServiceSettings(max_body_bytes=256))
    storage.close()


@pytest.fixture
def async_service() -> ScimService:
    storage = SuspendingStorage()
    run(AsyncTokenManager(storage).issue("acme", token=TOKEN))
    return ScimService(storage)


# -- the request the service sees --------------------------------------------------


def test_path_is_relative_to_the_mount(
    memory_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watch(memory_service, monkeypatch)
    app = scim_app(memory_service)
    run(call(app, http_scope("GET", "/Users/abc", headers=[AUTH])))
    run(call(app, http_scope("GET", "/Users", headers=[AUTH], root_path="")))
    # A root_path the path does not start with is no prefix to strip.
    scope = http_scope("GET", "/Users", headers=[AUTH])
    scope["root_path"] = "/elsewhere"
    run(call(app, scope))
    assert [r.path for r in seen.requests] == ["/Users/abc", "/Users", ROOT + "/Users"]
    assert [r.method for r in seen.requests] == ["GET"] * 3


def test_mounted_under_a_server_root_path(
    memory_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a proxy that strips ``/api`` (uvicorn ``--root-path /api``) and
    mounted at ``/scim/v2``: the service sees ``/Users`` and the base URL
    names both prefixes, once each."""
    seen = watch(memory_service, monkeypatch)
    host_app = Starlette(routes=[Mount(ROOT, app=scim_app(memory_service))])
    scope = http_scope("GET", ROOT + "/Users", headers=[AUTH], root_path="/api")
    answer = run(call(host_app, scope))
    assert answer.status == 200
    (request,) = seen.requests
    assert request.path == "/Users"
    assert request.base_url == "http://testserver/api/scim/v2"


def test_query_string_is_passed_as_sent(
    memory_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The raw query string (RFC 7644 §3.4.2.2 filter, both space encodings
    of IDP-DIALECTS §2.1) reaches the service, which decodes it."""
    seen = watch(memory_service, monkeypatch)
    app = scim_app(memory_service)
    created = run(
        call(
            app,
            http_scope("POST", "/Users", headers=[AUTH, SCIM_JSON]),
            [user_body("a+b@example.com")],
        )
    )
    assert created.status == 201
    for query in (
        b"filter=userName+eq+%22a%2Bb%40example.com%22&count=5",
        b"filter=userName%20eq%20%22a%2Bb%40example.com%22&count=5",
    ):
        answer = run(
            call(app, http_scope("GET", "/Users", query=query, headers=[AUTH]))
        )
        assert answer.status == 200
        assert answer.json()["totalResults"] == 1
        assert seen.requests[-1].query == query.decode()
        assert seen.requests[-1].query_params() == {
            "filter": 'userName eq "a+b@example.com"',
            "count": "5",
        }


def test_header_names_are_folded_and_the_first_repeat_wins(
    memory_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watch(memory_service, monkeypatch)
    app = scim_app(memory_service)
    headers = [
        AUTH,
        (b"x-request-id", b"first-id"),
        (b"x-request-id", b"second-id"),
        (b"X-Tenant-Hint", b"folded"),  # a server that forgot to fold it
        (b"x-caf\xe9", b"cr\xe8me"),  # latin-1, as ASGI header bytes are
    ]
    answer = run(call(app, http_scope("GET", "/Users", headers=headers)))
    assert answer.status == 200
    assert answer.header("x-request-id") == "first-id"
    (request,) = seen.requests
    assert request.headers["x-request-id"] == "first-id"
    assert request.headers["x-tenant-hint"] == "folded"
    assert request.headers["x-caf\xe9"] == "cr\xe8me"
    assert request.header("Authorization") == f"Bearer {TOKEN}"


# -- the base URL (Location, meta.location) ----------------------------------------


@pytest.mark.parametrize(
    ("scheme", "host", "server", "origin"),
    [
        ("http", b"testserver", ("127.0.0.1", 8000), "http://testserver"),
        ("https", b"scim.example.com:8443", None, "https://scim.example.com:8443"),
        ("http", b"[::1]:8000", None, "http://[::1]:8000"),
        ("http", b"[v1.fe80::a+en1]", None, "http://[v1.fe80::a+en1]"),
        # No Host header: the server's address, its default port left out.
        ("http", None, ("10.0.0.5", 80), "http://10.0.0.5"),
        ("https", None, ("10.0.0.5", 443), "https://10.0.0.5"),
        ("http", None, ("10.0.0.5", 8080), "http://10.0.0.5:8080"),
        ("https", None, ("::1", 8443), "https://[::1]:8443"),
        # A Host header that is no host[:port] never reaches a URL.
        ("http", b"evil.example/phish?", ("10.0.0.5", 8080), "http://10.0.0.5:8080"),
        ("http", b"user@evil.example", ("10.0.0.5", 8080), "http://10.0.0.5:8080"),
        ("http", b"example.com:99999", ("10.0.0.5", 8080), "http://10.0.0.5:8080"),
        ("http", b"example.com:", ("10.0.0.5", 8080), "http://10.0.0.5:8080"),
        ("http", b"[::zz]", ("10.0.0.5", 8080), "http://10.0.0.5:8080"),
        ("http", b"", ("10.0.0.5", 8080), "http://10.0.0.5:8080"),
        # Neither: a base URL relative to the host.
        ("http", None, None, ""),
        ("http", None, ("/run/scim.sock", None), ""),  # a Unix socket
    ],
)
def test_base_url_from_the_host_header_or_the_server(
    memory_service: ScimService,
    scheme: str,
    host: bytes | None,
    server: tuple[str, int | None] | None,
    origin: str,
) -> None:
    """RFC 7643 §3.1 ``meta.location`` and RFC 7644 §3.1 ``Location`` are the
    URL the client reached: ``scheme://Host`` (RFC 9110 §7.2) and the mount."""
    app = scim_app(memory_service)
    scope = http_scope(
        "POST",
        "/Users",
        headers=[AUTH, SCIM_JSON],
        scheme=scheme,
        host=host,
        server=server,
    )
    answer = run(call(app, scope, [user_body("loc@example.com")]))
    assert answer.status == 201
    location = f"{origin}{ROOT}/Users/{answer.json()['id']}"
    assert answer.header("location") == location
    assert answer.json()["meta"]["location"] == location
    discovery = run(
        call(app, http_scope("GET", "/ServiceProviderConfig", **_net(scope)))
    )
    assert (
        discovery.json()["meta"]["location"] == f"{origin}{ROOT}/ServiceProviderConfig"
    )


def _net(scope: dict[str, Any]) -> dict[str, Any]:
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    return {"scheme": scope["scheme"], "host": host, "server": scope["server"]}


def test_forwarded_headers_are_not_read_by_the_adapter(
    memory_service: ScimService,
) -> None:
    """``X-Forwarded-*`` is a proxy-headers middleware's business (uvicorn's
    rewrites the scope): the adapter trusts the scope and the Host header."""
    app = scim_app(memory_service)
    headers = [
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"evil.example"),
    ]
    answer = run(
        call(app, http_scope("GET", "/ServiceProviderConfig", headers=headers))
    )
    assert answer.json()["meta"]["location"] == (
        f"http://testserver{ROOT}/ServiceProviderConfig"
    )


# -- the body -----------------------------------------------------------------------


def test_declared_oversized_body_is_413_unread(memory_service: ScimService) -> None:
    """RFC 9110 §15.5.14: a Content-Length past ``max_body_bytes`` is refused
    before a byte of the body is read."""
    app = scim_app(memory_service)
    headers = [AUTH, SCIM_JSON, (b"content-length", b"257")]
    answer = run(call(app, http_scope("POST", "/Users", headers=headers), [b"x" * 257]))
    assert answer.receives == 0
    assert answer.status == 413
    assert answer.json()["status"] == "413"
    assert answer.header("content-type") == "application/scim+json"


def test_streamed_oversized_body_is_413_once_past_the_limit(
    memory_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunked body (no Content-Length) is read only until it passes the
    limit: 256 bytes, so the fifth 60-byte chunk of ten ends the reading."""
    seen = watch(memory_service, monkeypatch)
    app = scim_app(memory_service)
    scope = http_scope("POST", "/Users", headers=[AUTH, SCIM_JSON])
    answer = run(call(app, scope, [b"x" * 60] * 10))
    assert answer.receives == 5
    assert answer.status == 413
    assert "300 bytes" in answer.json()["detail"]
    assert seen.requests[0].body == b""


@pytest.mark.parametrize("chunks", [1, 3])
def test_body_at_the_limit_is_read_whole(
    memory_service: ScimService, chunks: int
) -> None:
    app = scim_app(memory_service)
    body = user_body("exact@example.com", pad_to=256)
    size = len(body) // chunks + 1
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    assert len(parts) == chunks
    scope = http_scope("POST", "/Users", headers=[AUTH, SCIM_JSON])
    answer = run(call(app, scope, parts))
    assert answer.status == 201
    assert answer.json()["userName"] == "exact@example.com"
    over = run(call(app, scope, [*parts, b" "]))
    assert over.status == 413


def test_client_gone_before_the_body_ends_gets_no_answer(
    memory_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watch(memory_service, monkeypatch)
    scope = http_scope("POST", "/Users", headers=[AUTH, SCIM_JSON])
    answer = run(call(scim_app(memory_service), scope, [b'{"userN'], disconnect=True))
    assert answer.messages == []
    assert seen.requests == []


# -- the response ---------------------------------------------------------------------


def test_response_carries_status_headers_and_length(
    memory_service: ScimService,
) -> None:
    app = scim_app(memory_service)
    scope = http_scope("POST", "/Users", headers=[AUTH, SCIM_JSON])
    created = run(call(app, scope, [user_body("len@example.com")]))
    assert created.status == 201
    assert created.header("content-length") == str(len(created.body))
    assert created.header("content-type") == "application/scim+json"
    assert created.header("etag") == created.json()["meta"]["version"]
    assert all(name == name.lower() for name, _ in created.headers)
    resource = f"/Users/{created.json()['id']}"
    deleted = run(call(app, http_scope("DELETE", resource, headers=[AUTH])))
    # RFC 9110 §8.6: no Content-Length on a 204.
    assert (deleted.status, deleted.body, deleted.header("content-length")) == (
        204,
        b"",
        None,
    )
    assert deleted.header("x-request-id")
    refused = run(call(app, http_scope("GET", "/Users")))
    assert refused.status == 401
    assert refused.header("www-authenticate") == 'Bearer realm="SCIM"'


def test_other_scopes_are_ignored(memory_service: ScimService) -> None:
    scope = {"type": "websocket", "path": ROOT, "headers": []}
    assert run(call(scim_app(memory_service), scope)).messages == []


# -- how each storage is called -----------------------------------------------------


def test_async_storage_is_awaited_on_the_loop(
    async_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watch(async_service, monkeypatch)

    def refused(request: ScimRequest) -> ScimResponse:
        raise AssertionError("an async storage went through handle()")

    async def scenario() -> Exchange:
        app = scim_app(async_service)
        assert app.awaits
        scope = http_scope("POST", "/Users", headers=[AUTH, SCIM_JSON])
        monkeypatch.setattr(async_service, "handle", refused)
        return await call(app, scope, [user_body("async@example.com")])

    answer = run(scenario())
    assert answer.status == 201
    assert seen.threads == [threading.main_thread()]


def test_blocking_storage_is_offloaded(
    blocking_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watch(blocking_service, monkeypatch)
    app = scim_app(blocking_service)
    assert app.offload
    assert not app.awaits
    scope = http_scope("POST", "/Users", headers=[AUTH, SCIM_JSON])
    answer = run(call(app, scope, [user_body("blocking@example.com")]))
    assert answer.status == 201
    (thread,) = seen.threads
    assert thread is not threading.main_thread()
    assert thread.name.startswith("tomorro-scim")
    app.close()


def test_sqlite_is_awaited_on_the_loop_unless_told(
    sqlite_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's storage has a face for event loops: the adapter awaits
    ``handle_async`` on the loop's own thread, and never calls ``handle``;
    ``offload=True`` still sends every request to the pool."""
    seen = watch(sqlite_service, monkeypatch)
    inline = scim_app(sqlite_service)
    forced = scim_app(sqlite_service, offload=True)
    assert inline.awaits
    assert not inline.offload
    assert forced.offload
    assert not forced.awaits
    scope = http_scope("POST", "/Users", headers=[AUTH, SCIM_JSON])
    created = run(call(inline, scope, [user_body("loop@example.com")]))
    assert created.status == 201
    assert seen.awaited == seen.requests
    assert seen.threads == [threading.main_thread()]
    scope = http_scope("GET", f"/Users/{created.json()['id']}", headers=[AUTH])
    assert run(call(forced, scope)).status == 200
    assert len(seen.awaited) == 1
    assert seen.threads[1].name.startswith("tomorro-scim")
    forced.close()


def test_non_blocking_storage_runs_on_the_loop_unless_told(
    memory_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watch(memory_service, monkeypatch)
    inline = scim_app(memory_service)
    forced = scim_app(memory_service, offload=True)
    assert not inline.offload
    assert forced.offload
    for app in (inline, forced):
        assert run(call(app, http_scope("GET", "/Users", headers=[AUTH]))).status == 200
    assert seen.threads[0] is threading.main_thread()
    assert seen.threads[1].name.startswith("tomorro-scim")
    forced.close()


def test_the_loop_runs_while_a_blocking_request_waits(
    blocking_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The offloaded ``handle`` waits for an event only the event loop sets:
    on the loop it would wait out its timeout; on the pool it is released."""
    released = threading.Event()
    waited: list[bool] = []
    handle = blocking_service.handle

    def waiting(request: ScimRequest) -> ScimResponse:
        waited.append(released.wait(timeout=10))
        return handle(request)

    monkeypatch.setattr(blocking_service, "handle", waiting)
    app = scim_app(blocking_service)

    async def scenario() -> Exchange:
        request = asyncio.ensure_future(
            call(app, http_scope("GET", "/Users", headers=[AUTH]))
        )
        await asyncio.sleep(0.05)
        released.set()
        return await request

    started = time.monotonic()
    assert run(scenario()).status == 200
    assert waited == [True]
    assert time.monotonic() - started < 5
    app.close()


def test_context_variables_reach_the_offloaded_service(
    blocking_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host app's context (a request-scoped variable set by its middleware)
    is the context ``handle`` runs in, on the pool's thread."""
    trace = contextvars.ContextVar[str]("trace", default="unset")
    observed: list[tuple[str, str]] = []
    handle = blocking_service.handle

    def observing(request: ScimRequest) -> ScimResponse:
        observed.append((threading.current_thread().name, trace.get()))
        return handle(request)

    monkeypatch.setattr(blocking_service, "handle", observing)
    app = scim_app(blocking_service)

    async def with_trace(value: str) -> Exchange:
        trace.set(value)
        return await call(app, http_scope("GET", "/Users", headers=[AUTH]))

    async def scenario() -> None:
        await asyncio.gather(with_trace("first"), with_trace("second"))

    run(scenario())
    assert sorted(value for _, value in observed) == ["first", "second"]
    assert all(name.startswith("tomorro-scim") for name, _ in observed)
    app.close()


def test_the_pool_runs_at_most_threads_requests(
    blocking_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    handle = blocking_service.handle

    def slow(request: ScimRequest) -> ScimResponse:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.1)  # a wait (the GIL free): another thread is worth it
        with lock:
            running -= 1
        return handle(request)

    monkeypatch.setattr(blocking_service, "handle", slow)
    app = scim_app(blocking_service, threads=2)

    async def scenario() -> list[Exchange]:
        scope = http_scope("GET", "/Users", headers=[AUTH])
        return await asyncio.gather(*(call(app, scope) for _ in range(6)))

    assert [a.status for a in run(scenario())] == [200] * 6
    assert most == 2
    app.close()
    with pytest.raises(ValueError, match="at least 1"):
        scim_app(blocking_service, threads=0)


def test_without_asyncio_anyio_threads_carry_the_request(
    blocking_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under another loop (Starlette on trio) the request still leaves the
    loop, on anyio's worker threads."""
    seen = watch(blocking_service, monkeypatch)

    def no_asyncio_loop() -> asyncio.AbstractEventLoop:
        raise RuntimeError("no running event loop")

    monkeypatch.setattr(adapter, "_running_loop", no_asyncio_loop)
    app = scim_app(blocking_service)
    assert run(call(app, http_scope("GET", "/Users", headers=[AUTH]))).status == 200
    (thread,) = seen.threads
    assert thread is not threading.main_thread()
    assert not thread.name.startswith("tomorro-scim")


# -- the pool's lifespan ------------------------------------------------------------


def lifespan_driver(
    app: ScimApp,
) -> tuple[Callable[[str], Any], Callable[[], Any], list[Message]]:
    """``(post, start, sent)``: post a lifespan event, start the lifespan task."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    sent: list[Message] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    def start() -> Any:
        return asyncio.ensure_future(app({"type": "lifespan"}, inbox.get, send))

    def post(kind: str) -> Any:
        return inbox.put_nowait({"type": kind})

    return post, start, sent


def test_lifespan_shutdown_closes_the_pool(
    blocking_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Served as the top-level app, the pool's threads are joined at the ASGI
    lifespan shutdown."""
    seen = watch(blocking_service, monkeypatch)
    app = scim_app(blocking_service)

    async def scenario() -> list[Message]:
        post, start, sent = lifespan_driver(app)
        task = start()
        post("lifespan.startup")
        for _ in range(1000):  # at most about a second
            if sent or task.done():
                break
            await asyncio.sleep(0.001)
        assert sent == [{"type": "lifespan.startup.complete"}]
        scope = http_scope("GET", "/Users", headers=[AUTH], root_path="")
        assert (await call(app, scope)).status == 200
        assert seen.threads[0].is_alive()
        post("lifespan.shutdown")
        await asyncio.wait_for(task, timeout=10)
        return sent

    assert run(scenario()) == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
    assert not seen.threads[0].is_alive()


def test_close_joins_the_threads_and_a_later_request_starts_anew(
    blocking_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watch(blocking_service, monkeypatch)
    app = scim_app(blocking_service)
    app.close()  # nothing started yet: nothing to do
    scope = http_scope("GET", "/Users", headers=[AUTH])
    assert run(call(app, scope)).status == 200
    app.close()
    app.close()
    assert not seen.threads[0].is_alive()
    assert run(call(app, scope)).status == 200
    assert seen.threads[1] is not seen.threads[0]
    assert seen.threads[1].is_alive()
    app.close()
    assert not seen.threads[1].is_alive()


# -- the pool's threads ------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
def test_a_stalled_request_does_not_hold_up_the_next(
    blocking_service: ScimService, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """The first request waits (a lock, a slow scan); with a second thread the
    next request is answered meanwhile. With ``threads=1`` it waits."""
    released = threading.Event()
    ran: dict[str, threading.Thread] = {}
    handle = blocking_service.handle

    def maybe_stuck(request: ScimRequest) -> ScimResponse:
        ran[request.query] = threading.current_thread()
        if request.query == "stuck":
            assert released.wait(timeout=10)
        return handle(request)

    monkeypatch.setattr(blocking_service, "handle", maybe_stuck)
    app = scim_app(blocking_service, threads=threads)

    async def scenario() -> tuple[bool, list[int]]:
        stuck = asyncio.ensure_future(
            call(app, http_scope("GET", "/Users", query=b"stuck", headers=[AUTH]))
        )
        await asyncio.sleep(0.02)
        quick = asyncio.ensure_future(
            call(app, http_scope("GET", "/Users", query=b"quick", headers=[AUTH]))
        )
        done, _ = await asyncio.wait({quick}, timeout=5 if threads > 1 else 0.3)
        overtaken = quick in done and not stuck.done()
        released.set()
        return overtaken, [(await stuck).status, (await quick).status]

    overtaken, statuses = run(scenario())
    assert statuses == [200, 200]
    assert overtaken is (threads > 1)
    if threads == 1:
        assert ran["quick"] is ran["stuck"]
    app.close()
    assert not ran["stuck"].is_alive()


def test_an_exception_in_the_pool_reaches_the_awaiting_request(
    blocking_service: ScimService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``handle`` never raises; should a wrapper of it raise, the request
    fails with that error instead of hanging."""

    def broken(request: ScimRequest) -> ScimResponse:
        raise LookupError("from the worker thread")

    monkeypatch.setattr(blocking_service, "handle", broken)
    app = scim_app(blocking_service)
    with pytest.raises(LookupError, match="from the worker thread"):
        run(call(app, http_scope("GET", "/Users", headers=[AUTH])))
    app.close()
