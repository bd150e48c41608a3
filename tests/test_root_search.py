"""Search at the service root: ``GET /`` and ``POST /.search`` over users and groups.

RFC 7644 §3.4.2.1 (queries at the base URI, attributes a type lacks treated
as having no value), §3.4.2.2-§3.4.2.5 (filter, sort, paging, projection)
and §3.4.3 (the SearchRequest body), RFC 9865 (cursors). Every behaviour runs
over each backend: the memory storage and the SQL storage (SQLite in memory,
and PostgreSQL when ``TOMORRO_SCIM_TEST_POSTGRES_URL`` is set) through
``handle``, and an async storage whose calls really suspend through
``handle_async``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import attrs
import pytest
from scim2_models import Attribute
from sqlalchemy import create_engine
from sqlalchemy import text
from tests.suspending import SuspendingStorage

from tomorro_scim.auth import AsyncTokenManager
from tomorro_scim.auth import TokenManager
from tomorro_scim.cursors import CursorCodec
from tomorro_scim.cursors import cursor_fingerprint
from tomorro_scim.http import ScimRequest
from tomorro_scim.http import ScimResponse
from tomorro_scim.schemas import SchemaRegistry
from tomorro_scim.schemas import default_registry
from tomorro_scim.service import ScimService
from tomorro_scim.service import ServiceSettings
from tomorro_scim.storage import Keyset
from tomorro_scim.storage import SearchQuery
from tomorro_scim.storage import SearchResult
from tomorro_scim.storage import StorageSession
from tomorro_scim.storage.memory import MemoryStorage
from tomorro_scim.storage.sql import SqlStorage

ACME = "tenant-acme-secret-token-0123456789"
GLOBEX = "tenant-globex-secret-token-0123456789"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
BASE = "https://app.example.com/scim/v2"

BACKENDS = ("memory", "sql", "async", "postgres")
POSTGRES_URL = os.environ.get("TOMORRO_SCIM_TEST_POSTGRES_URL", "")

USERS = ["U:ada", "U:bob", "U:cy", "U:dee"]
GROUPS = ["G:Legal", "G:Admins", "G:ops"]
EVERYONE = USERS + GROUPS
"""The fixture's resources in the default order: users, then groups, each in
the order they were created."""


class Scim:
    """A service over one backend, holding the fixture's users and groups."""

    def __init__(
        self,
        backend: str,
        settings: ServiceSettings | None = None,
        registry: SchemaRegistry | None = None,
        storage: Any = None,
    ) -> None:
        self.backend = backend
        if storage is None and backend == "sql":
            storage = SqlStorage("sqlite://")
        elif storage is None and backend == "postgres":
            storage = SqlStorage(POSTGRES_URL, schema=f"root_{uuid.uuid4().hex[:12]}")
        elif storage is None:
            storage = SuspendingStorage() if backend == "async" else MemoryStorage()
        self.storage = storage
        if backend == "async":

            async def issue() -> None:
                await AsyncTokenManager(storage).issue("acme", token=ACME)
                await AsyncTokenManager(storage).issue("globex", token=GLOBEX)

            asyncio.run(issue())
        else:
            TokenManager(storage).issue("acme", token=ACME)
            TokenManager(storage).issue("globex", token=GLOBEX)
        ids = itertools.count(1)
        self.service = ScimService(
            storage,
            settings=settings or ServiceSettings(cursor_secret=b"k" * 32),
            registry=registry,
            clock=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            id_factory=lambda: f"id-{next(ids)}",
        )

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = ACME,
        **params: Any,
    ) -> ScimResponse:
        headers = {"X-Request-Id": "fixed"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = "application/scim+json"
        request = ScimRequest(
            method,
            path,
            query=urlencode(params),
            headers=headers,
            body=b"" if body is None else json.dumps(body).encode(),
            base_url=BASE,
        )
        if self.backend == "async":
            return asyncio.run(self.service.handle_async(request))
        return self.service.handle(request)

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self(method, path, body, **params)
        assert response.status == 200, response.body
        return json.loads(response.body)

    def root(self, **params: Any) -> Any:
        return self.ok("GET", "/", **params)

    def error(
        self, status: int, scim_type: str | None, *args: Any, **params: Any
    ) -> Any:
        response = self(*args, **params)
        assert response.status == status, response.body
        document = json.loads(response.body)
        assert document.get("scimType") == scim_type, document
        return document

    def populate(self, token: str = ACME) -> None:
        def user(user_name: str, **extra: Any) -> None:
            schemas = [USER_URN, ENTERPRISE] if ENTERPRISE in extra else [USER_URN]
            document = {"schemas": schemas, "userName": user_name, **extra}
            assert self("POST", "/Users", document, token=token).status == 201

        def group(name: str, *members: str) -> None:
            document = {
                "schemas": [GROUP_URN],
                "displayName": name,
                "members": [{"value": m} for m in members],
            }
            assert self("POST", "/Groups", document, token=token).status == 201

        user(
            "ada",
            displayName="Legal",
            emails=[{"value": "ada@example.com", "type": "work"}],
            **{ENTERPRISE: {"department": "Law"}},
        )  # id-1
        user("bob", displayName="Bob")  # id-2
        user("cy")  # id-3: no displayName
        user("dee", displayName="zed")  # id-4
        group("Legal", "id-1", "id-2")  # id-5
        group("Admins")  # id-6
        group("ops")  # id-7


def label(resource: dict[str, Any]) -> str:
    kind = {USER_URN: "U", GROUP_URN: "G"}[resource["schemas"][0]]
    return f"{kind}:{resource.get('userName') or resource.get('displayName')}"


def labels(page: dict[str, Any]) -> list[str]:
    return [label(r) for r in page["Resources"]]


@pytest.fixture(params=BACKENDS)
def scim(request: pytest.FixtureRequest) -> Iterator[Scim]:
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("set TOMORRO_SCIM_TEST_POSTGRES_URL to run on PostgreSQL")
    harness = Scim(request.param)
    try:
        harness.populate()
        yield harness
    finally:
        storage = harness.storage
        if isinstance(storage, SqlStorage):
            schema = storage.db_schema
            storage.close()
            if request.param == "postgres":
                engine = create_engine(POSTGRES_URL)
                with engine.begin() as connection:
                    connection.execute(
                        text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                    )
                engine.dispose()


# -- mixed results, tagged --------------------------------------------------


def test_the_root_lists_users_then_groups_each_tagged_with_its_type(
    scim: Scim,
) -> None:
    """RFC 7644 §3.4.2.1: a query at the base URI returns every type's resources."""
    page = scim.root()
    assert page["schemas"] == [LIST_RESPONSE]
    assert page["totalResults"] == 7
    assert page["startIndex"] == 1
    assert page["itemsPerPage"] == 7
    assert labels(page) == EVERYONE
    for resource in page["Resources"]:
        kind = "User" if resource["schemas"][0] == USER_URN else "Group"
        endpoint = f"{BASE}/{kind}s/{resource['id']}"
        assert resource["meta"]["resourceType"] == kind
        assert resource["meta"]["location"] == endpoint
        # Each renders as its own endpoint renders it.
        alone = scim.ok("GET", f"/{kind}s/{resource['id']}")
        assert resource == alone
    legal = page["Resources"][4]
    assert [m["value"] for m in legal["members"]] == ["id-1", "id-2"]
    assert page["Resources"][0][ENTERPRISE] == {"department": "Law"}
    assert scim.ok("GET", "") == page


def test_post_dot_search_answers_as_get_at_the_root(scim: Scim) -> None:
    """RFC 7644 §3.4.3: the SearchRequest says what the query string says."""
    cases: list[dict[str, Any]] = [
        {},
        {"filter": 'displayName eq "legal"'},
        {"sortBy": "displayName", "sortOrder": "descending", "count": 3},
        {"startIndex": 3, "count": 2, "attributes": "userName,displayName"},
        {"excludedAttributes": "members", "filter": "not (userName pr)"},
    ]
    for params in cases:
        body = {"schemas": [SEARCH_REQUEST], **params}
        posted = scim("POST", "/.search", body)
        got = scim("GET", "/", **params)
        assert (posted.status, posted.body) == (200, got.body), params
    # A SearchRequest may give attributes as a list (RFC 7644 §3.4.3).
    listed = scim.ok(
        "POST", "/.search", {"schemas": [SEARCH_REQUEST], "attributes": ["userName"]}
    )
    assert listed == scim.root(attributes="userName")


# -- filters: an attribute a type does not declare --------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Declared by User only: false on every group (RFC 7644 §3.4.2.1).
        ('userName eq "ada"', ["U:ada"]),
        ('userName ne "ada"', ["U:bob", "U:cy", "U:dee"]),
        ("userName pr", USERS),
        ('userName sw "a" or userName ew "e"', ["U:ada", "U:dee"]),
        # ... so its negation holds on every group.
        ('not (userName eq "ada")', ["U:bob", "U:cy", "U:dee", *GROUPS]),
        ("not (userName pr)", GROUPS),
        ('emails[type eq "work"]', ["U:ada"]),
        ('not (emails[type eq "work"])', ["U:bob", "U:cy", "U:dee", *GROUPS]),
        # Declared by both: matches both (case-insensitive, RFC 7644 §3.4.2.2).
        ('displayName eq "legal"', ["U:ada", "G:Legal"]),
        ("displayName pr", ["U:ada", "U:bob", "U:dee", *GROUPS]),
        ('meta.resourceType eq "Group"', GROUPS),
        # The other branch of an "or" still applies.
        ('userName eq "bob" or displayName eq "Admins"', ["U:bob", "G:Admins"]),
        ('userName eq "bob" and displayName eq "Admins"', []),
        ('userName eq "bob" or not (displayName pr)', ["U:bob", "U:cy"]),
        # Declared by Group only.
        ("members pr", ["G:Legal"]),
        ('members eq "id-2"', ["G:Legal"]),
        ('members ne "id-2"', ["G:Admins", "G:ops"]),
        # Extension and URN-qualified attributes apply to their own type only.
        (f'{ENTERPRISE}:department eq "Law"', ["U:ada"]),
        ('department eq "law"', ["U:ada"]),
        (f"not ({ENTERPRISE}:department pr)", ["U:bob", "U:cy", "U:dee", *GROUPS]),
        (f'{GROUP_URN}:displayName eq "Legal"', ["G:Legal"]),
        (f'{USER_URN}:displayName eq "Legal"', ["U:ada"]),
    ],
)
def test_an_attribute_a_type_does_not_declare_tests_false_on_it(
    scim: Scim, expression: str, expected: list[str]
) -> None:
    page = scim.root(filter=expression)
    assert labels(page) == expected
    assert page["totalResults"] == len(expected)


