"""``POST /Bulk`` (RFC 7644 §3.7), driven through ScimService.handle and handle_async.

The RFC's own examples (§3.7.1-§3.7.4, ids and URLs adapted), references in
any order, circular references, failOnErrors, both limits, per-operation
transactions, versions, two tenants, and the same scenario over an async
storage answering byte for byte alike.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.suspending import SuspendingStorage
from tests.test_storage_sql import POSTGRES_URL
from tests.test_storage_sql import postgres_schema

from tomorro_scim.auth import AsyncTokenManager
from tomorro_scim.auth import TokenManager
from tomorro_scim.bulk.order import declarations
from tomorro_scim.bulk.order import execution_order
from tomorro_scim.bulk.request import read_operation
from tomorro_scim.events import Event
from tomorro_scim.events import EventBus
from tomorro_scim.events import GroupCreated
from tomorro_scim.events import MembersAdded
from tomorro_scim.events import MembersSkipped
from tomorro_scim.events import UserCreated
from tomorro_scim.events import UserDeleted
from tomorro_scim.events import UserUpdated
from tomorro_scim.http import ScimRequest
from tomorro_scim.http import ScimResponse
from tomorro_scim.schemas import default_registry
from tomorro_scim.service import ScimService
from tomorro_scim.service import ServiceSettings
from tomorro_scim.storage import StorageSession
from tomorro_scim.storage.memory import MemoryStorage
from tomorro_scim.storage.sql import SqlStorage

BASE = "https://example.com/v2"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
TOKEN = "tenant-acme-secret-token-0123456789"
OTHER_TOKEN = "tenant-globex-secret-token-0123456789"


class FaultyStorage(MemoryStorage):
    """A memory storage whose create fails, as a broken database would, for one userName."""

    @contextmanager
    def session(self, tenant: str) -> Iterator[StorageSession]:
        with super().session(tenant) as session:
            create = session.create

            def failing_create(kind: str, document: dict[str, Any], **kw: Any) -> Any:
                if document.get("userName") == "boom":
                    raise RuntimeError("connection to db-internal-7:5432 reset")
                return create(kind, document, **kw)

            session.create = failing_create  # type: ignore[method-assign]
            yield session


class Harness:
    """A service over a memory storage with two tenants, an event log and a clock."""

    def __init__(self, settings: ServiceSettings | None = None) -> None:
        self.storage = FaultyStorage()
        TokenManager(self.storage).issue("acme", token=TOKEN)
        TokenManager(self.storage).issue("globex", token=OTHER_TOKEN)
        self.events: list[Event] = []
        bus = EventBus()
        bus.subscribe(self.events.append)
        ids = itertools.count(1)
        self.service = ScimService(
            self.storage,
            settings=settings,
            events=bus,
            clock=lambda: datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
            id_factory=lambda: f"id-{next(ids)}",
        )

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str = TOKEN,
        raw: bytes | None = None,
        declared_length: int = 0,
    ) -> ScimResponse:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
            "User-Agent": "bulk-test-client/1.0",
            "X-Request-Id": "req-bulk-1",
        }
        data = raw if raw is not None else b""
        if body is not None:
            data = json.dumps(body).encode()
        return self.service.handle(
            ScimRequest(
                method,
                path,
                headers=headers,
                body=data,
                base_url=BASE,
                declared_length=declared_length,
            )
        )

    def bulk(self, *operations: Any, token: str = TOKEN, **extra: Any) -> list[Any]:
        response = self.call(
            "POST",
            "/Bulk",
            {"schemas": [BULK_REQUEST], **extra, "Operations": list(operations)},
            token=token,
        )
        assert response.status == 200, response.body
        body = response.json()
        assert body["schemas"] == [BULK_RESPONSE]
        entries: list[Any] = body["Operations"]
        return entries

    def get(self, path: str, token: str = TOKEN) -> Any:
        response = self.call("GET", path, token=token)
        assert response.status == 200, response.body
        return response.json()

    def user(self, user_name: str, **attributes: Any) -> dict[str, Any]:
        response = self.call(
            "POST", "/Users", {"schemas": [USER], "userName": user_name, **attributes}
        )
        assert response.status == 201, response.body
        body: dict[str, Any] = response.json()
        return body

    def of(self, event_type: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, event_type)]


@pytest.fixture
def scim() -> Harness:
    return Harness()


def post(bulk_id: str, path: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"method": "POST", "path": path, "bulkId": bulk_id, "data": data}


def new_user(bulk_id: str, user_name: str, **attributes: Any) -> dict[str, Any]:
    return post(
        bulk_id, "/Users", {"schemas": [USER], "userName": user_name, **attributes}
    )


def new_group(bulk_id: str, name: str, *members: str) -> dict[str, Any]:
    return post(
        bulk_id,
        "/Groups",
        {
            "schemas": [GROUP],
            "displayName": name,
            "members": [{"type": "User", "value": m} for m in members],
        },
    )


def manager(reference: Any) -> dict[str, Any]:
    return {"schemas": [USER, ENTERPRISE], ENTERPRISE: {"manager": reference}}


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def assert_failed(
    entry: dict[str, Any], status: int, scim_type: str | None = None
) -> str:
    """The entry reports ``status`` with a SCIM Error body (RFC 7644 §3.7.3, §3.12)."""
    assert entry["status"] == str(status), entry
    error = entry["response"]
    assert error["schemas"] == [ERROR]
    assert error["status"] == str(status)
    assert error.get("scimType") == scim_type, error
    assert "version" not in entry
    detail: str = error["detail"]
    return detail


# -- RFC 7644 §3.7.2: bulkId temporary identifiers ------------------------------


def test_rfc_3_7_2_user_and_group_created_together(scim: Harness) -> None:
    entries = scim.bulk(
        new_user("qwerty", "Alice"), new_group("ytrewq", "Tour Guides", "bulkId:qwerty")
    )
    assert entries == [
        {
            "location": f"{BASE}/Users/id-1",
            "method": "POST",
            "bulkId": "qwerty",
            "version": 'W/"1"',
            "status": "201",
        },
        {
            "location": f"{BASE}/Groups/id-2",
            "method": "POST",
            "bulkId": "ytrewq",
            "version": 'W/"2"',
            "status": "201",
        },
    ]
    group = scim.get("/Groups/id-2")
    assert [m["value"] for m in group["members"]] == ["id-1"]
    assert [g["value"] for g in scim.get("/Users/id-1")["groups"]] == ["id-2"]
    # Each operation published its own events, with the bulk's request id.
    assert [e.resource_id for e in scim.of(UserCreated)] == ["id-1"]
    assert [e.member_ids for e in scim.of(MembersAdded)] == [("id-1",)]
    assert {e.request_id for e in scim.events} == {"req-bulk-1"}
    assert {e.client for e in scim.events} == {"bulk-test-client/1.0"}


def test_operations_may_come_in_any_order(scim: Harness) -> None:
    """§3.7: the client's intent is kept whatever the order of the operations."""
    entries = scim.bulk(
        new_group("g", "Tour Guides", "bulkId:alice", "bulkId:bob"),
        {
            "method": "PATCH",
            "path": "/Users/bulkId:bob",
            "data": patch({"op": "replace", "path": "displayName", "value": "Bobby"}),
        },
        new_user("alice", "alice@example.com"),
        new_user("bob", "bob@example.com"),
    )
    assert [(e.get("bulkId"), e["status"]) for e in entries] == [
        ("g", "201"),
        (None, "200"),
        ("alice", "201"),
        ("bob", "201"),
    ]
    # The users were created first: they have the lower ids.
    assert entries[2]["location"] == f"{BASE}/Users/id-1"
    assert entries[3]["location"] == f"{BASE}/Users/id-2"
    assert entries[1]["location"] == f"{BASE}/Users/id-2"
    group = scim.get("/Groups/id-3")
    assert sorted(m["value"] for m in group["members"]) == ["id-1", "id-2"]
    assert scim.get("/Users/id-2")["displayName"] == "Bobby"


