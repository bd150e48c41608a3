"""RFC 9865 cursor paging through the service, and its cost on the SQL backend.

The storage side (every backend pages by position in index paging's order)
is in the contract kit (``tomorro_scim.testing._cursor``); here: the
``cursor`` parameter, ``nextCursor``, the errors, the advertisement, the
signing key shared by processes, and a deep page that costs what the first
one costs.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tomorro_scim.auth import TokenManager
from tomorro_scim.http import ScimRequest
from tomorro_scim.http import ScimResponse
from tomorro_scim.service import ScimService
from tomorro_scim.service import ServiceSettings
from tomorro_scim.storage import USER
from tomorro_scim.storage import Keyset
from tomorro_scim.storage import SearchQuery
from tomorro_scim.storage.memory import MemoryStorage
from tomorro_scim.storage.sql import SqlStorage
from tomorro_scim.storage.sql import schema

BASE = "https://app.example.com/scim/v2"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
TOKEN = "tenant-acme-secret-token-0123456789"
OTHER_TOKEN = "tenant-globex-secret-token-0123456789"
POSTGRES_URL = os.environ.get("TOMORRO_SCIM_TEST_POSTGRES_URL", "")
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Client:
    def __init__(
        self,
        storage: Any,
        settings: ServiceSettings | None = None,
        *,
        issue: bool = True,
    ) -> None:
        self.storage = storage
        self.now = START
        if issue:
            TokenManager(storage).issue("acme", token=TOKEN)
            TokenManager(storage).issue("globex", token=OTHER_TOKEN)
        self.service = ScimService(storage, settings=settings, clock=lambda: self.now)

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str = TOKEN,
        **query: Any,
    ) -> ScimResponse:
        from urllib.parse import urlencode

        return self.service.handle(
            ScimRequest(
                method,
                path,
                query=urlencode(query),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/scim+json",
                },
                body=json.dumps(body).encode() if body is not None else b"",
                base_url=BASE,
            )
        )

    def list(self, **query: Any) -> dict[str, Any]:
        response = self("GET", "/Users", **query)
        assert response.status == 200, response.body
        body: dict[str, Any] = response.json()
        return body

    def add_users(self, count: int) -> None:
        for index in range(count):
            user = {
                "schemas": [USER_URN],
                "userName": f"user{index:03d}@example.com",
                # Ties and missing values for sortBy=displayName.
                **({"displayName": f"Team {index % 3}"} if index % 4 else {}),
                "active": index % 2 == 0,
            }
            response = self("POST", "/Users", user)
            assert response.status == 201, response.body


def walk(client: Client, **query: Any) -> tuple[list[str], list[dict[str, Any]]]:
    ids: list[str] = []
    pages: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = client.list(cursor=cursor, **query)
        pages.append(page)
        ids += [r["id"] for r in page["Resources"]]
        if "nextCursor" not in page:
            return ids, pages
        cursor = page["nextCursor"]
        assert len(pages) < 100


@pytest.fixture
def client() -> Client:
    scim = Client(MemoryStorage())
    scim.add_users(11)
    return scim


def error(response: ScimResponse, status: int, scim_type: str | None) -> str:
    assert response.status == status, response.body
    body = response.json()
    assert body.get("scimType") == scim_type
    detail: str = body["detail"]
    return detail


# -- the parameter and the response (RFC 9865 §2, §3) -------------------------


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"sortBy": "displayName"},
        {"sortBy": "displayName", "sortOrder": "descending"},
        {"filter": "active eq true", "sortBy": "userName"},
        {"filter": 'displayName sw "team"', "attributes": "userName"},
    ],
)
def test_cursor_pages_walk_every_user_once_in_index_order(
    client: Client, query: dict[str, Any]
) -> None:
    whole = client.list(count=1000, **query)
    ids, pages = walk(client, count=3, **query)
    assert ids == [r["id"] for r in whole["Resources"]]
    assert len(pages) == max(1, -(-whole["totalResults"] // 3))
    for page in pages:
        assert page["totalResults"] == whole["totalResults"]
        assert page["itemsPerPage"] == len(page["Resources"])
        assert "startIndex" not in page
        assert "previousCursor" not in page
    assert all("nextCursor" in page for page in pages[:-1])
    assert "nextCursor" not in pages[-1]


def test_cursor_values_are_unreserved_characters(client: Client) -> None:
    cursor = client.list(cursor="", count=2)["nextCursor"]
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    assert cursor
    assert set(cursor) <= allowed


def test_a_bare_cursor_parameter_asks_for_the_first_page(client: Client) -> None:
    response = client.service.handle(
        ScimRequest(
            "GET",
            "/Users",
            query="cursor&count=4",
            headers={"Authorization": f"Bearer {TOKEN}"},
            base_url=BASE,
        )
    )
    body = response.json()
    assert len(body["Resources"]) == 4
    assert "nextCursor" in body


@pytest.mark.parametrize("letter", ["a", "\u6f22"])
def test_a_cursor_over_a_long_sort_value_resumes(letter: str) -> None:
    """RFC 9865 §2: every nextCursor the server issues must be accepted back,
    however long the sort value it carries (a 5,000-character displayName)."""
    scim = Client(MemoryStorage())
    for index in range(3):
        user = {"schemas": [USER_URN], "userName": f"u{index}@example.com"}
        user["displayName"] = letter * 5000 + str(index)
        assert scim("POST", "/Users", user).status == 201
    ids, pages = walk(scim, count=1, sortBy="displayName")
    assert len(ids) == 3
    assert len(set(ids)) == 3
    assert len(pages[0]["nextCursor"]) > 6000


def test_search_request_bodies_take_a_cursor(client: Client) -> None:
    def search(cursor: str) -> dict[str, Any]:
        body = {"schemas": [SEARCH], "cursor": cursor, "count": 5}
        response = client("POST", "/Users/.search", body)
        assert response.status == 200, response.body
        found: dict[str, Any] = response.json()
        return found

    first = search("")
    second = search(first["nextCursor"])
    third = search(second["nextCursor"])
    assert "nextCursor" not in third
    ids = [r["id"] for page in (first, second, third) for r in page["Resources"]]
    assert ids == [r["id"] for r in client.list(count=100)["Resources"]]


def test_count_zero_returns_the_total_only(client: Client) -> None:
    body = client.list(cursor="", count=0)
    assert body["totalResults"] == 11
    assert body["Resources"] == []
    assert "nextCursor" not in body


def test_count_is_capped_by_max_page_size() -> None:
    scim = Client(MemoryStorage(), ServiceSettings(max_page_size=4))
    scim.add_users(6)
    body = scim.list(cursor="", count=50)
    assert len(body["Resources"]) == 4
    assert "nextCursor" in body


def test_an_empty_result_has_no_next_cursor(client: Client) -> None:
    body = client.list(cursor="", filter='userName eq "nobody"')
    assert (body["totalResults"], body["Resources"]) == (0, [])
    assert "nextCursor" not in body


def test_index_paging_is_unchanged(client: Client) -> None:
    body = client.list(startIndex=4, count=3)
    assert body["startIndex"] == 4
    assert len(body["Resources"]) == 3
    assert "nextCursor" not in body
    default = client.list()
    assert default["startIndex"] == 1
    assert "nextCursor" not in default


def test_cursor_and_start_index_together_are_refused(client: Client) -> None:
    # RFC 9865 §2.4: one method per request, picked by one of the two.
    detail = error(
        client("GET", "/Users", cursor="", startIndex=1), 400, "invalidValue"
    )
    assert "startIndex" in detail
    error(
        client("POST", "/Users/.search", {"cursor": "", "startIndex": 2}),
        400,
        "invalidValue",
    )


# -- errors (RFC 9865 §2.1) ---------------------------------------------------


def _tampered(cursor: str) -> str:
    body, _, signature = cursor.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"][1] = 1  # jump back to the start
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=")
    return f"{forged.decode()}.{signature}"


@pytest.mark.parametrize(
    "make",
    [
        lambda cursor: "not-a-cursor",
        lambda cursor: "@@@.@@@",
        lambda cursor: cursor[:-3],
        lambda cursor: cursor.replace(".", ".x", 1),
        lambda cursor: "x" + cursor,
        _tampered,
        lambda cursor: cursor * 50,
    ],
)
def test_garbled_or_tampered_cursors_are_invalid(client: Client, make: Any) -> None:
    cursor = client.list(cursor="", count=2)["nextCursor"]
    error(client("GET", "/Users", cursor=make(cursor), count=2), 400, "invalidCursor")


@pytest.mark.parametrize(
    "other",
    [
        {"filter": "active eq true"},
        {"sortBy": "userName"},
        {"sortOrder": "descending"},
    ],
)
def test_a_cursor_is_bound_to_its_query(client: Client, other: dict[str, Any]) -> None:
    cursor = client.list(cursor="", count=2)["nextCursor"]
    error(client("GET", "/Users", cursor=cursor, **other), 400, "invalidCursor")
    # The projection and the count do not change the order: allowed.
    assert client.list(cursor=cursor, count=5, attributes="userName")["Resources"]


def test_a_cursor_is_bound_to_its_tenant_and_resource_type(client: Client) -> None:
    cursor = client.list(cursor="", count=2)["nextCursor"]
    error(
        client("GET", "/Users", cursor=cursor, token=OTHER_TOKEN), 400, "invalidCursor"
    )
    error(client("GET", "/Groups", cursor=cursor), 400, "invalidCursor")


def test_cursors_expire_after_the_timeout() -> None:
    scim = Client(MemoryStorage(), ServiceSettings(cursor_timeout=600))
    scim.add_users(5)
    cursor = scim.list(cursor="", count=2)["nextCursor"]
    scim.now = START + timedelta(seconds=600)
    assert scim.list(cursor=cursor, count=2)["Resources"]
    scim.now = START + timedelta(seconds=601)
    detail = error(scim("GET", "/Users", cursor=cursor, count=2), 400, "expiredCursor")
    assert "600" in detail


# -- the advertisement (RFC 9865 §4) -----------------------------------------


def test_service_provider_config_advertises_cursor_paging() -> None:
    scim = Client(
        MemoryStorage(),
        ServiceSettings(default_page_size=50, max_page_size=200, cursor_timeout=900),
    )
    config = scim("GET", "/ServiceProviderConfig").json()
    assert config["pagination"] == {
        "cursor": True,
        "index": True,
        "defaultPaginationMethod": "index",
        "defaultPageSize": 50,
        "maxPageSize": 200,
        "cursorTimeout": 900,
    }


class _IndexOnly(MemoryStorage):
    keyset_paging = False


def test_a_storage_without_keyset_paging_serves_index_paging_only() -> None:
    scim = Client(_IndexOnly())
    scim.add_users(2)
    pagination = scim("GET", "/ServiceProviderConfig").json()["pagination"]
    assert pagination["cursor"] is False
    assert "cursorTimeout" not in pagination
    error(scim("GET", "/Users", cursor=""), 501, None)
    assert len(scim.list()["Resources"]) == 2


# -- the signing key ----------------------------------------------------------


def test_services_sharing_a_cursor_secret_accept_each_others_cursors() -> None:
    storage = MemoryStorage()
    one = Client(storage, ServiceSettings(cursor_secret=b"s" * 32))
    two = Client(storage, ServiceSettings(cursor_secret=b"s" * 32), issue=False)
    other = Client(storage, ServiceSettings(cursor_secret=b"t" * 32), issue=False)
    one.add_users(5)
    cursor = one.list(cursor="", count=2)["nextCursor"]
    assert len(two.list(cursor=cursor, count=2)["Resources"]) == 2
    error(other("GET", "/Users", cursor=cursor, count=2), 400, "invalidCursor")
    assert "s" * 32 not in repr(one.service.settings)


def test_processes_on_one_sql_database_share_the_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = SqlStorage(url), SqlStorage(url)
    try:
        one = Client(first)
        two = Client(second, issue=False)
        one.add_users(7)
        ids, pages = [], 0
        cursor = ""
        while True:  # alternate processes, as a load balancer would
            page = (one if pages % 2 else two).list(cursor=cursor, count=2)
            pages += 1
            ids += [r["id"] for r in page["Resources"]]
            if "nextCursor" not in page:
                break
            cursor = page["nextCursor"]
        assert ids == [r["id"] for r in one.list(count=100)["Resources"]]
        assert first.cursor_secret() == second.cursor_secret()
        assert SqlStorage(f"sqlite:///{tmp_path / 'else.db'}").cursor_secret() != (
            first.cursor_secret()
        )
    finally:
        first.close()
        second.close()


def test_a_version_1_database_gets_the_secrets_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v1.db'}"
    storage = SqlStorage(url)
    with storage.engine.begin() as connection:
        connection.execute(text("DROP TABLE scim_secrets"))
        connection.execute(schema.schema_version.update().values(version=1))
    storage.close()
    upgraded = SqlStorage(url, upgrade=True)
    try:
        assert upgraded.found_version == 1
        assert upgraded.schema_version == schema.SCHEMA_VERSION == 2
        assert len(upgraded.cursor_secret()) == 32
    finally:
        upgraded.close()


# -- the cost of a deep page (SQL) --------------------------------------------

_USERS = 20_010
_COUNT = 1


def _load(storage: SqlStorage, tenant: str) -> None:
    """Bulk rows straight into the table: seq 1.._USERS in the default order."""
    rows = [
        {
            "tenant": tenant,
            "id": f"u{seq:06d}",
            "seq": seq,
            "version": 1,
            "managed": True,
            "document": json.dumps({"id": f"u{seq:06d}", "userName": f"u{seq}"}),
        }
        for seq in range(1, _USERS + 1)
    ]
    with storage.engine.begin() as connection:
        connection.execute(schema.users.insert(), rows)
        connection.execute(
            schema.counts.insert().values(
                tenant=tenant, resource_type=USER, total=_USERS
            )
        )


def _sqlite_work(
    storage: SqlStorage, tenant: str, query: SearchQuery
) -> tuple[int, Any]:
    """SQLite virtual machine steps the search takes (a count of work, not time)."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    with storage.session(tenant) as session:
        raw = session._connection.connection.dbapi_connection  # type: ignore[attr-defined]
        raw.set_progress_handler(tick, 100)
        try:
            result = session.search(USER, query)
        finally:
            raw.set_progress_handler(None, 100)
    return steps[0], result


