"""The async entry point: one set of handlers, driven with or without an event loop.

``ScimService.handle`` runs the handlers to completion with no loop over a
synchronous storage; ``handle_async`` awaits them over an async storage (here
one whose every call really suspends). The two must answer every request
byte for byte alike: that is what "no second copy of the handlers" buys.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Coroutine
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
from tests.suspending import SuspendingStorage

from tomorro_scim.auth import AsyncTokenManager
from tomorro_scim.auth import BearerTokenAuthenticator
from tomorro_scim.auth import TokenManager
from tomorro_scim.errors import Unauthorized
from tomorro_scim.events import Event
from tomorro_scim.events import EventBus
from tomorro_scim.http import ScimRequest
from tomorro_scim.http import ScimResponse
from tomorro_scim.service import ScimService
from tomorro_scim.service import ServiceSettings
from tomorro_scim.storage.asynchronous import SyncStorageBridge
from tomorro_scim.storage.asynchronous import as_async_storage
from tomorro_scim.storage.asynchronous import is_async_storage
from tomorro_scim.storage.asynchronous import run_sync
from tomorro_scim.storage.memory import MemoryStorage

TOKEN = "tenant-acme-secret-token-0123456789"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _service(storage: Any, events: list[Event]) -> ScimService:
    ids = itertools.count(1)
    bus = EventBus()
    bus.subscribe(events.append)
    return ScimService(
        storage,
        settings=ServiceSettings(cursor_secret=b"k" * 32, default_page_size=2),
        events=bus,
        clock=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        id_factory=lambda: f"id-{next(ids)}",
    )


def _request(method: str, path: str, body: Any = None, query: str = "") -> ScimRequest:
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Request-Id": "fixed"}
    if body is not None:
        headers["Content-Type"] = "application/scim+json"
    return ScimRequest(
        method,
        path,
        query=query,
        headers=headers,
        body=b"" if body is None else json.dumps(body).encode(),
        base_url="https://app.example.com/scim/v2",
    )


# An Entra-shaped round (IDP-DIALECTS §1-§4) plus the error and paging paths.
SCRIPT: list[tuple[str, str, Any, str]] = [
    ("GET", "/Users", None, 'filter=userName eq "probe-1234"'),
    (
        "POST",
        "/Users",
        {
            "schemas": [USER_URN],
            "userName": "ada@example.com",
            "userType": "admin",
            "active": True,
        },
        "",
    ),
    (
        "POST",
        "/Users",
        {
            "schemas": [USER_URN],
            "userName": "bob@example.com",
            "name": {"givenName": "Bob"},
        },
        "",
    ),
    ("POST", "/Users", {"schemas": [USER_URN], "userName": "ADA@example.com"}, ""),
    ("GET", "/Users/id-1", None, ""),
    ("GET", "/Users", None, 'filter=userName eq "bob@example.com"'),
    (
        "PATCH",
        "/Users/id-1",
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Replace", "path": "userType", "value": "manager"},
            ],
        },
        "",
    ),
    (
        "POST",
        "/Groups",
        {
            "schemas": [GROUP_URN],
            "displayName": "Legal",
            "members": [{"value": "id-1"}, {"value": "nobody"}],
        },
        "",
    ),
    (
        "PATCH",
        "/Groups/id-4",
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": "id-2"}]}
            ],
        },
        "",
    ),
    (
        "PATCH",
        "/Groups/id-4",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Remove", "path": 'members[value eq "id-1"]'}],
        },
        "",
    ),
    ("GET", "/Groups/id-4", None, ""),
    (
        "PUT",
        "/Users/id-2",
        {"schemas": [USER_URN], "userName": "bob@example.com", "userType": "bogus"},
        "",
    ),
    ("GET", "/Users", None, "cursor=&count=1"),
    ("GET", "/Users", None, "sortBy=userName&sortOrder=descending"),
    (
        "POST",
        "/Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName sw "b"',
        },
        "",
    ),
    ("DELETE", "/Users/id-1", None, ""),
    ("GET", "/Users/id-1", None, ""),
    ("GET", "/Groups/id-4", None, ""),
    ("DELETE", "/Groups/id-4", None, ""),
    ("GET", "/ServiceProviderConfig", None, ""),
]


def _answers_sync() -> tuple[list[ScimResponse], list[Event]]:
    events: list[Event] = []
    storage = MemoryStorage()
    TokenManager(storage).issue("acme", token=TOKEN)
    service = _service(storage, events)
    return [service.handle(_request(*step)) for step in SCRIPT], events


async def _answers_async() -> tuple[list[ScimResponse], list[Event]]:
    events: list[Event] = []
    storage = SuspendingStorage()
    await AsyncTokenManager(storage).issue("acme", token=TOKEN)
    service = _service(storage, events)
    return [await service.handle_async(_request(*step)) for step in SCRIPT], events


def _comparable(body: bytes) -> bytes:
    """The body, its cursor's tiebreak (a storage-private sequence number) blanked."""
    if b'"nextCursor"' not in body:
        return body
    document = json.loads(body)
    assert document["nextCursor"]
    document["nextCursor"] = "<cursor>"
    return json.dumps(document).encode()