def test_rfc_3_7_2_reference_in_the_enterprise_extension(scim: Harness) -> None:
    """§3.7.2: "Extensions that include references ... MUST be handled in the same way"."""
    entries = scim.bulk(
        new_user("qwerty", "Alice"),
        post(
            "ytrewq",
            "/Users",
            {"userName": "Bob", **manager({"value": "bulkId:qwerty"})},
        ),
        # Entra's bare-string manager, a reference too.
        post("asdfgh", "/Users", {"userName": "Carol", **manager("bulkId:qwerty")}),
    )
    assert [e["status"] for e in entries] == ["201", "201", "201"]
    for user_id in ("id-2", "id-3"):
        assert scim.get(f"/Users/{user_id}")[ENTERPRISE]["manager"]["value"] == "id-1"


def test_references_in_paths_and_patch_filters(scim: Harness) -> None:
    existing = scim.user("keep@example.com")
    entries = scim.bulk(
        new_user("u", "temp@example.com"),
        new_group("g", "Temps", "bulkId:u", existing["id"]),
        {
            "method": "PUT",
            "path": "/Users/bulkId:u",
            "data": {
                "schemas": [USER],
                "userName": "temp@example.com",
                "title": "Temp",
            },
        },
        {
            "method": "PATCH",
            "path": "/Groups/bulkId:g",
            "data": patch({"op": "remove", "path": 'members[value eq "bulkId:u"]'}),
        },
        {"method": "DELETE", "path": "/Users/bulkId:u"},
    )
    assert [e["status"] for e in entries] == ["201", "201", "200", "204", "204"]
    assert entries[2]["location"] == entries[4]["location"] == f"{BASE}/Users/id-2"
    assert entries[3]["location"] == f"{BASE}/Groups/id-3"
    assert "version" not in entries[4]
    group = scim.get("/Groups/id-3")
    assert [m["value"] for m in group["members"]] == [existing["id"]]
    assert scim.call("GET", "/Users/id-2").status == 404
    assert [e.resource_id for e in scim.of(UserDeleted)] == ["id-2"]


# -- RFC 7644 §3.7.1: circular references -----------------------------------------


def test_users_managing_each_other_are_both_linked(scim: Harness) -> None:
    """§3.7.1: the service provider MUST try to resolve circular references."""
    entries = scim.bulk(
        post("a", "/Users", {"userName": "ann", **manager({"value": "bulkId:b"})}),
        post("b", "/Users", {"userName": "ben", **manager("bulkId:a")}),
    )
    assert [e["status"] for e in entries] == ["201", "201"]
    # Following Ann's reference reaches Ben, whose reference closes the
    # cycle: Ben is created first without his manager, Ann then with hers,
    # and a follow-up links Ben; his entry carries the version after it.
    assert entries[0]["location"] == f"{BASE}/Users/id-2"
    assert entries[1]["location"] == f"{BASE}/Users/id-1"
    ann = scim.get("/Users/id-2")
    ben = scim.call("GET", "/Users/id-1")
    assert ann[ENTERPRISE]["manager"]["value"] == "id-1"
    assert ben.json()[ENTERPRISE]["manager"]["value"] == "id-2"
    assert entries[1]["version"] == ben.header("ETag") == 'W/"2"'
    assert entries[0]["version"] == ann["meta"]["version"] == 'W/"1"'
    assert [e.resource_id for e in scim.of(UserUpdated)] == ["id-1"]