@pytest.mark.parametrize(
    "expression",
    [
        'nosuch eq "x"',
        'userName eq "ada" or nosuch pr',
        'not (nosuch.value eq "x")',
        'urn:example:thing:name eq "x"',
        # Declared by a type that refuses the test.
        'emails[nosuch eq "x"]',
        'meta.created gt "yesterday"',
        'userName[value eq "x"]',
        # Syntax.
        'userName eq "unterminated',
        "userName eq",
    ],
)
def test_a_filter_no_type_can_evaluate_is_invalid_filter(
    scim: Scim, expression: str
) -> None:
    scim.error(400, "invalidFilter", "GET", "/", filter=expression)
    scim.error(400, "invalidFilter", "POST", "/.search", {"filter": expression})


def test_an_empty_filter_is_no_filter(scim: Scim) -> None:
    assert labels(scim.root(filter="")) == EVERYONE


# -- sorting across types -----------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # displayName: folded; cy has none, so last ascending and first
        # descending; the tie "legal" puts the user before the group both ways.
        (
            {"sortBy": "displayName"},
            ["G:Admins", "U:bob", "U:ada", "G:Legal", "G:ops", "U:dee", "U:cy"],
        ),
        (
            {"sortBy": "displayName", "sortOrder": "descending"},
            ["U:cy", "U:dee", "G:ops", "U:ada", "G:Legal", "U:bob", "G:Admins"],
        ),
        # userName: groups have no value (RFC 7644 §3.4.2.1, §3.4.2.3).
        ({"sortBy": "userName"}, USERS + GROUPS),
        (
            {"sortBy": "userName", "sortOrder": "descending"},
            [*GROUPS, "U:dee", "U:cy", "U:bob", "U:ada"],
        ),
        ({"sortBy": "id", "sortOrder": "DESCENDING"}, EVERYONE[::-1]),
        ({"sortBy": "meta.created"}, EVERYONE),
        (
            {"sortBy": f"{ENTERPRISE}:department", "sortOrder": "descending"},
            ["U:bob", "U:cy", "U:dee", *GROUPS, "U:ada"],
        ),
    ],
)
def test_sorting_orders_both_types_together(
    scim: Scim, params: dict[str, str], expected: list[str]
) -> None:
    page = scim.root(**params)
    assert labels(page) == expected
    assert page["totalResults"] == 7


