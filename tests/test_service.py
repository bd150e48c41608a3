"""ScimService.handle, driven directly with ScimRequest values (no adapter).

Routing, discovery, media types, body limits, ETags, error mapping, logging,
request ids, events after commit, roles, and the PATCH 200/204 settings.
Whole IdP flows are in ``tests/acceptance``.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from tomorro_scim.auth import TokenManager
from tomorro_scim.events import Event
from tomorro_scim.events import EventBus
from tomorro_scim.events import GroupRenamed
from tomorro_scim.events import MembersAdded
from tomorro_scim.events import MembersRemoved
from tomorro_scim.events import RoleChanged
from tomorro_scim.events import UserCreated
from tomorro_scim.events import UserDeactivated
from tomorro_scim.events import UserUpdated
from tomorro_scim.http import ScimRequest
from tomorro_scim.http import ScimResponse
from tomorro_scim.roles import ADMIN
from tomorro_scim.roles import GroupGrant
from tomorro_scim.roles import RoleMap
from tomorro_scim.service import ScimService
from tomorro_scim.service import ServiceSettings
from tomorro_scim.storage import USER
from tomorro_scim.storage import StorageSession
from tomorro_scim.storage.memory import MemoryStorage

BASE = "https://app.example.com/scim/v2"
SCIM_JSON = "application/scim+json"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
TOKEN = "tenant-acme-secret-token-0123456789"
OTHER_TOKEN = "tenant-globex-secret-token-0123456789"


class FlakyStorage(MemoryStorage):
    """A memory storage whose commit can fail, or whose reads can blow up."""

    fail_commit = False
    explode_on_get = False

    @contextmanager
    def session(self, tenant: str) -> Iterator[StorageSession]:
        with super().session(tenant) as session:
            if self.explode_on_get:
                original = session.get

                def get(*args: Any, **kwargs: Any) -> Any:
                    raise RuntimeError("connection to db-internal-7:5432 reset")

                session.get = get  # type: ignore[method-assign]
                try:
                    yield session
                finally:
                    session.get = original  # type: ignore[method-assign]
            else:
                yield session
            if self.fail_commit:
                raise RuntimeError("could not commit: serialization failure")


class Harness:
    """A service over a fresh storage, with a token, an event log and a clock."""

    def __init__(self, settings: ServiceSettings | None = None) -> None:
        self.storage = FlakyStorage()
        TokenManager(self.storage).issue("acme", token=TOKEN)
        TokenManager(self.storage).issue("globex", token=OTHER_TOKEN)
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(self.events.append)
        ids = itertools.count(1)
        self.service = ScimService(
            self.storage,
            settings=settings,
            events=self.bus,
            clock=lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            id_factory=lambda: f"id-{next(ids)}",
        )

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: str = "",
        headers: dict[str, str] | None = None,
        token: str | None = TOKEN,
        raw: bytes | None = None,
        declared_length: int = 0,
    ) -> ScimResponse:
        all_headers = {"Content-Type": SCIM_JSON} if body is not None or raw else {}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        data = raw if raw is not None else b""
        if body is not None:
            data = json.dumps(body).encode()
        return self.service.handle(
            ScimRequest(
                method,
                path,
                query=query,
                headers=all_headers,
                body=data,
                base_url=BASE,
                declared_length=declared_length,
            )
        )

    def create_user(
        self, user_name: str = "bjensen@example.com", **attrs: Any
    ) -> dict[str, Any]:
        response = self.call(
            "POST", "/Users", {"schemas": [USER_URN], "userName": user_name, **attrs}
        )
        assert response.status == 201, response.json()
        body: dict[str, Any] = response.json()
        return body

    def create_group(self, name: str, members: Sequence[str] = ()) -> dict[str, Any]:
        response = self.call(
            "POST",
            "/Groups",
            {
                "schemas": [GROUP_URN],
                "displayName": name,
                "members": [{"value": m} for m in members],
            },
        )
        assert response.status == 201, response.json()
        body: dict[str, Any] = response.json()
        return body

    def role(self, user_id: str) -> str | None:
        with self.storage.session("acme") as session:
            stored = session.get(USER, user_id)
            assert stored is not None
            return stored.role

    def of(self, event_type: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, event_type)]


@pytest.fixture
def scim() -> Harness:
    return Harness()


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def assert_error(
    response: ScimResponse, status: int, scim_type: str | None = None
) -> dict[str, Any]:
    assert response.status == status, response.body
    assert response.header("Content-Type") == SCIM_JSON
    body: dict[str, Any] = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert isinstance(body["detail"], str)
    return body


# -- authentication ----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789012"},
        {"Authorization": "Basic eA=="},
    ],
)
def test_missing_or_wrong_credentials_are_401(
    scim: Harness, headers: dict[str, str]
) -> None:
    response = scim.call("GET", "/Users", token=None, headers=headers)
    assert_error(response, 401)
    assert (response.header("WWW-Authenticate") or "").startswith("Bearer")


def test_authentication_comes_before_routing(scim: Harness) -> None:
    """An unknown path does not tell an anonymous caller what exists."""
    assert_error(scim.call("GET", "/Nothing", token=None), 401)


def test_tenants_do_not_see_each_other(scim: Harness) -> None:
    user = scim.create_user()
    assert_error(scim.call("GET", f"/Users/{user['id']}", token=OTHER_TOKEN), 404)
    listed = scim.call("GET", "/Users", token=OTHER_TOKEN).json()
    assert listed["totalResults"] == 0


# -- routing -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/Nothing", "/Users/1/extra", "/Users/1/2/3", "/Groups/g/members/x", "/users2"],
)
def test_unknown_routes_are_404(scim: Harness, path: str) -> None:
    assert_error(scim.call("GET", path), 404)


@pytest.mark.parametrize("path", ["/Users/nope", "/Groups/nope"])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_unknown_ids_are_404(scim: Harness, path: str, method: str) -> None:
    body: Any = None
    if method == "PUT":
        body = {
            "schemas": [USER_URN if "Users" in path else GROUP_URN],
            "userName": "x",
            "displayName": "x",
        }
    if method == "PATCH":
        body = patch({"op": "replace", "path": "displayName", "value": "x"})
    assert_error(scim.call(method, path, body), 404)


def test_endpoints_are_case_insensitive_and_trailing_slashes_ignored(
    scim: Harness,
) -> None:
    assert scim.call("GET", "/users").status == 200
    assert scim.call("GET", "/Users/").status == 200


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/Users", "GET, POST"),
        ("PUT", "/Groups", "GET, POST"),
        ("GET", "/Users/.search", "POST"),
        ("POST", "/Users/some-id", "GET, PUT, PATCH, DELETE"),
        ("POST", "/ServiceProviderConfig", "GET"),
        ("PUT", "/Schemas", "GET"),
        ("DELETE", "/ResourceTypes/User", "GET"),
    ],
)
def test_wrong_method_is_405_with_allow(
    scim: Harness, method: str, path: str, allowed: str
) -> None:
    response = scim.call(method, path, {} if method in ("POST", "PUT") else None)
    assert_error(response, 405)
    assert response.header("Allow") == allowed


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/Me"),
    ],
)
def test_unsupported_features_are_501(scim: Harness, method: str, path: str) -> None:
    assert_error(scim.call(method, path, {} if method == "POST" else None), 501)


# -- discovery -----------------------------------------------------------------


def test_service_provider_config_is_public_and_tells_the_limits() -> None:
    scim = Harness(ServiceSettings(default_page_size=50, max_page_size=200))
    response = scim.call("GET", "/ServiceProviderConfig", token=None)
    assert response.status == 200
    assert response.header("Content-Type") == SCIM_JSON
    config = response.json()
    assert config["schemas"] == [SPC]
    assert config["patch"]["supported"] is True
    assert config["bulk"] == {
        "supported": True,
        "maxOperations": 1000,
        "maxPayloadSize": 1_048_576,
    }
    assert config["filter"] == {"supported": True, "maxResults": 200}
    assert config["sort"]["supported"] is True
    assert config["etag"]["supported"] is True
    assert config["changePassword"]["supported"] is False
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    assert config["meta"]["location"] == f"{BASE}/ServiceProviderConfig"
    alias = scim.call("GET", "/serviceConfiguration", token=None)
    assert alias.status == 200
    assert alias.json() == config


def test_schemas(scim: Harness) -> None:
    listed = scim.call("GET", "/Schemas", token=None).json()
    assert listed["schemas"] == [LIST_RESPONSE]
    ids = {s["id"] for s in listed["Resources"]}
    assert ids == {USER_URN, GROUP_URN, ENTERPRISE}
    assert listed["totalResults"] == listed["itemsPerPage"] == 3
    one = scim.call("GET", f"/Schemas/{USER_URN}", token=None)
    assert one.status == 200
    user_schema = one.json()
    assert user_schema["id"] == USER_URN
    names = {a["name"] for a in user_schema["attributes"]}
    assert {"userName", "name", "emails", "active", "userType"} <= names
    assert scim.call("GET", f"/Schemas/{ENTERPRISE.upper()}", token=None).status == 200
    assert_error(scim.call("GET", "/Schemas/urn:nope", token=None), 404)


def test_resource_types(scim: Harness) -> None:
    listed = scim.call("GET", "/ResourceTypes", token=None).json()
    assert {r["id"] for r in listed["Resources"]} == {"User", "Group"}
    user = scim.call("GET", "/ResourceTypes/User", token=None).json()
    assert user["endpoint"] == "/Users"
    assert user["schema"] == USER_URN
    assert user["schemaExtensions"][0]["schema"] == ENTERPRISE
    group = scim.call("GET", "/ResourceTypes/group", token=None)
    assert group.status == 200
    assert group.json()["endpoint"] == "/Groups"
    assert_error(scim.call("GET", "/ResourceTypes/Device", token=None), 404)
    assert_error(scim.call("GET", "/ServiceProviderConfig/x", token=None), 404)


def test_private_discovery_needs_a_token() -> None:
    scim = Harness(ServiceSettings(public_discovery=False))
    assert_error(scim.call("GET", "/ServiceProviderConfig", token=None), 401)
    assert scim.call("GET", "/ServiceProviderConfig").status == 200
    assert scim.call("GET", "/Schemas").status == 200


# -- bodies and media types --------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [b"{", b'{"schemas": [}', b"not json", b'{"a": 1}}', b"\xff\xfe{}"]
)
def test_malformed_json_is_400_invalid_syntax(scim: Harness, raw: bytes) -> None:
    assert_error(scim.call("POST", "/Users", raw=raw), 400, "invalidSyntax")


def test_deeply_nested_json_is_400(scim: Harness) -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    assert_error(scim.call("POST", "/Users", raw=raw), 400, "invalidSyntax")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/Users", {"schemas": [USER_URN], "userName": "\ud800"}),
        ("POST", "/Groups", {"schemas": [GROUP_URN], "displayName": "x\udfff"}),
        ("POST", "/Users", {"schemas": [USER_URN], "userName": "a", "\udc00": 1}),
        (
            "POST",
            "/Users/.search",
            {"filter": 'userName eq "\ud83d"'},
        ),
    ],
)
def test_a_lone_surrogate_is_400_and_nothing_is_stored(
    scim: Harness, method: str, path: str, body: dict[str, Any]
) -> None:
    """RFC 8259 §8.2: a lone surrogate escape is no character; it can be
    neither stored as UTF-8 nor rendered back, so it is refused up front."""
    assert_error(scim.call(method, path, body), 400, "invalidValue")
    assert scim.call("GET", "/Users").json()["totalResults"] == 0
    assert scim.call("GET", "/Groups").json()["totalResults"] == 0


def test_a_surrogate_pair_escape_is_one_character(scim: Harness) -> None:
    """json.dumps escapes the emoji as the pair \\ud83d\\ude00: one character."""
    name = "smile\U0001f600@example.com"
    assert b"\\ud83d\\ude00" in json.dumps(name).encode()
    assert scim.create_user(name)["userName"] == name


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded"],
)
def test_non_json_content_type_is_415(scim: Harness, content_type: str) -> None:
    response = scim.call(
        "POST",
        "/Users",
        raw=json.dumps({"schemas": [USER_URN], "userName": "a"}).encode(),
        headers={"Content-Type": content_type},
    )
    assert_error(response, 415)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/scim+json",
        "application/json",
        "application/json; charset=utf-8",
        "Application/SCIM+JSON;charset=UTF-8",
        "text/json",
        "",
    ],
)
def test_json_content_types_are_accepted(scim: Harness, content_type: str) -> None:
    response = scim.call(
        "POST",
        "/Users",
        raw=json.dumps({"schemas": [USER_URN], "userName": "a"}).encode(),
        headers={"Content-Type": content_type},
    )
    assert response.status == 201


def test_body_over_the_limit_is_413() -> None:
    scim = Harness(ServiceSettings(max_body_bytes=100))
    body = {"schemas": [USER_URN], "userName": "a", "displayName": "x" * 200}
    assert_error(scim.call("POST", "/Users", body), 413)
    # An adapter that did not read an oversized body only declares its length.
    assert_error(scim.call("POST", "/Users", declared_length=101), 413)
    small = {"schemas": [USER_URN], "userName": "a"}
    assert scim.call("POST", "/Users", small).status == 201


def test_body_is_ignored_on_get_and_delete(scim: Harness) -> None:
    user = scim.create_user()
    response = scim.call("GET", f"/Users/{user['id']}", raw=b"garbage")
    assert response.status == 200
    assert scim.call("DELETE", f"/Users/{user['id']}", raw=b"garbage").status == 204


def test_missing_body_on_post_is_400(scim: Harness) -> None:
    assert_error(scim.call("POST", "/Users"), 400, "invalidSyntax")
    assert_error(scim.call("POST", "/Groups"), 400, "invalidSyntax")


# -- resources: the basics the unit level can see --------------------------------


def test_post_get_answer_with_location_and_etag(scim: Harness) -> None:
    response = scim.call(
        "POST",
        "/Users",
        {"schemas": [USER_URN], "userName": "bjensen", "password": "p4ss"},
    )
    assert response.status == 201
    body = response.json()
    assert body["id"] == "id-1"
    assert "password" not in body
    assert (
        response.header("Location") == f"{BASE}/Users/id-1" == body["meta"]["location"]
    )
    assert response.header("ETag") == body["meta"]["version"]
    assert body["meta"]["created"] == "2024-05-01T12:00:00Z"
    got = scim.call("GET", "/Users/id-1")
    assert got.status == 200
    assert got.json() == body


def test_list_response_shape(scim: Harness) -> None:
    scim.create_user("a")
    scim.create_user("b")
    body = scim.call("GET", "/Users", query="count=1&startIndex=2").json()
    assert body["schemas"] == [LIST_RESPONSE]
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (2, 2, 1)
    only_total = scim.call("GET", "/Users", query="count=0").json()
    assert (only_total["totalResults"], only_total["Resources"]) == (2, [])


@pytest.mark.parametrize("field", ["attributes", "excludedAttributes"])
@pytest.mark.parametrize("value", [3, True, {"a": 1}, [1], ["userName", None]])
@pytest.mark.parametrize("path", ["/Users/.search", "/Groups/.search", "/.search"])
def test_search_request_attribute_lists_must_hold_strings(
    scim: Harness, field: str, value: Any, path: str
) -> None:
    """RFC 7644 §3.4.3: ``attributes`` and ``excludedAttributes`` are lists
    of strings; anything else is 400 invalidValue, never a 500."""
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
    body[field] = value
    assert_error(scim.call("POST", path, body), 400, "invalidValue")


def test_search_endpoint(scim: Harness) -> None:
    scim.create_user("alice")
    scim.create_user("bob")
    response = scim.call(
        "POST",
        "/Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName eq "BOB"',
            "attributes": ["userName"],
        },
    )
    assert response.status == 200
    (found,) = response.json()["Resources"]
    assert set(found) == {"schemas", "id", "userName"}


def test_invalid_list_parameters_are_400(scim: Harness) -> None:
    assert_error(
        scim.call("GET", "/Users", query="filter=userName+eq"), 400, "invalidFilter"
    )
    assert_error(scim.call("GET", "/Users", query="sortBy=nope"), 400, "invalidValue")
    assert_error(scim.call("GET", "/Users", query="count=lots"), 400, "invalidValue")


# -- ETags ---------------------------------------------------------------------


def test_if_none_match(scim: Harness) -> None:
    user = scim.create_user()
    version = user["meta"]["version"]
    path = f"/Users/{user['id']}"
    not_modified = scim.call("GET", path, headers={"If-None-Match": version})
    assert not_modified.status == 304
    assert not_modified.body == b""
    assert not_modified.header("ETag") == version
    assert scim.call("GET", path, headers={"If-None-Match": 'W/"999"'}).status == 200
    assert scim.call("GET", path, headers={"If-None-Match": "*"}).status == 304


def test_if_match(scim: Harness) -> None:
    user = scim.create_user()
    path = f"/Users/{user['id']}"
    body = {"schemas": [USER_URN], "userName": "bjensen@example.com", "title": "x"}
    stale = {"If-Match": 'W/"999"'}
    assert_error(scim.call("PUT", path, body, headers=stale), 412)
    assert_error(
        scim.call(
            "PATCH",
            path,
            patch({"op": "replace", "path": "title", "value": "y"}),
            headers=stale,
        ),
        412,
    )
    assert_error(scim.call("DELETE", path, headers=stale), 412)
    put = scim.call("PUT", path, body, headers={"If-Match": user["meta"]["version"]})
    assert put.status == 200
    assert (
        put.header("ETag") == put.json()["meta"]["version"] != user["meta"]["version"]
    )
    # The old version is stale now; "*" matches any.
    assert_error(
        scim.call("PUT", path, body, headers={"If-Match": user["meta"]["version"]}), 412
    )
    assert scim.call("PUT", path, body, headers={"If-Match": "*"}).status == 200
    assert scim.call("DELETE", path, headers={"If-Match": "*"}).status == 204


# -- unexpected errors ---------------------------------------------------------


def test_unexpected_storage_error_is_a_generic_500(
    scim: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    user = scim.create_user()
    scim.storage.explode_on_get = True
    with caplog.at_level(logging.INFO, logger="tomorro_scim"):
        response = scim.call(
            "GET", f"/Users/{user['id']}", headers={"X-Request-Id": "req-500-test"}
        )
    body = assert_error(response, 500)
    assert "db-internal" not in response.body.decode()
    assert "RuntimeError" not in response.body.decode()
    assert "Traceback" not in response.body.decode()
    assert body["detail"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "req-500-test" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert response.header("X-Request-Id") == "req-500-test"


# -- the request log ---------------------------------------------------------------


def request_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tomorro_scim.request"]


def test_one_log_line_per_request(
    scim: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    secret_body = {
        "schemas": [USER_URN],
        "userName": "bjensen",
        "password": "Sup3rS3cret!",
    }
    with caplog.at_level(logging.INFO, logger="tomorro_scim"):
        response = scim.call(
            "POST", "/Users", secret_body, headers={"X-Request-Id": "abc-123"}
        )
        scim.call("GET", "/Users", token=None)
    first, second = request_logs(caplog)
    message = first.getMessage()
    for part in (
        "POST",
        "/Users",
        "201",
        "tenant=acme",
        "duration_ms=",
        "request_id=abc-123",
    ):
        assert part in message
    fields = vars(first)
    assert fields["scim_method"] == "POST"
    assert fields["scim_path"] == "/Users"
    assert fields["scim_status"] == 201
    assert fields["scim_tenant"] == "acme"
    assert fields["scim_request_id"] == "abc-123"
    assert isinstance(fields["scim_duration_ms"], float)
    assert "401" in second.getMessage()
    assert "tenant=-" in second.getMessage()
    everything = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert TOKEN not in everything
    assert "Sup3rS3cret!" not in everything
    assert response.status == 201


def test_the_log_names_the_tenant_of_a_failed_request(
    scim: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tomorro_scim.request"):
        scim.call("GET", "/Users/missing")
    (record,) = request_logs(caplog)
    assert "404" in record.getMessage()
    assert "tenant=acme" in record.getMessage()


@pytest.mark.parametrize("given", ["abc-123", "A.b_C-9", "x" * 64])
def test_safe_request_ids_are_echoed(scim: Harness, given: str) -> None:
    response = scim.call("GET", "/Users", headers={"X-Request-Id": given})
    assert response.header("X-Request-Id") == given


@pytest.mark.parametrize(
    "given", ["", "x" * 65, "has space", "line\nbreak", 'quote"', "é"]
)
def test_unsafe_request_ids_are_replaced(scim: Harness, given: str) -> None:
    response = scim.call("GET", "/Users", headers={"X-Request-Id": given})
    replaced = response.header("X-Request-Id")
    assert replaced is not None
    assert replaced != given
    assert len(replaced) == 32
    int(replaced, 16)


def test_every_response_has_a_request_id(scim: Harness) -> None:
    for response in (
        scim.call("GET", "/Users"),
        scim.call("GET", "/Users", token=None),
        scim.call("GET", "/ServiceProviderConfig", token=None),
    ):
        assert response.header("X-Request-Id")


# -- events after commit -------------------------------------------------------------


def test_events_carry_the_request(scim: Harness) -> None:
    scim.call(
        "POST",
        "/Users",
        {"schemas": [USER_URN], "userName": "a"},
        headers={"X-Request-Id": "r-1", "User-Agent": "Okta SCIM Client 1.0.0"},
    )
    (event,) = scim.events
    assert isinstance(event, UserCreated)
    assert (event.tenant, event.request_id, event.client) == (
        "acme",
        "r-1",
        "Okta SCIM Client 1.0.0",
    )


def test_no_events_when_the_commit_fails(scim: Harness) -> None:
    scim.storage.fail_commit = True
    response = scim.call("POST", "/Users", {"schemas": [USER_URN], "userName": "a"})
    assert_error(response, 500)
    assert scim.events == []
    scim.storage.fail_commit = False
    assert scim.call("GET", "/Users").json()["totalResults"] == 0


def test_no_events_when_a_patch_fails_half_way() -> None:
    scim = Harness(ServiceSettings(reject_unknown_members=True))
    group = scim.create_group("Engineering")
    scim.events.clear()
    response = scim.call(
        "PATCH",
        f"/Groups/{group['id']}",
        patch(
            {"op": "replace", "path": "displayName", "value": "Platform"},
            {"op": "add", "path": "members", "value": [{"value": "no-such-user"}]},
        ),
    )
    assert_error(response, 400, "invalidValue")
    assert "no-such-user" in response.json()["detail"]
    assert scim.events == []
    current = scim.call("GET", f"/Groups/{group['id']}").json()
    assert current["displayName"] == "Engineering"
    assert current["meta"]["version"] == group["meta"]["version"]


def test_events_of_a_user_lifecycle(scim: Harness) -> None:
    user = scim.create_user(active=True)
    path = f"/Users/{user['id']}"
    response = scim.call(
        "PATCH", path, patch({"op": "replace", "path": "active", "value": "False"})
    )
    assert response.status == 200
    assert response.json()["active"] is False
    assert [type(e) for e in scim.events] == [UserCreated, UserUpdated, UserDeactivated]
    assert scim.of(UserUpdated)[0].changed == ("active",)


def test_skipped_members_are_reported_not_stored(scim: Harness) -> None:
    user = scim.create_user()
    group = scim.create_group("Engineering", [user["id"], "ghost"])
    members = scim.call("GET", f"/Groups/{group['id']}").json()["members"]
    assert [m["value"] for m in members] == [user["id"]]
    skipped = [e for e in scim.events if type(e).__name__ == "MembersSkipped"]
    assert [e.member_ids for e in skipped] == [("ghost",)]


# -- roles -----------------------------------------------------------------------


def test_user_type_gives_the_role(scim: Harness) -> None:
    admin = scim.create_user("a", userType="Admin")
    assert scim.role(admin["id"]) == "Admin"
    assert admin["userType"] == "Admin"  # stored as sent
    plain = scim.create_user("b")
    assert scim.role(plain["id"]) == "Contributor"
    created = scim.of(UserCreated)
    assert [e.role for e in created] == ["Admin", "Contributor"]
    scim.call(
        "PATCH",
        f"/Users/{plain['id']}",
        patch({"op": "replace", "path": "userType", "value": "manager"}),
    )
    assert scim.role(plain["id"]) == "Manager"
    (change,) = scim.of(RoleChanged)
    assert (change.old, change.new) == ("Contributor", "Manager")


def test_unknown_user_type_is_400_listing_accepted_values(scim: Harness) -> None:
    response = scim.call(
        "POST", "/Users", {"schemas": [USER_URN], "userName": "a", "userType": "Wizard"}
    )
    body = assert_error(response, 400, "invalidValue")
    for value in ("admin", "manager", "user", "Wizard"):
        assert value in body["detail"]
    user = scim.create_user("b")
    patched = scim.call(
        "PATCH",
        f"/Users/{user['id']}",
        patch({"op": "replace", "path": "userType", "value": "Wizard"}),
    )
    assert_error(patched, 400, "invalidValue")
    assert scim.role(user["id"]) == "Contributor"


def test_group_grants_follow_membership() -> None:
    role_map = RoleMap.default().with_group_grant(
        GroupGrant(ADMIN, display_name="Admins")
    )
    scim = Harness(ServiceSettings(role_map=role_map))
    alice = scim.create_user("alice")
    bob = scim.create_user("bob")
    group = scim.create_group("admins", [alice["id"]])
    assert scim.role(alice["id"]) == "Admin"
    assert scim.role(bob["id"]) == "Contributor"
    path = f"/Groups/{group['id']}"
    scim.call(
        "PATCH",
        path,
        patch({"op": "add", "path": "members", "value": [{"value": bob["id"]}]}),
    )
    assert scim.role(bob["id"]) == "Admin"
    scim.call(
        "PATCH",
        path,
        patch({"op": "remove", "path": f'members[value eq "{alice["id"]}"]'}),
    )
    assert scim.role(alice["id"]) == "Contributor"
    changes = [(e.resource_id, e.old, e.new) for e in scim.of(RoleChanged)]
    assert changes == [
        (alice["id"], "Contributor", "Admin"),
        (bob["id"], "Contributor", "Admin"),
        (alice["id"], "Admin", "Contributor"),
    ]
    # Deleting the group recomputes the roles of its former members.
    assert scim.call("DELETE", path).status == 204
    assert scim.role(bob["id"]) == "Contributor"
    assert [e.new for e in scim.of(RoleChanged)][-1] == "Contributor"
    assert scim.of(MembersAdded)
    assert scim.of(MembersRemoved)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_renaming_a_granting_group_recomputes_its_members_roles(method: str) -> None:
    """Roles are a function of the current groups (roles.py): a group renamed
    away from a granted name takes the grant away, and back gives it back."""
    role_map = RoleMap.default().with_group_grant(
        GroupGrant(ADMIN, display_name="Admins")
    )
    scim = Harness(ServiceSettings(role_map=role_map))
    alice = scim.create_user("alice")
    group = scim.create_group("Admins", [alice["id"]])
    assert scim.role(alice["id"]) == "Admin"

    def rename(name: str) -> None:
        if method == "PATCH":
            body: dict[str, Any] = patch(
                {"op": "replace", "path": "displayName", "value": name}
            )
        else:
            body = {"schemas": [GROUP_URN], "displayName": name}
        assert scim.call(method, f"/Groups/{group['id']}", body).status in (200, 204)

    rename("Former admins")
    assert scim.role(alice["id"]) == "Contributor"
    rename("ADMINS")
    assert scim.role(alice["id"]) == "Admin"
    assert [(e.old, e.new) for e in scim.of(RoleChanged)] == [
        ("Contributor", "Admin"),
        ("Admin", "Contributor"),
        ("Contributor", "Admin"),
    ]


def test_a_put_keeps_a_group_granted_role() -> None:
    role_map = RoleMap.default().with_group_grant(
        GroupGrant(ADMIN, display_name="Admins")
    )
    scim = Harness(ServiceSettings(role_map=role_map))
    alice = scim.create_user("alice")
    scim.create_group("Admins", [alice["id"]])
    response = scim.call(
        "PUT",
        f"/Users/{alice['id']}",
        {"schemas": [USER_URN], "userName": "alice", "userType": "user"},
    )
    assert response.status == 200
    assert scim.role(alice["id"]) == "Admin"


# -- PATCH: 200 or 204 -------------------------------------------------------------


def title(value: str) -> dict[str, Any]:
    return patch({"op": "replace", "path": "title", "value": value})


def test_user_patch_answers_200_with_the_user(scim: Harness) -> None:
    user = scim.create_user()
    response = scim.call("PATCH", f"/Users/{user['id']}", title("CEO"))
    assert response.status == 200
    body = response.json()
    assert body["title"] == "CEO"
    assert body["schemas"] == [USER_URN]
    assert response.header("ETag") == body["meta"]["version"]


def test_group_patch_answers_204(scim: Harness) -> None:
    group = scim.create_group("Engineering")
    response = scim.call(
        "PATCH",
        f"/Groups/{group['id']}",
        patch({"op": "replace", "path": "displayName", "value": "Platform"}),
    )
    assert response.status == 204
    assert response.body == b""
    assert response.header("ETag") == 'W/"2"'
    assert scim.of(GroupRenamed)[0].new == "Platform"


def test_patch_answers_follow_the_settings() -> None:
    scim = Harness(
        ServiceSettings(
            user_patch_returns_resource=False, group_patch_returns_resource=True
        )
    )
    user = scim.create_user()
    group = scim.create_group("Engineering")
    assert scim.call("PATCH", f"/Users/{user['id']}", title("CEO")).status == 204
    rename = patch({"op": "replace", "path": "displayName", "value": "Platform"})
    answer = scim.call("PATCH", f"/Groups/{group['id']}", rename)
    assert answer.status == 200
    assert answer.json()["displayName"] == "Platform"
    assert answer.json()["schemas"] == [GROUP_URN]


@pytest.mark.parametrize("query", ["attributes=userName", "excludedAttributes=title"])
def test_attributes_force_200(query: str) -> None:
    """RFC 7644 §3.5.2: the resource is returned when attributes are asked for."""
    scim = Harness(ServiceSettings(user_patch_returns_resource=False))
    user = scim.create_user()
    response = scim.call("PATCH", f"/Users/{user['id']}", title("CEO"), query=query)
    assert response.status == 200
    body = response.json()
    assert body["id"] == user["id"]
    assert "title" not in body


def test_group_patch_with_attributes_answers_200(scim: Harness) -> None:
    user = scim.create_user()
    group = scim.create_group("Engineering")
    response = scim.call(
        "PATCH",
        f"/Groups/{group['id']}",
        patch({"op": "add", "path": "members", "value": [{"value": user["id"]}]}),
        query="attributes=members",
    )
    assert response.status == 200
    assert [m["value"] for m in response.json()["members"]] == [user["id"]]


def test_empty_patch_answers_with_the_unchanged_resource(scim: Harness) -> None:
    """The Microsoft validator sends a PATCH with empty Operations."""
    user = scim.create_user()
    response = scim.call("PATCH", f"/Users/{user['id']}", patch())
    assert response.status == 200
    assert response.json()["meta"]["version"] == user["meta"]["version"]
    assert scim.events[1:] == []


def test_excluded_members_are_never_loaded(
    scim: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 4 §3: ``excludedAttributes=members`` must never load members."""
    user = scim.create_user()
    group = scim.create_group("Engineering", [user["id"]])
    from tomorro_scim.storage import memory

    calls: list[str] = []
    real = memory._MemorySession.members

    def members(self: Any, group_id: str) -> Any:
        calls.append(group_id)
        return real(self, group_id)

    monkeypatch.setattr(memory._MemorySession, "members", members)
    for path in ("/Groups", f"/Groups/{group['id']}"):
        response = scim.call("GET", path, query="excludedAttributes=members")
        assert response.status == 200
        assert "members" not in response.body.decode()
    listed = scim.call("GET", "/Groups", query="attributes=displayName")
    assert "members" not in listed.body.decode()
    assert calls == []
    full = scim.call("GET", f"/Groups/{group['id']}").json()
    assert [m["value"] for m in full["members"]] == [user["id"]]
    assert calls == [group["id"]]