def test_a_user_managing_herself(scim: Harness) -> None:
    entries = scim.bulk(
        post("me", "/Users", {"userName": "solo", **manager({"value": "bulkId:me"})})
    )
    assert entries[0]["status"] == "201"
    assert scim.get("/Users/id-1")[ENTERPRISE]["manager"]["value"] == "id-1"


def test_rfc_3_7_1_groups_containing_each_other(scim: Harness) -> None:
    """The RFC's example: both groups are created; in this library members are
    users, so each group's member that is a group is skipped, as any id that
    names no user is (MembersSkipped), and each group ends up without the other."""
    entries = scim.bulk(
        post(
            "qwerty",
            "/Groups",
            {
                "schemas": [GROUP],
                "displayName": "Group A",
                "members": [{"type": "Group", "value": "bulkId:ytrewq"}],
            },
        ),
        post(
            "ytrewq",
            "/Groups",
            {
                "schemas": [GROUP],
                "displayName": "Group B",
                "members": [{"type": "Group", "value": "bulkId:qwerty"}],
            },
        ),
    )
    assert [(e["status"], e["location"]) for e in entries] == [
        ("201", f"{BASE}/Groups/id-2"),
        ("201", f"{BASE}/Groups/id-1"),
    ]
    assert scim.get("/Groups/id-1").get("members", []) == []
    assert scim.get("/Groups/id-2").get("members", []) == []
    assert sorted((e.resource_id, e.member_ids) for e in scim.of(MembersSkipped)) == [
        ("id-1", ("id-2",)),
        ("id-2", ("id-1",)),
    ]


def test_group_cycle_when_unknown_members_are_refused() -> None:
    scim = Harness(ServiceSettings(reject_unknown_members=True))
    entries = scim.bulk(
        new_group("a", "Group A", "bulkId:b"), new_group("b", "Group B", "bulkId:a")
    )
    # B was created without A; A's member B is not a user: 400. B's follow-up
    # has nothing left to set and reports the failed reference, with the
    # location of the group that does exist.
    assert "location" not in entries[0]
    assert "not users" in assert_failed(entries[0], 400, "invalidValue")
    assert entries[1]["location"] == f"{BASE}/Groups/id-1"
    assert "bulkId:a" in assert_failed(entries[1], 409)
    assert scim.get("/Groups/id-1")["displayName"] == "Group B"
    assert [e.resource_id for e in scim.of(GroupCreated)] == ["id-1"]


def test_a_user_and_a_group_on_a_cycle() -> None:
    scim = Harness(ServiceSettings(reject_unknown_members=True))
    entries = scim.bulk(
        # The group is created without its member, the user with the group's
        # id as her manager (any id is taken there), then the member is added.
        post("u", "/Users", {"userName": "uma", **manager({"value": "bulkId:g"})}),
        new_group("g", "Staff", "bulkId:u"),
    )
    assert [e["status"] for e in entries] == ["201", "201"]
    assert scim.get("/Users/id-2")[ENTERPRISE]["manager"]["value"] == "id-1"
    assert [m["value"] for m in scim.get("/Groups/id-1")["members"]] == ["id-2"]
    assert entries[1]["version"] == scim.call("GET", "/Groups/id-1").header("ETag")


def test_a_failed_follow_up_is_reported_on_its_operation(scim: Harness) -> None:
    """Yuri is created without his userType; the follow-up that sets it to
    Xena's id fails (no such role): his entry reports it, with his location."""
    entries = scim.bulk(
        post("x", "/Users", {"userName": "xena", **manager("bulkId:y")}),
        post(
            "y",
            "/Users",
            {"schemas": [USER], "userName": "yuri", "userType": "bulkId:x"},
        ),
    )
    assert entries[0]["status"] == "201"
    assert entries[1]["location"] == f"{BASE}/Users/id-1"
    assert "userType" in assert_failed(entries[1], 400, "invalidValue")
    assert "userType" not in scim.get("/Users/id-1")
    assert scim.get("/Users/id-2")[ENTERPRISE]["manager"]["value"] == "id-1"


def test_a_cycle_through_a_required_attribute_fails(scim: Harness) -> None:
    """Created without its userName, the POST closing the cycle fails; the
    other one's reference to it is then 409."""
    entries = scim.bulk(
        post("x", "/Users", {"schemas": [USER], "userName": "bulkId:y"}),
        post("y", "/Users", {"schemas": [USER], "userName": "bulkId:x"}),
    )
    assert "bulkId:y" in assert_failed(entries[0], 409)
    assert "userName" in assert_failed(entries[1], 400, "invalidValue")
    assert "location" not in entries[0]
    assert "location" not in entries[1]