@pytest.mark.parametrize(
    ("params", "scim_type"),
    [
        ({"sortBy": "nosuch"}, "invalidValue"),
        ({"sortBy": "name"}, "invalidValue"),
        ({"sortBy": "urn:example:thing:name"}, "invalidValue"),
        ({"sortBy": "displayName", "sortOrder": "sideways"}, "invalidValue"),
        ({"count": "many"}, "invalidValue"),
        ({"startIndex": "first"}, "invalidValue"),
        ({"cursor": "", "startIndex": "1"}, "invalidValue"),
    ],
)
def test_bad_paging_and_sorting_parameters_are_400(
    scim: Scim, params: dict[str, str], scim_type: str
) -> None:
    scim.error(400, scim_type, "GET", "/", **params)
    scim.error(400, scim_type, "POST", "/.search", params)


def test_a_search_request_with_values_of_the_wrong_type_is_400(scim: Scim) -> None:
    scim.error(400, "invalidFilter", "POST", "/.search", {"filter": 5})
    scim.error(400, "invalidValue", "POST", "/.search", {"sortBy": ["userName"]})
    scim.error(400, "invalidValue", "POST", "/.search", {"count": True})
    scim.error(400, "invalidSyntax", "POST", "/.search", ["filter"])
    scim.error(
        400, "invalidSyntax", "POST", "/.search", {"schemas": ["urn:example:other"]}
    )
    scim.error(400, "invalidSyntax", "POST", "/.search")


