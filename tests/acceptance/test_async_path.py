"""The Entra and Okta flows again, on the async path.

Every test of ``test_entra.py`` and ``test_okta.py`` is collected here a
second time (as ``test_entra_…`` and ``test_okta_…``), with this module's
fixtures in place of the conftest's: the service's storage is an async one,
so the Starlette adapter awaits ``ScimService.handle_async`` on its event
loop, with no thread pool. Each flow runs on two async storages: the memory
storage behind coroutines that all suspend (``tests/suspending.py``) and
``AsyncSqlStorage`` on a SQLite file through aiosqlite.

What a flow reads of the storage directly (``storage.session(...)``) it reads
through :func:`~tomorro_scim.testing.blocking_view`, waiting on the test
client's own event loop, the one the storage serves. Every flow takes the
``entra`` or ``okta`` client, and here both come with a check that the
flow's requests went through ``handle_async`` (at least one) and none
through ``handle``, on the async storage under test.

One flow watches the storage by replacing its ``session`` with a synchronous
one, which an async service cannot enter; its async counterpart is written
out below.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from tests.suspending import SuspendingStorage

from tomorro_scim.adapters.starlette import ScimApp
from tomorro_scim.adapters.starlette import scim_app
from tomorro_scim.events import EventBus
from tomorro_scim.http import ScimRequest
from tomorro_scim.http import ScimResponse
from tomorro_scim.service import ScimService
from tomorro_scim.service import ServiceSettings
from tomorro_scim.storage.asynchronous import AsyncStorage
from tomorro_scim.storage.asynchronous import is_async_storage
from tomorro_scim.storage.sql.asyncio import AsyncSqlStorage
from tomorro_scim.testing import BlockingStorage
from tomorro_scim.testing import blocking_view

from . import test_entra
from . import test_okta
from .conftest import BASE_URL
from .conftest import SCIM_ROOT
from .conftest import EventRecorder
from .conftest import Idp
from .conftest import TestClient
from .conftest import list_ids
from .test_entra import add_members
from .test_entra import new_group
from .test_entra import new_user
from .test_entra import q

WRITTEN_OUT = {"test_excluded_members_on_get_and_list"}
"""Flows that patch the storage with synchronous code: rewritten below."""


def _flows(module: ModuleType, idp: str) -> dict[str, Callable[..., None]]:
    """The module's tests, named ``test_<idp>_<name>`` here."""
    return {
        f"test_{idp}_{name.removeprefix('test_')}": flow
        for name, flow in vars(module).items()
        if name.startswith("test_")
        and inspect.isfunction(flow)
        and name not in WRITTEN_OUT
    }


ENTRA = _flows(test_entra, "entra")
OKTA = _flows(test_okta, "okta")
globals().update(ENTRA)
globals().update(OKTA)


# -- the fixtures that put the flows on the async path ---------------------------


@pytest.fixture(params=["suspending", "aiosqlite"])
def async_storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncStorage:
    if request.param == "suspending":
        return SuspendingStorage()
    return AsyncSqlStorage(f"sqlite+aiosqlite:///{tmp_path / 'scim.db'}")


@pytest.fixture
def service(
    async_storage: AsyncStorage,
    settings: ServiceSettings,
    bus: EventBus,
    recorder: EventRecorder,
) -> ScimService:
    return ScimService(async_storage, settings=settings, events=bus)


@pytest.fixture
def app(service: ScimService) -> Starlette:
    return Starlette(routes=[Mount(SCIM_ROOT, app=scim_app(service))])


@pytest.fixture
def client(app: Starlette, async_storage: AsyncStorage) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client
        if isinstance(async_storage, AsyncSqlStorage):
            test_client.portal.call(async_storage.close)


@pytest.fixture
def storage(async_storage: AsyncStorage, client: TestClient) -> BlockingStorage:
    """The async storage seen synchronously, on the loop the app runs on (an
    async engine serves one loop): for the flows' own reads, and the
    conftest's token manager."""
    portal = client.portal
    assert portal is not None

    def run(coroutine: Any) -> Any:
        return portal.call(lambda: coroutine)

    return blocking_view(async_storage, run)