def test_a_long_chain_of_references_needs_no_recursion() -> None:
    """1,500 users, each managed by the next and the last by the first: walked
    with an explicit stack (past Python's default recursion limit of 1,000)."""
    count = 1500
    scim = Harness(ServiceSettings(bulk_max_operations=count))
    entries = scim.bulk(
        *(
            post(
                f"u{i}",
                "/Users",
                {"userName": f"u{i}", **manager(f"bulkId:u{(i + 1) % count}")},
            )
            for i in range(count)
        )
    )
    assert {e["status"] for e in entries} == {"201"}
    ids = [e["location"].rsplit("/", 1)[1] for e in entries]
    for i in (0, 1, count - 1):
        user = scim.get(f"/Users/{ids[i]}")
        assert user[ENTERPRISE]["manager"]["value"] == ids[(i + 1) % count]


# -- the order, on its own ---------------------------------------------------------


def _order(*raw: dict[str, Any]) -> list[tuple[int, set[str]]]:
    """The operations' indexes in the order they run, each with the bulkIds it
    runs without (the references that close a cycle)."""
    declared: set[str] = set()
    operations = [
        read_operation(index, item, default_registry(), declared)
        for index, item in enumerate(raw)
    ]
    return [
        (operation.index, set(cut))
        for operation, cut in execution_order(operations, declarations(operations))
    ]


def test_a_post_runs_just_before_its_first_referrer() -> None:
    """§3.7: reordering is allowed when "the same stateful result is
    achieved"; only the POSTs an operation needs move, depth first."""
    update = {
        "method": "PATCH",
        "path": "/Groups/bulkId:g",
        "data": patch({"op": "add", "path": "members", "value": []}),
    }
    assert _order(
        update,
        new_user("x", "x@example.com"),
        new_group("g", "Tour Guides", "bulkId:u"),
        new_user("u", "u@example.com"),
    ) == [(3, set()), (2, set()), (0, set()), (1, set())]


def test_the_reference_closing_a_cycle_is_cut() -> None:
    """§3.7.1: the POST reached last on a cycle runs first, without its
    reference to the POST waiting on it; one that names itself runs
    without that reference."""
    assert _order(
        new_user("a", "a@example.com", **manager("bulkId:b")),
        new_user("b", "b@example.com", **manager("bulkId:a")),
    ) == [(1, {"a"}), (0, set())]
    assert _order(new_user("me", "me@example.com", **manager("bulkId:me"))) == [
        (0, {"me"})
    ]


# -- references that cannot be resolved -------------------------------------------


def test_unknown_and_failed_references(scim: Harness) -> None:
    scim.user("taken@example.com")
    entries = scim.bulk(
        new_group("g1", "Nobody's", "bulkId:nowhere"),
        new_user("dup", "taken@example.com"),
        new_group("g2", "Dup's", "bulkId:dup"),
        {"method": "DELETE", "path": "/Users/bulkId:dup"},
        {"method": "DELETE", "path": "/Users/bulkId:ghost"},
    )
    assert "nowhere" in assert_failed(entries[0], 400, "invalidValue")
    assert_failed(entries[1], 409, "uniqueness")
    assert "bulkId:dup" in assert_failed(entries[2], 409)
    assert "failed" in assert_failed(entries[3], 409)
    assert_failed(entries[4], 400, "invalidValue")
    # A failed POST, and an operation whose target never existed, have no location.
    assert not any("location" in e for e in entries)
    assert scim.of(GroupCreated) == []


def test_bulk_ids_do_not_outlive_their_request(scim: Harness) -> None:
    scim.bulk(new_user("mine", "first@example.com"))
    entries = scim.bulk({"method": "DELETE", "path": "/Users/bulkId:mine"})
    assert_failed(entries[0], 400, "invalidValue")
    assert scim.get("/Users/id-1")["userName"] == "first@example.com"


# -- RFC 7644 §3.7.3: response and error handling -----------------------------------


def _rfc_3_7_3_users(scim: Harness) -> tuple[str, str, str]:
    bob = scim.user("Bob")["id"]
    dave = scim.user("David", nickName="Dave")["id"]
    gone = scim.user("Eve")["id"]
    return bob, dave, gone


def _rfc_3_7_3_operations(
    bob: str, dave: str, gone: str, versions: tuple[str, str, str]
) -> list[dict[str, Any]]:
    return [
        new_user("qwerty", "Alice"),
        {
            "method": "PUT",
            "path": f"/Users/{bob}",
            "version": versions[0],
            "data": {"schemas": [USER], "id": bob, "userName": "Bob"},
        },
        {
            "method": "PATCH",
            "path": f"/Users/{dave}",
            "version": versions[1],
            "data": patch(
                {"op": "remove", "path": "nickName"},
                {"op": "replace", "path": "userName", "value": "Dave"},
            ),
        },
        {"method": "DELETE", "path": f"/Users/{gone}", "version": versions[2]},
    ]


def test_rfc_3_7_3_add_update_and_remove_users(scim: Harness) -> None:
    bob, dave, gone = _rfc_3_7_3_users(scim)
    operations = _rfc_3_7_3_operations(bob, dave, gone, ('W/"1"',) * 3)
    entries = scim.bulk(*operations, failOnErrors=1)
    assert entries == [
        {
            "location": f"{BASE}/Users/id-4",
            "method": "POST",
            "bulkId": "qwerty",
            "version": 'W/"1"',
            "status": "201",
        },
        {
            "location": f"{BASE}/Users/{bob}",
            "method": "PUT",
            "version": 'W/"2"',
            "status": "200",
        },
        {
            "location": f"{BASE}/Users/{dave}",
            "method": "PATCH",
            "version": 'W/"2"',
            "status": "200",
        },
        {"location": f"{BASE}/Users/{gone}", "method": "DELETE", "status": "204"},
    ]
    assert scim.get(f"/Users/{dave}")["userName"] == "Dave"
    assert "nickName" not in scim.get(f"/Users/{dave}")
    assert scim.call("GET", f"/Users/{gone}").status == 404