def test_async_and_sync_paths_answer_alike() -> None:
    sync_answers, sync_events = _answers_sync()
    async_answers, async_events = asyncio.run(_answers_async())
    assert [a.status for a in sync_answers] == [
        200, 201, 201, 409, 200, 200, 200, 201, 204, 204, 200, 400,
        200, 200, 200, 204, 404, 200, 204, 200,
    ]  # fmt: skip
    for step, ours, theirs in zip(SCRIPT, sync_answers, async_answers, strict=True):
        assert (ours.status, ours.headers, _comparable(ours.body)) == (
            theirs.status,
            theirs.headers,
            _comparable(theirs.body),
        ), step
    assert sync_events == async_events


def test_handle_async_also_serves_a_synchronous_storage() -> None:
    events: list[Event] = []
    storage = MemoryStorage()
    TokenManager(storage).issue("acme", token=TOKEN)
    service = _service(storage, events)

    async def run() -> list[int]:
        return [(await service.handle_async(_request(*s))).status for s in SCRIPT[:3]]

    assert asyncio.run(run()) == [200, 201, 201]


def test_handle_refuses_an_async_storage() -> None:
    service = ScimService(SuspendingStorage())
    with pytest.raises(TypeError, match="handle_async"):
        service.handle(_request("GET", "/Users"))


def test_run_sync_refuses_a_coroutine_that_suspends() -> None:
    closed = []

    async def suspends() -> int:
        try:
            await asyncio.sleep(0)
        finally:
            closed.append(True)
        return 1

    with pytest.raises(RuntimeError, match="handle_async"):
        run_sync(suspends())
    assert closed == [True]


def test_run_sync_returns_and_raises_like_a_call() -> None:
    async def answer() -> int:
        return 42

    async def fails() -> int:
        raise ValueError("boom")

    assert run_sync(answer()) == 42
    with pytest.raises(ValueError, match="boom"):
        run_sync(fails())


def test_bridge_commits_and_rolls_back_like_the_storage() -> None:
    storage = MemoryStorage()
    bridge = as_async_storage(storage)
    assert isinstance(bridge, SyncStorageBridge)
    assert as_async_storage(bridge) is bridge
    assert is_async_storage(bridge)
    assert not is_async_storage(storage)
    document = {"id": "u1", "userName": "a@example.com", "meta": {}}

    async def fail_after_create() -> None:
        async with bridge.session("t") as session:
            await session.create("User", dict(document))
            raise ValueError("undo")

    async def create_then_read() -> Any:
        async with bridge.session("t") as session:
            await session.create("User", dict(document))
        async with bridge.session("t") as session:
            return await session.get("User", "u1")

    with pytest.raises(ValueError, match="undo"):
        run_sync(fail_after_create())
    with storage.session("t") as session:
        assert session.get("User", "u1") is None
    assert run_sync(create_then_read()).document["userName"] == "a@example.com"


def test_bearer_tokens_on_an_async_storage() -> None:
    storage = SuspendingStorage()
    authenticate = BearerTokenAuthenticator(storage)

    async def run() -> tuple[str, str]:
        issued = await AsyncTokenManager(storage).issue("acme")
        found = authenticate(
            ScimRequest(
                "GET", "/Users", headers={"Authorization": f"Bearer {issued.token}"}
            )
        )
        assert isinstance(found, Coroutine)
        tenant = await found
        await AsyncTokenManager(storage).revoke(issued.record.token_id)
        refused = authenticate(
            ScimRequest(
                "GET", "/Users", headers={"Authorization": f"Bearer {issued.token}"}
            )
        )
        assert not isinstance(refused, str)
        with pytest.raises(Unauthorized, match="revoked"):
            await refused
        return tenant, issued.record.tenant

    assert asyncio.run(run()) == ("acme", "acme")


def test_synchronous_token_manager_refuses_an_async_storage() -> None:
    with pytest.raises(RuntimeError, match="handle_async"):
        TokenManager(SuspendingStorage()).tokens("acme")  # type: ignore[arg-type]