def test_sqlite_deep_cursor_page_costs_what_the_first_costs(tmp_path: Path) -> None:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'deep.db'}")
    try:
        _load(storage, "acme")
        first_work, first = _sqlite_work(
            storage, "acme", SearchQuery(keyset=True, count=_COUNT)
        )
        deep_query = SearchQuery(keyset=True, count=_COUNT, after=Keyset(None, 20_000))
        deep_work, deep = _sqlite_work(storage, "acme", deep_query)
        index_work, index = _sqlite_work(
            storage, "acme", SearchQuery(start_index=20_001, count=_COUNT)
        )
        assert [r.id for r in first.resources] == ["u000001"]
        assert [r.id for r in deep.resources] == [r.id for r in index.resources]
        assert [r.id for r in deep.resources] == ["u020001"]
        assert deep.total == first.total == _USERS
        # Flat: the same work within a small margin, while the offset walks
        # 20,000 index entries.
        assert deep_work <= first_work * 1.5 + 10
        assert index_work > deep_work * 20
        with storage.engine.connect() as connection:
            plan = " ".join(
                str(row[-1])
                for row in connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT id FROM scim_users WHERE tenant = ? "
                    "AND managed = 1 AND seq > ? ORDER BY seq LIMIT 2",
                    ("acme", 20_000),
                )
            )
        assert "scim_users_order" in plan, plan
        assert "seq>?" in plan, plan
    finally:
        storage.close()