def test_rfc_3_7_3_fail_on_errors_stops_after_the_first_error(scim: Harness) -> None:
    bob, dave, gone = _rfc_3_7_3_users(scim)
    operations = _rfc_3_7_3_operations(bob, dave, gone, ('W/"1"',) * 3)
    operations[0]["data"] = {"schemas": [USER], "userName": ""}
    entries = scim.bulk(*operations, failOnErrors=1)
    # Only the failed POST is listed; the rest did not run.
    assert len(entries) == 1
    assert entries[0]["method"] == "POST"
    assert entries[0]["bulkId"] == "qwerty"
    assert "location" not in entries[0]
    assert_failed(entries[0], 400, "invalidValue")
    assert scim.get(f"/Users/{dave}")["nickName"] == "Dave"
    assert scim.get(f"/Users/{gone}")["userName"] == "Eve"
    assert scim.get(f"/Users/{bob}")["meta"]["version"] == 'W/"1"'


def test_rfc_3_7_3_every_operation_failing(scim: Harness) -> None:
    """Without failOnErrors, every operation runs and reports its own error."""
    bob, dave, gone = _rfc_3_7_3_users(scim)
    scim.call(
        "PATCH", f"/Users/{bob}", patch({"op": "add", "path": "title", "value": "x"})
    )
    operations = _rfc_3_7_3_operations(bob, dave, gone, ('W/"7"',) * 3)
    operations[0]["data"] = ["not", "a", "user"]
    entries = scim.bulk(*operations[:3])
    assert [e["method"] for e in entries] == ["POST", "PUT", "PATCH"]
    assert_failed(entries[0], 400, "invalidSyntax")
    assert "location" not in entries[0]
    for entry, user_id in zip(entries[1:], (bob, dave), strict=True):
        assert_failed(entry, 412)
        assert entry["location"] == f"{BASE}/Users/{user_id}"


def test_fail_on_errors_counts_the_errors(scim: Harness) -> None:
    entries = scim.bulk(
        {"method": "DELETE", "path": "/Users/missing-1"},
        new_user("a", "a@example.com"),
        {"method": "DELETE", "path": "/Users/missing-2"},
        new_user("b", "b@example.com"),
        failOnErrors=2,
    )
    assert [e["status"] for e in entries] == ["404", "201", "404"]
    assert entries[0]["location"] == f"{BASE}/Users/missing-1"
    assert scim.call("GET", "/Users", None).json()["totalResults"] == 1


def test_failing_operations_do_not_undo_the_others(scim: Harness) -> None:
    """Each operation is its own transaction (§3.7: "disregard partial failures")."""
    carol = scim.user("carol@example.com")["id"]
    entries = scim.bulk(
        new_user("a", "ann@example.com", active=True),
        new_user("clash", "ANN@example.com"),
        {
            "method": "PATCH",
            "path": f"/Users/{carol}",
            "data": patch({"op": "replace", "path": "active", "value": False}),
        },
        {
            "method": "PATCH",
            "path": f"/Users/{carol}",
            "data": patch({"op": "replace", "path": "userType", "value": "wizard"}),
        },
        new_group("g", "Everyone", "bulkId:a", carol),
        {
            "method": "PUT",
            "path": "/Groups/nope",
            "data": {"schemas": [GROUP], "displayName": "x"},
        },
    )
    assert [e["status"] for e in entries] == ["201", "409", "200", "400", "201", "404"]
    assert scim.get(f"/Users/{carol}")["active"] is False
    group = scim.get(entries[4]["location"].removeprefix(BASE))
    ann = entries[0]["location"].rsplit("/", 1)[1]
    assert sorted(m["value"] for m in group["members"]) == sorted([ann, carol])
    assert scim.call("GET", "/Users").json()["totalResults"] == 2


def test_storage_fault_fails_one_operation_only(
    scim: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="tomorro_scim.errors"):
        entries = scim.bulk(new_user("x", "boom"), new_user("y", "fine@example.com"))
    detail = assert_failed(entries[0], 500)
    assert "db-internal" not in detail
    assert entries[1]["status"] == "201"
    assert "req-bulk-1" in caplog.text
    assert "db-internal-7" in caplog.text


# -- malformed requests and operations ----------------------------------------------


