"""Fixtures for the acceptance tests: the served app, two tenants, IdP clients.

Every test here goes through the whole stack a deployment runs: the Starlette
adapter mounted at ``/scim/v2``, the sans-I/O service, and the memory storage.
Requests are sent as the IdPs send them (IDP-DIALECTS.md), with bodies given
as literal JSON text where the bytes matter.

The :class:`Idp` helper checks on every response what IDP-DIALECTS §0 rule 13
and §4.2 demand of all of them: a response with a body is
``application/scim+json``, errors included, and a ``204`` has no body.

The flows of ``test_entra.py`` and ``test_okta.py`` that take nothing but the
``entra`` or ``okta`` fixture are replayed over real HTTP against the example
host apps too (``test_examples.py``), each in a tenant of its own: such a flow
builds the URLs it expects from :attr:`Idp.scim_url`, never from ``BASE_URL``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

try:  # Starlette's TestClient speaks httpx2, and falls back to httpx with a warning.
    import httpx2 as httpx
except ModuleNotFoundError:
    import warnings

    import httpx
    from starlette.exceptions import StarletteDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient
else:
    from starlette.testclient import TestClient

from tomorro_scim.adapters.starlette import scim_app
from tomorro_scim.auth import IssuedToken
from tomorro_scim.auth import TokenManager
from tomorro_scim.events import Event
from tomorro_scim.events import EventBus
from tomorro_scim.service import ScimService
from tomorro_scim.service import ServiceSettings
from tomorro_scim.storage.memory import MemoryStorage

BASE_URL = "https://app.example.com"
SCIM_ROOT = "/scim/v2"
TENANT_A = "acme"
TENANT_B = "globex"
TOKEN_A = "entra-secret-token-for-acme-0001"
TOKEN_B = "okta-secret-token-for-globex-0002"

SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ADSCIM_GROUP_SCHEMA = (
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
)
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class EventRecorder:
    """Every event the service publishes, in order."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        bus.subscribe(self.events.append)

    def of(self, event_type: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, event_type)]

    def clear(self) -> None:
        self.events.clear()


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


class Idp:
    """An identity provider's HTTP client for one tenant.

    ``path`` is relative to the SCIM root and may carry a raw query string,
    which is sent as written (so ``+`` and ``%20`` reach the server as the
    IdP encodes them). ``body`` is sent as JSON; ``raw`` as literal bytes.
    """

    def __init__(
        self,
        client: httpx.Client,
        token: str | None,
        *,
        user_agent: str = "Microsoft.Identity.Provisioning",
        content_type: str = SCIM_JSON,
    ) -> None:
        self.client = client
        self.token = token
        self.user_agent = user_agent
        self.content_type = content_type
        self.scim_url = str(client.base_url).rstrip("/") + SCIM_ROOT
        """The SCIM root the client reaches: ``BASE_URL`` + ``SCIM_ROOT`` in-process."""

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent: dict[str, str] = {"User-Agent": self.user_agent}
        if self.token is not None:
            sent["Authorization"] = f"Bearer {self.token}"
        content: bytes | None = None
        if raw is not None:
            content = raw.encode()
        elif body is not None:
            content = json.dumps(body).encode()
        if content is not None:
            sent["Content-Type"] = self.content_type
        sent.update(headers or {})
        url = httpx.URL(self.scim_url + path)
        if "?" in path:
            # Keep the query bytes exactly as the IdP writes them.
            url = url.copy_with(query=path.split("?", 1)[1].encode())
        response = self.client.request(method, url, content=content, headers=sent)
        check_envelope(response)
        return response

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, body=body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def patch_ops(self, path: str, *operations: dict[str, Any]) -> httpx.Response:
        return self.patch(path, {"schemas": [PATCH_OP], "Operations": list(operations)})


def check_envelope(response: httpx.Response) -> None:
    """IDP-DIALECTS §0 rule 13, §4.2: SCIM JSON on every body; no body on 204/304."""
    if response.status_code in (204, 304):
        assert response.content == b"", response.content
        return
    assert media_type(response) == SCIM_JSON, (
        response.status_code,
        response.headers.get("content-type"),
        response.text[:200],
    )
    document = response.json()
    if response.status_code >= 400:
        assert document["schemas"] == [ERROR_SCHEMA], document
        assert document["status"] == str(response.status_code), document
    else:
        assert ERROR_SCHEMA not in document.get("schemas", []), document


def assert_error(
    response: httpx.Response, status: int, scim_type: str | None = None
) -> dict[str, Any]:
    """A SCIM Error body (RFC 7644 §3.12): string ``status``, a ``detail``."""
    assert response.status_code == status, (response.status_code, response.text)
    error: dict[str, Any] = response.json()
    assert error["schemas"] == [ERROR_SCHEMA]
    assert error["status"] == str(status)
    assert isinstance(error.get("detail"), str)
    assert error["detail"]
    if scim_type is not None:
        assert error.get("scimType") == scim_type, error
    return error


def list_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schemas"] == [LIST_RESPONSE]
    return [r["id"] for r in body["Resources"]]


# -- fixtures ----------------------------------------------------------------


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def settings() -> ServiceSettings:
    """The defaults; a test module or test overrides this fixture to tune them."""
    return ServiceSettings()


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def recorder(bus: EventBus) -> EventRecorder:
    return EventRecorder(bus)


@pytest.fixture
def tokens(storage: MemoryStorage) -> TokenManager:
    return TokenManager(storage)


@pytest.fixture
def issued(tokens: TokenManager) -> dict[str, IssuedToken]:
    """One token per tenant, chosen as an admin pastes a Secret Token."""
    return {
        TENANT_A: tokens.issue(TENANT_A, "entra", token=TOKEN_A),
        TENANT_B: tokens.issue(TENANT_B, "okta", token=TOKEN_B),
    }


@pytest.fixture
def service(
    storage: MemoryStorage,
    settings: ServiceSettings,
    bus: EventBus,
    recorder: EventRecorder,
    issued: dict[str, IssuedToken],
) -> ScimService:
    return ScimService(storage, settings=settings, events=bus)


@pytest.fixture
def app(service: ScimService) -> Starlette:
    return Starlette(routes=[Mount(SCIM_ROOT, app=scim_app(service))])


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


def entra_idp(client: httpx.Client, token: str) -> Idp:
    """Entra ID's provisioning client (``Microsoft.Identity.Provisioning``)."""
    return Idp(client, token)


def okta_idp(client: httpx.Client, token: str) -> Idp:
    """Okta's provisioning client (``Okta SCIM Client 1.0.0``, OKTA §3.1)."""
    return Idp(
        client,
        token,
        user_agent="Okta SCIM Client 1.0.0",
        content_type="application/scim+json; charset=utf-8",
    )


@pytest.fixture
def entra(client: TestClient) -> Idp:
    """Entra ID provisioning into tenant A."""
    return entra_idp(client, TOKEN_A)


@pytest.fixture
def okta(client: TestClient) -> Idp:
    """Okta provisioning into tenant A (``Okta SCIM Client 1.0.0``, OKTA §3.1)."""
    return okta_idp(client, TOKEN_A)


@pytest.fixture
def tenant_b(client: TestClient) -> Idp:
    """An IdP provisioning into tenant B."""
    return Idp(client, TOKEN_B)