@pytest.fixture
def on_the_async_path(
    service: ScimService,
    app: Starlette,
    async_storage: AsyncStorage,
    issued: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[list[str]]:
    """Every flow here runs through ``handle_async`` on the async storage."""
    assert service.storage is async_storage
    assert is_async_storage(service.storage)
    mounted = app.routes[0]
    assert isinstance(mounted, Mount)
    assert isinstance(mounted.app, ScimApp)
    assert mounted.app.awaits
    awaited: list[str] = []
    handle_async = service.handle_async

    async def counted(request: ScimRequest) -> ScimResponse:
        awaited.append(request.path)
        return await handle_async(request)

    def refused(request: ScimRequest) -> ScimResponse:
        raise AssertionError(f"{request.path} went through the synchronous handle()")

    monkeypatch.setattr(service, "handle_async", counted)
    monkeypatch.setattr(service, "handle", refused)
    yield awaited
    assert awaited, "no request reached handle_async"


# Every flow takes the ``entra`` or the ``okta`` client: each is the
# conftest's, once the check above is in place.


@pytest.fixture
def entra(entra: Idp, on_the_async_path: list[str]) -> Idp:
    return entra


@pytest.fixture
def okta(okta: Idp, on_the_async_path: list[str]) -> Idp:
    return okta


def test_every_flow_is_collected_here() -> None:
    names = [n for n in vars(test_entra) if n.startswith("test_")]
    names += [n for n in vars(test_okta) if n.startswith("test_")]
    assert len(ENTRA) + len(OKTA) + len(WRITTEN_OUT) == len(names)
    assert len(ENTRA) > 30
    assert len(OKTA) > 20
    for name, flow in (ENTRA | OKTA).items():
        assert globals()[name] is flow
        assert {"entra", "okta"} & set(inspect.signature(flow).parameters), name


# -- the flow written out for the async path -------------------------------------


def test_entra_excluded_members_are_never_loaded(
    entra: Idp, async_storage: AsyncStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IDP-DIALECTS §0 rule 8, §2.5 ``excludedAttributes=members`` (as
    ``test_entra.test_excluded_members_on_get_and_list``, watching the async
    session): no ``members`` key on a GET by id nor in a listed group, and the
    members are never loaded from the storage (issue 4 §3)."""
    users = [new_user(entra, f"ax{i}@contoso.com") for i in range(2)]
    groups = [new_group(entra, f"Async excluded {i}") for i in range(2)]
    for group in groups:
        add_members(entra, group["id"], *(u["id"] for u in users))

    loads: list[str] = []
    opened = async_storage.session

    class Watched:
        def __init__(self, session: Any) -> None:
            self._session = session
            self.tenant = session.tenant

        def __getattr__(self, name: str) -> Any:
            return getattr(self._session, name)

        async def members(self, group_id: str) -> Any:
            loads.append(f"members({group_id})")
            return await self._session.members(group_id)

        async def get(self, resource_type: str, resource_id: str, **kw: Any) -> Any:
            if resource_type == "Group" and kw.get("include_members", True):
                loads.append(f"get({resource_id}, include_members)")
            return await self._session.get(resource_type, resource_id, **kw)

        async def search(self, resource_type: str, query: Any) -> Any:
            if resource_type == "Group" and query.include_members:
                loads.append("search(include_members)")
            return await self._session.search(resource_type, query)

    @asynccontextmanager
    async def session(tenant: str) -> AsyncIterator[Any]:
        async with opened(tenant) as inner:
            yield Watched(inner)

    monkeypatch.setattr(async_storage, "session", session)
    listed = entra.get("/Groups?excludedAttributes=members")
    assert listed.status_code == 200
    assert [r.get("members") for r in listed.json()["Resources"]] == [None, None]
    read = entra.get(f"/Groups/{groups[0]['id']}?excludedAttributes=members")
    assert "members" not in read.json()
    filtered = entra.get(
        "/Groups?excludedAttributes=members"
        f"&filter=displayName eq {q('Async excluded 1')}"
    )
    assert list_ids(filtered) == [groups[1]["id"]]
    assert loads == []
    assert len(entra.get(f"/Groups/{groups[0]['id']}").json()["members"]) == 2
    assert loads