@pytest.mark.parametrize(
    ("operation", "status", "scim_type"),
    [
        ("POST /Users", 400, "invalidSyntax"),
        ({"method": "GET", "path": "/Users/x"}, 400, "invalidValue"),
        ({"path": "/Users/x"}, 400, "invalidValue"),
        ({"method": "DELETE"}, 400, "invalidValue"),
        ({"method": "DELETE", "path": 7}, 400, "invalidValue"),
        ({"method": "POST", "path": "/Users", "data": {"userName": "z"}}, 400, "invalidValue"),
        ({"method": "POST", "bulkId": 5, "path": "/Users", "data": {}}, 400, "invalidValue"),
        ({"method": "POST", "bulkId": "n", "path": "/Users"}, 400, "invalidSyntax"),
        ({"method": "PUT", "path": "/Users/x", "data": "x"}, 400, "invalidSyntax"),
        ({"method": "DELETE", "path": "/Users/x", "version": 3}, 400, "invalidValue"),
        ({"method": "DELETE", "path": "/"}, 400, "invalidValue"),
        ({"method": "DELETE", "path": "/Bulk"}, 400, "invalidValue"),
        ({"method": "DELETE", "path": "/Me"}, 400, "invalidValue"),
        ({"method": "POST", "bulkId": "s", "path": "/Users/.search", "data": {}}, 400, "invalidValue"),
        ({"method": "DELETE", "path": "/Schemas/x"}, 400, "invalidValue"),
        ({"method": "DELETE", "path": "/Widgets/x"}, 404, None),
        ({"method": "DELETE", "path": "/Users/x/y"}, 404, None),
        ({"method": "DELETE", "path": "/Users"}, 405, None),
        ({"method": "POST", "bulkId": "p", "path": "/Users/x", "data": {}}, 405, None),
    ],
)  # fmt: skip
def test_a_malformed_operation_fails_alone(
    scim: Harness, operation: Any, status: int, scim_type: str | None
) -> None:
    entries = scim.bulk(operation, new_user("ok", "ok@example.com"))
    assert_failed(entries[0], status, scim_type)
    assert entries[1]["status"] == "201"


def test_methods_and_member_names_are_case_insensitive(scim: Harness) -> None:
    response = scim.call(
        "POST",
        "/Bulk",
        {
            "SCHEMAS": [BULK_REQUEST.upper()],
            "operations": [
                {
                    "Method": "post",
                    "PATH": "/users",
                    "BulkId": "k",
                    "Data": {"schemas": [USER], "userName": "k"},
                },
                {"method": "Delete", "path": "/Users/bulkId:k"},
            ],
        },
    )
    entries = response.json()["Operations"]
    assert [(e["method"], e["status"]) for e in entries] == [
        ("POST", "201"),
        ("DELETE", "204"),
    ]
    assert entries[0]["bulkId"] == "k"


def test_a_reused_bulk_id_fails_and_references_the_first(scim: Harness) -> None:
    entries = scim.bulk(
        new_user("same", "first@example.com"),
        new_user("same", "second@example.com"),
        new_group("g", "G", "bulkId:same"),
    )
    assert entries[0]["status"] == "201"
    assert "earlier POST" in assert_failed(entries[1], 400, "invalidValue")
    assert [m["value"] for m in scim.get("/Groups/id-2")["members"]] == ["id-1"]


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"Operations": []},
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [],
        },
        {"schemas": BULK_REQUEST, "Operations": []},
        {"schemas": [BULK_REQUEST]},
        {"schemas": [BULK_REQUEST], "Operations": {"method": "POST"}},
    ],
)
def test_a_malformed_request_is_400_invalid_syntax(scim: Harness, body: Any) -> None:
    response = scim.call("POST", "/Bulk", body)
    assert response.status == 400
    assert response.json()["scimType"] == "invalidSyntax"


@pytest.mark.parametrize("value", [0, -1, "1", True, 1.5])
def test_fail_on_errors_must_be_a_positive_integer(scim: Harness, value: Any) -> None:
    response = scim.call(
        "POST",
        "/Bulk",
        {"schemas": [BULK_REQUEST], "failOnErrors": value, "Operations": []},
    )
    assert response.status == 400
    assert response.json()["scimType"] == "invalidValue"


def test_empty_operations_is_an_empty_response(scim: Harness) -> None:
    assert scim.bulk() == []


def test_bulk_takes_only_post(scim: Harness) -> None:
    response = scim.call("GET", "/Bulk")
    assert response.status == 405
    assert response.header("Allow") == "POST"
    assert scim.call("POST", "/Bulk/x", {}).status == 404
    assert scim.call("POST", "/Bulk", {}, token="wrong-token-0123456789").status == 401


def test_bulk_body_must_be_json(scim: Harness) -> None:
    response = scim.call("POST", "/Bulk", raw=b"{not json")
    assert response.status == 400
    assert response.json()["scimType"] == "invalidSyntax"


# -- RFC 7644 §3.7.4: limits ------------------------------------------------------------


def test_limits_are_advertised() -> None:
    scim = Harness(ServiceSettings(bulk_max_operations=3, bulk_max_payload_bytes=2048))
    config = scim.get("/ServiceProviderConfig")
    assert config["bulk"] == {
        "supported": True,
        "maxOperations": 3,
        "maxPayloadSize": 2048,
    }
    defaults = Harness().get("/ServiceProviderConfig")["bulk"]
    assert defaults == {
        "supported": True,
        "maxOperations": 1000,
        "maxPayloadSize": 1048576,
    }
    # The body limit caps the payload limit: no adapter reads beyond it.
    capped = Harness(ServiceSettings(max_body_bytes=500))
    assert capped.get("/ServiceProviderConfig")["bulk"]["maxPayloadSize"] == 500


def test_more_operations_than_max_operations_is_413() -> None:
    scim = Harness(ServiceSettings(bulk_max_operations=2))
    operations = [new_user(f"u{i}", f"u{i}@example.com") for i in range(3)]
    response = scim.call(
        "POST", "/Bulk", {"schemas": [BULK_REQUEST], "Operations": operations}
    )
    assert response.status == 413
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == "413"
    assert body["detail"] == "the bulk request has 3 operations; maxOperations is 2"
    assert scim.call("GET", "/Users").json()["totalResults"] == 0
    assert len(scim.bulk(*operations[:2])) == 2