def test_a_sort_attribute_of_different_kinds_per_type_is_400() -> None:
    """A string on one type and a number on another have no common order."""
    registry = default_registry()
    group = registry.get("Group")
    numeric = attrs.evolve(group.attributes["displayname"], type=Attribute.Type.integer)
    odd = attrs.evolve(group, attributes={**group.attributes, "displayname": numeric})
    scim = Scim("memory", registry=SchemaRegistry([registry.get("User"), odd]))
    scim.error(400, "invalidValue", "GET", "/", sortBy="displayName")
    assert scim.root(sortBy="userName")["totalResults"] == 0


# -- paging across the boundary between the types ---------------------------

ORDERS: list[dict[str, str]] = [
    {},
    {"sortBy": "displayName"},
    {"sortBy": "displayName", "sortOrder": "descending"},
    {"sortBy": "userName", "sortOrder": "descending"},
    {"filter": 'not (userName eq "bob")'},
    {"filter": "displayName pr", "sortBy": "displayName"},
]


@pytest.mark.parametrize("order", ORDERS)
def test_index_paging_returns_every_resource_exactly_once(
    scim: Scim, order: dict[str, str]
) -> None:
    """RFC 7644 §3.4.2.4, across the users/groups boundary at every page size."""
    whole = scim.root(**order)
    everything = labels(whole)
    assert len(everything) == whole["totalResults"]
    for count in range(1, len(everything) + 2):
        seen: list[str] = []
        for start in range(1, len(everything) + 1, count):
            page = scim.root(startIndex=start, count=count, **order)
            assert page["startIndex"] == start
            assert page["totalResults"] == len(everything)
            assert page["itemsPerPage"] == len(page["Resources"]) <= count
            seen += labels(page)
        assert seen == everything, count
    # Windows that start mid-way, overlapping the boundary.
    for start in range(1, len(everything) + 2):
        page = scim.root(startIndex=start, count=3, **order)
        assert labels(page) == everything[start - 1 : start + 2]