@pytest.fixture
def postgres() -> Iterator[SqlStorage]:
    if not POSTGRES_URL:
        pytest.skip("set TOMORRO_SCIM_TEST_POSTGRES_URL to run on PostgreSQL")
    from sqlalchemy import create_engine

    name = f"scim_cursor_{os.getpid()}"
    storage = SqlStorage(POSTGRES_URL, schema=name)
    try:
        yield storage
    finally:
        storage.close()
        engine = create_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


def _rows_touched(plan: dict[str, Any]) -> int:
    """Rows every node of an EXPLAIN ANALYZE plan produced or removed."""
    rows = int(plan.get("Actual Rows", 0)) * int(plan.get("Actual Loops", 1))
    rows += int(plan.get("Rows Removed by Filter", 0))
    return rows + sum(_rows_touched(child) for child in plan.get("Plans", []))


def test_postgres_deep_cursor_page_touches_what_the_first_touches(
    postgres: SqlStorage,
) -> None:
    _load(postgres, "acme")
    with postgres.engine.begin() as connection:
        connection.exec_driver_sql(f'ANALYZE "{postgres.db_schema}".scim_users')
    captured: list[tuple[str, Any]] = []

    def capture(
        conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any
    ) -> None:
        if "FROM" in statement and "scim_users" in statement and "LIMIT" in statement:
            captured.append((statement, parameters))

    from sqlalchemy import event

    def touched(query: SearchQuery) -> tuple[int, Any]:
        captured.clear()
        event.listen(postgres.engine, "before_cursor_execute", capture)
        try:
            with postgres.session("acme") as session:
                result = session.search(USER, query)
        finally:
            event.remove(postgres.engine, "before_cursor_execute", capture)
        total = 0
        with postgres.engine.begin() as connection:
            for statement, parameters in captured:
                (plan,) = connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
                ).scalar_one()
                total += _rows_touched(plan["Plan"])
        return total, result

    first_rows, first = touched(SearchQuery(keyset=True, count=_COUNT))
    deep_rows, deep = touched(
        SearchQuery(keyset=True, count=_COUNT, after=Keyset(None, 20_000))
    )
    index_rows, index = touched(SearchQuery(start_index=20_001, count=_COUNT))
    assert [r.id for r in deep.resources] == [r.id for r in index.resources]
    assert [r.id for r in first.resources] == ["u000001"]
    assert first_rows <= 10, first_rows
    assert deep_rows <= 10, deep_rows
    assert index_rows >= 20_000