def test_a_body_over_max_payload_size_is_413() -> None:
    scim = Harness(ServiceSettings(bulk_max_payload_bytes=300))
    small = {"schemas": [BULK_REQUEST], "Operations": [new_user("a", "a@example.com")]}
    assert scim.call("POST", "/Bulk", small).status == 200
    big = {
        "schemas": [BULK_REQUEST],
        "Operations": [new_user(f"b{i}", f"b{i}@example.com") for i in range(4)],
    }
    raw = json.dumps(big).encode()
    response = scim.call("POST", "/Bulk", raw=raw)
    assert response.status == 413
    assert response.json()["detail"] == (
        f"the bulk request is {len(raw)} bytes; maxPayloadSize is 300"
    )
    # A body the adapter left unread is judged by its Content-Length.
    unread = scim.call("POST", "/Bulk", raw=b"", declared_length=10_000)
    assert unread.status == 413
    assert "10000 bytes" in unread.json()["detail"]
    assert scim.call("GET", "/Users").json()["totalResults"] == 1
    # Other endpoints keep max_body_bytes.
    assert scim.call("POST", "/Users", raw=b"{}", declared_length=10_000).status == 400


def test_bulk_can_be_turned_off() -> None:
    scim = Harness(ServiceSettings(bulk_max_operations=0))
    assert scim.get("/ServiceProviderConfig")["bulk"] == {
        "supported": False,
        "maxOperations": 0,
        "maxPayloadSize": 0,
    }
    response = scim.call("POST", "/Bulk", {"schemas": [BULK_REQUEST], "Operations": []})
    assert response.status == 501


# -- versions ---------------------------------------------------------------------------


def test_version_is_the_operations_if_match(scim: Harness) -> None:
    """RFC 7644 §3.7 ``version`` and §3.14: a stale one is 412, nothing changes."""
    user = scim.user("v@example.com")["id"]
    entries = scim.bulk(
        {
            "method": "PATCH",
            "path": f"/Users/{user}",
            "version": 'W/"9"',
            "data": patch({"op": "add", "path": "title", "value": "stale"}),
        },
        {
            "method": "PATCH",
            "path": f"/Users/{user}",
            "version": 'W/"1"',
            "data": patch({"op": "add", "path": "title", "value": "fresh"}),
        },
        {"method": "DELETE", "path": f"/Users/{user}", "version": 'W/"1"'},
        {
            "method": "PUT",
            "path": f"/Users/{user}",
            "version": "*",
            "data": {"schemas": [USER], "userName": "v@example.com", "title": "any"},
        },
    )
    assert_failed(entries[0], 412)
    assert entries[1]["version"] == 'W/"2"'
    assert_failed(entries[2], 412)
    assert entries[3]["version"] == 'W/"3"'
    assert scim.get(f"/Users/{user}")["title"] == "any"
    # The bulk request's own If-Match is not applied to its operations.
    response = scim.call(
        "POST",
        "/Bulk",
        {
            "schemas": [BULK_REQUEST],
            "Operations": [{"method": "DELETE", "path": f"/Users/{user}"}],
        },
    )
    assert response.json()["Operations"][0]["status"] == "204"


# -- tenants ------------------------------------------------------------------------------


def test_a_tenants_bulk_never_touches_another_tenant(scim: Harness) -> None:
    theirs = scim.user("acme-user@example.com")["id"]
    group = scim.call(
        "POST", "/Groups", {"schemas": [GROUP], "displayName": "Acme staff"}
    ).json()["id"]
    before = len(scim.events)
    entries = scim.bulk(
        {
            "method": "PUT",
            "path": f"/Users/{theirs}",
            "data": {"schemas": [USER], "userName": "stolen@example.com"},
        },
        {
            "method": "PATCH",
            "path": f"/Groups/{group}",
            "data": patch(
                {"op": "add", "path": "members", "value": [{"value": theirs}]}
            ),
        },
        {"method": "DELETE", "path": f"/Users/{theirs}"},
        new_group("g", "Globex staff", theirs),
        new_user("same", "acme-user@example.com"),
        token=OTHER_TOKEN,
    )
    for entry in entries[:3]:
        assert_failed(entry, 404)
    # Another tenant's user id is no user here: skipped, as any unknown id.
    assert entries[3]["status"] == "201"
    assert entries[4]["status"] == "201"
    assert entries[4]["location"] != f"{BASE}/Users/{theirs}"
    mine = scim.get(entries[3]["location"].removeprefix(BASE), token=OTHER_TOKEN)
    assert mine.get("members", []) == []
    # Acme's data is as it was.
    acme_user = scim.get(f"/Users/{theirs}")
    assert acme_user["userName"] == "acme-user@example.com"
    assert acme_user["meta"]["version"] == 'W/"1"'
    assert scim.get(f"/Groups/{group}").get("members", []) == []
    assert scim.call("GET", "/Users").json()["totalResults"] == 1
    assert scim.call("GET", "/Users", token=OTHER_TOKEN).json()["totalResults"] == 1
    assert {e.tenant for e in scim.events[before:]} == {"globex"}
    assert {(e.tenant, e.resource_id) for e in scim.of(MembersSkipped)} == {
        ("globex", entries[3]["location"].rsplit("/", 1)[1])
    }