@pytest.mark.parametrize("order", ORDERS)
def test_cursor_paging_returns_every_resource_exactly_once(
    scim: Scim, order: dict[str, str]
) -> None:
    """RFC 9865 at the root: each page resumes every type where it stopped."""
    everything = labels(scim.root(**order))
    for count in range(1, len(everything) + 2):
        seen: list[str] = []
        cursor = ""
        for _ in range(len(everything) + 1):
            page = scim.root(cursor=cursor, count=count, **order)
            assert "startIndex" not in page
            assert page["totalResults"] == len(everything)
            seen += labels(page)
            if "nextCursor" not in page:
                break
            cursor = page["nextCursor"]
            assert page["itemsPerPage"] == count
        assert seen == everything, count


def test_count_zero_returns_the_total_only(scim: Scim) -> None:
    """RFC 7644 §3.4.2.4: count=0 asks for totalResults."""
    for params in [
        {},
        {"sortBy": "displayName"},
        {"filter": 'displayName eq "legal"'},
        {"cursor": ""},
    ]:
        page = scim.root(count=0, **params)
        assert page["itemsPerPage"] == 0
        assert page["Resources"] == []
        assert "nextCursor" not in page
        assert page["totalResults"] == (2 if "filter" in params else 7)


def test_paging_past_the_end_is_an_empty_page(scim: Scim) -> None:
    for params in [{}, {"sortBy": "displayName"}]:
        for start in (8, 10**30):
            page = scim.root(startIndex=start, count=5, **params)
            assert (page["totalResults"], page["Resources"]) == (7, [])
            assert page["startIndex"] == start


def test_count_is_capped_by_max_page_size() -> None:
    scim = Scim("memory", ServiceSettings(max_page_size=3))
    scim.populate()
    assert labels(scim.root(count=100)) == EVERYONE[:3]
    assert labels(scim.root(count=100, startIndex=4)) == EVERYONE[3:6]


# -- cursors ------------------------------------------------------------------


def test_a_cursor_is_bound_to_the_root_search_it_was_issued_for(scim: Scim) -> None:
    """RFC 9865 §2.1: another query's cursor, or a tampered one, is invalidCursor."""
    first = scim.root(cursor="", count=2, sortBy="displayName")
    cursor = first["nextCursor"]
    scim.error(400, "invalidCursor", "GET", "/", cursor=cursor, count=2)
    scim.error(
        400,
        "invalidCursor",
        "GET",
        "/",
        cursor=cursor,
        count=2,
        sortBy="displayName",
        filter="displayName pr",
    )
    scim.error(400, "invalidCursor", "GET", "/", cursor=cursor[:-2] + "xx")
    scim.error(400, "invalidCursor", "GET", "/", cursor="not-a-cursor")
    users = scim.ok("GET", "/Users", cursor="", count=1)
    scim.error(400, "invalidCursor", "GET", "/", cursor=users["nextCursor"], count=1)
    root = scim.root(cursor="", count=1)
    scim.error(
        400, "invalidCursor", "GET", "/Users", cursor=root["nextCursor"], count=1
    )
    # The same cursor in a SearchRequest body resumes the same search.
    resumed = scim.ok(
        "POST",
        "/.search",
        {"cursor": cursor, "count": 2, "sortBy": "displayName"},
    )
    assert labels(resumed) == ["U:ada", "G:Legal"]


@pytest.mark.parametrize(
    "tiebreak",
    [
        7,  # a single type's position, not one per type
        "[null]",
        '[null, null, null, null, null, null, null, null, null, null, null, "x"]',
        "[[1, true], null]",
        '[["a"], null]',
        '[[{"when": 1}, 3], null]',
        '[[["a"], 3], null]',
        "not json",
    ],
)
def test_a_signed_cursor_without_a_position_per_type_is_refused(
    scim: Scim, tiebreak: int | str
) -> None:
    """Defence in depth: even a payload signed with the service's key is
    checked before the storages see it."""
    codec = CursorCodec(b"k" * 32, 3600, lambda: datetime.now(UTC).timestamp())
    fingerprint = cursor_fingerprint("acme", "/", "", None, False)
    forged = codec.encode(fingerprint, Keyset(None, tiebreak))
    scim.error(400, "invalidCursor", "GET", "/", cursor=forged)
    genuine = codec.encode(fingerprint, Keyset(None, "[null, null]"))
    assert labels(scim.root(cursor=genuine)) == EVERYONE