# -- stopping with a cycle half done ----------------------------------------------------


def test_stopping_before_a_follow_up_reports_it(scim: Harness) -> None:
    scim.call("POST", "/Groups", {"schemas": [GROUP], "displayName": "Taken"})
    entries = scim.bulk(
        post(
            "a",
            "/Users",
            {
                "userName": "ann",
                **manager({"value": "bulkId:b"}),
                "nickName": "bulkId:f",
            },
        ),
        post("b", "/Users", {"userName": "ben", **manager({"value": "bulkId:a"})}),
        post("f", "/Groups", {"schemas": [GROUP], "displayName": "Taken"}),
        failOnErrors=1,
    )
    # Ann's references lead to Ben (created without his manager, Ann), then
    # to the group, which fails and stops the request before Ann: Ben exists
    # without his manager, and says so; Ann was not processed.
    assert len(entries) == 2
    assert entries[0]["bulkId"] == "b"
    assert entries[0]["location"] == f"{BASE}/Users/id-2"
    assert "failOnErrors" in assert_failed(entries[0], 409)
    assert_failed(entries[1], 409, "uniqueness")
    assert ENTERPRISE not in scim.get("/Users/id-2")
    assert scim.call("GET", "/Users").json()["totalResults"] == 1


# -- the async entry point -----------------------------------------------------------------


SCENARIO: list[dict[str, Any]] = [
    new_group("g", "Tour Guides", "bulkId:alice", "bulkId:bob"),
    post("alice", "/Users", {"userName": "alice", **manager({"value": "bulkId:bob"})}),
    post("bob", "/Users", {"userName": "bob", **manager("bulkId:alice")}),
    {
        "method": "PATCH",
        "path": "/Groups/bulkId:g",
        "data": patch({"op": "remove", "path": 'members[value eq "bulkId:bob"]'}),
    },
    new_user("clash", "ALICE"),
    {
        "method": "PUT",
        "path": "/Users/bulkId:clash",
        "data": {"schemas": [USER], "userName": "x"},
    },
    {"method": "DELETE", "path": "/Users/bulkId:bob", "version": 'W/"1"'},
    {"method": "DELETE", "path": "/Users/bulkId:bob"},
    {"method": "GET", "path": "/Users"},
]


def _scenario_request() -> ScimRequest:
    return ScimRequest(
        "POST",
        "/Bulk",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "application/scim+json",
            "X-Request-Id": "fixed",
        },
        body=json.dumps({"schemas": [BULK_REQUEST], "Operations": SCENARIO}).encode(),
        base_url=BASE,
    )


def _scenario_service(storage: Any, events: list[Event]) -> ScimService:
    ids = itertools.count(1)
    bus = EventBus()
    bus.subscribe(events.append)
    return ScimService(
        storage,
        events=bus,
        clock=lambda: datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        id_factory=lambda: f"id-{next(ids)}",
    )


def test_async_storage_answers_the_same_bulk_alike() -> None:
    sync_events: list[Event] = []
    storage = MemoryStorage()
    TokenManager(storage).issue("acme", token=TOKEN)
    sync_answer = _scenario_service(storage, sync_events).handle(_scenario_request())

    async def run() -> tuple[ScimResponse, list[Event]]:
        events: list[Event] = []
        storage = SuspendingStorage()
        await AsyncTokenManager(storage).issue("acme", token=TOKEN)
        service = _scenario_service(storage, events)
        return await service.handle_async(_scenario_request()), events

    async_answer, async_events = asyncio.run(run())
    assert sync_answer.status == 200
    assert (sync_answer.headers, sync_answer.body) == (
        async_answer.headers,
        async_answer.body,
    )
    assert sync_events == async_events
    entries = sync_answer.json()["Operations"]
    assert [e["status"] for e in entries] == [
        "201", "201", "201", "204", "409", "409", "412", "204", "400",
    ]  # fmt: skip
    assert [e.get("location") for e in entries[:3]] == [
        f"{BASE}/Groups/id-3",
        f"{BASE}/Users/id-2",
        f"{BASE}/Users/id-1",
    ]
    assert [type(e).__name__ for e in sync_events] == [
        "UserCreated",
        "UserCreated",
        "UserUpdated",
        "GroupCreated",
        "MembersAdded",
        "MembersRemoved",
        "UserDeleted",
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStorage]:
    if request.param == "sqlite":
        storage = SqlStorage(f"sqlite:///{tmp_path / 'bulk.db'}")
        yield storage
        storage.close()
        return
    if not POSTGRES_URL:
        pytest.skip("set TOMORRO_SCIM_TEST_POSTGRES_URL to run on PostgreSQL")
    with postgres_schema() as name:
        storage = SqlStorage(POSTGRES_URL, schema=name)
        yield storage
        storage.close()


def test_sql_storage_answers_the_same_bulk(sql_storage: SqlStorage) -> None:
    """One transaction per operation holds on a real database too."""
    memory_events: list[Event] = []
    memory = MemoryStorage()
    TokenManager(memory).issue("acme", token=TOKEN)
    expected = _scenario_service(memory, memory_events).handle(_scenario_request())
    events: list[Event] = []
    TokenManager(sql_storage).issue("acme", token=TOKEN)
    answer = _scenario_service(sql_storage, events).handle(_scenario_request())
    assert (answer.status, answer.body) == (expected.status, expected.body)
    assert events == memory_events