def test_a_storage_without_keyset_paging_answers_a_root_cursor_501() -> None:
    class IndexOnly(MemoryStorage):
        keyset_paging = False

    scim = Scim("memory", storage=IndexOnly())
    scim.populate()
    scim.error(501, None, "GET", "/", cursor="")
    assert labels(scim.root(count=2, startIndex=4)) == ["U:dee", "G:Legal"]


@pytest.mark.parametrize("backend", ["memory", "sql"])
def test_a_cursor_over_long_non_ascii_sort_values_resumes(backend: str) -> None:
    """RFC 9865 §2: each page's nextCursor resumes the search. A root cursor
    holds a position per type within one cursor's length limit, so it keeps
    the sort values as UTF-8: written as \\u escapes (6 bytes for a CJK
    character, not 3), names of 211 such characters on both types already
    made the second page 400 invalidCursor."""
    scim = Scim(backend)
    for i in range(3):
        name = chr(0x4E00 + i) * 300
        document = {"schemas": [USER_URN], "userName": f"u{i}", "displayName": name}
        assert scim("POST", "/Users", document).status == 201
        document = {"schemas": [GROUP_URN], "displayName": name + "g"}
        assert scim("POST", "/Groups", document).status == 201
    seen: list[str] = []
    cursor = ""
    for _ in range(4):
        page = scim.root(cursor=cursor, count=2, sortBy="displayName")
        seen += [resource["id"] for resource in page["Resources"]]
        if "nextCursor" not in page:
            break
        cursor = page["nextCursor"]
    assert seen == [f"id-{n}" for n in (1, 2, 3, 4, 5, 6)]


# -- projection ---------------------------------------------------------------


def test_attributes_apply_to_each_type_with_the_names_it_declares(scim: Scim) -> None:
    """RFC 7644 §3.4.2.5; schemas still tells the types apart."""
    page = scim.root(attributes="userName,members.value")
    users, groups = page["Resources"][:4], page["Resources"][4:]
    assert [sorted(u) for u in users] == [["id", "schemas", "userName"]] * 4
    assert [sorted(g) for g in groups] == [["id", "members", "schemas"]] * 3
    assert [g["members"] for g in groups] == [
        [{"value": "id-1"}, {"value": "id-2"}],
        [],
        [],
    ]
    # As each endpoint projects its own resources.
    alone = scim.ok("GET", "/Groups", attributes="userName,members.value")
    assert alone["Resources"] == groups
    assert labels(scim.root(attributes="userName"))[:4] == USERS
    excluded = scim.root(excludedAttributes="members,emails,meta")
    assert all(
        not {"members", "emails", "meta"} & set(r) for r in excluded["Resources"]
    )
    assert [r["schemas"][0] for r in excluded["Resources"]] == [USER_URN] * 4 + [
        GROUP_URN
    ] * 3


# -- one tenant, one answer -----------------------------------------------------


def test_the_root_searches_the_authenticated_tenant_only(scim: Scim) -> None:
    page = scim.ok("GET", "/", token=GLOBEX)
    assert (page["totalResults"], page["Resources"]) == (0, [])
    created = scim(
        "POST",
        "/Users",
        {"schemas": [USER_URN], "userName": "ada", "displayName": "Legal"},
        token=GLOBEX,
    )
    assert created.status == 201
    other = scim.ok("GET", "/", token=GLOBEX, filter='displayName eq "Legal"')
    assert labels(other) == ["U:ada"]
    assert other["Resources"][0]["id"] == json.loads(created.body)["id"]
    assert labels(scim.root(filter='displayName eq "Legal"')) == ["U:ada", "G:Legal"]
    scim.error(401, None, "GET", "/", token=None)
    scim.error(401, None, "POST", "/.search", {}, token=None)


# -- routing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/", "GET"),
        ("PUT", "/", "GET"),
        ("PATCH", "", "GET"),
        ("DELETE", "/", "GET"),
        ("GET", "/.search", "POST"),
        ("PUT", "/.search", "POST"),
        ("DELETE", "/.SEARCH", "POST"),
    ],
)
def test_other_methods_are_405_with_allow(
    scim: Scim, method: str, path: str, allowed: str
) -> None:
    response = scim(method, path, {} if method in ("POST", "PUT", "PATCH") else None)
    assert response.status == 405
    assert response.header("Allow") == allowed


def test_below_dot_search_there_is_nothing(scim: Scim) -> None:
    scim.error(404, None, "POST", "/.search/more", {})


# -- the work done ----------------------------------------------------------------


class _Spy(MemoryStorage):
    """Records the searches the service asks for: the type, and the query."""

    def __init__(self) -> None:
        super().__init__()
        self.searches: list[tuple[str, SearchQuery]] = []

    @contextmanager
    def session(self, tenant: str) -> Iterator[StorageSession]:
        with super().session(tenant) as session:
            search: Callable[[str, SearchQuery], SearchResult] = session.search

            def spy(resource_type: str, query: SearchQuery) -> SearchResult:
                self.searches.append((resource_type, query))
                return search(resource_type, query)

            session.search = spy  # type: ignore[method-assign]
            yield session


def test_a_type_the_filter_rules_out_is_not_searched() -> None:
    storage = _Spy()
    scim = Scim("memory", storage=storage)
    scim.populate()
    cases = [
        ('userName eq "ada"', [("User", True)]),
        ("members pr", [("Group", True)]),
        # True on every group: the groups are listed unfiltered.
        ('not (userName eq "ada")', [("User", True), ("Group", False)]),
        ('displayName eq "x"', [("User", True), ("Group", True)]),
    ]
    for expression, searches in cases:
        storage.searches.clear()
        scim.root(filter=expression)
        filtered = [(kind, q.filter is not None) for kind, q in storage.searches]
        assert filtered == searches, expression


def test_an_unsorted_page_reads_one_page_per_type() -> None:
    """Without sortBy the page is located from the totals, not by reading the
    resources before it; with sortBy each type gives its first
    startIndex + count - 1."""
    storage = _Spy()
    scim = Scim("memory", storage=storage)
    scim.populate()
    storage.searches.clear()
    assert labels(scim.root(startIndex=4, count=2)) == ["U:dee", "G:Legal"]
    pages = [(kind, q.start_index, q.count) for kind, q in storage.searches]
    assert pages == [("User", 4, 2), ("Group", 1, 1)]
    storage.searches.clear()
    assert labels(scim.root(startIndex=6, count=2)) == ["G:Admins", "G:ops"]
    pages = [(kind, q.start_index, q.count) for kind, q in storage.searches]
    assert pages == [("User", 6, 2), ("Group", 2, 2)]
    storage.searches.clear()
    scim.root(startIndex=3, count=2, sortBy="displayName")
    pages = [(kind, q.start_index, q.count) for kind, q in storage.searches]
    assert pages == [("User", 1, 4), ("Group", 1, 4)]


# -- the async entry point answers alike --------------------------------------------

SCRIPT: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("GET", "/", None, {}),
    ("GET", "/", None, {"sortBy": "displayName", "startIndex": 2, "count": 4}),
    ("GET", "/", None, {"filter": 'not (userName eq "ada")', "count": 3}),
    ("POST", "/.search", {"filter": "members pr", "attributes": ["members"]}, {}),
    ("GET", "/", None, {"filter": 'nosuch eq "x"'}),
    ("GET", "/", None, {"sortBy": "name"}),
    ("PUT", "/", {}, {}),
    ("GET", "/", None, {"cursor": "", "count": 3, "sortBy": "userName"}),
]


def _comparable(response: ScimResponse) -> tuple[int, Any, bytes]:
    body = response.body
    if b'"nextCursor"' in body:
        document = json.loads(body)
        document["nextCursor"] = "<cursor>"
        body = json.dumps(document).encode()
    return response.status, response.headers, body


def test_handle_async_over_an_async_storage_answers_alike() -> None:
    sync, asynchronous = Scim("memory"), Scim("async")
    sync.populate()
    asynchronous.populate()
    for method, path, body, params in SCRIPT:
        ours = sync(method, path, body, **params)
        theirs = asynchronous(method, path, body, **params)
        assert _comparable(ours) == _comparable(theirs), (method, path, params)
    for harness in (sync, asynchronous):
        cursor, seen = "", []
        while cursor is not None:
            page = harness.root(cursor=cursor, count=2, sortBy="displayName")
            seen += labels(page)
            cursor = page.get("nextCursor")
        assert seen == labels(sync.root(sortBy="displayName"))
