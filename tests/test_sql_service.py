"""ScimService end to end over the SQL backend (SQLite), as Entra drives it.

The requests go through ``ScimService.handle`` (no HTTP server): the probe,
user and group provisioning, PATCH of ``active`` and of members, the group
read without members, paging, conflicts, and a restart of the storage on
the same database file, after which the token and the data are still there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tomorro_scim.auth import TokenManager
from tomorro_scim.events import EventBus
from tomorro_scim.events import UserCreated
from tomorro_scim.http import ScimRequest
from tomorro_scim.http import ScimResponse
from tomorro_scim.service import ScimService
from tomorro_scim.storage.sql import SqlStorage

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Client:
    def __init__(self, service: ScimService, token: str) -> None:
        self.service = service
        self.token = token

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: str = "",
        headers: dict[str, str] | None = None,
    ) -> ScimResponse:
        return self.service.handle(
            ScimRequest(
                method=method,
                path=path,
                query=query,
                headers={
                    "authorization": f"Bearer {self.token}",
                    "content-type": "application/scim+json",
                    **(headers or {}),
                },
                body=json.dumps(body).encode() if body is not None else b"",
                base_url="https://app.example.com/scim/v2",
            )
        )


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tomorro-scim.db'}"


@pytest.fixture
def client(database: str) -> Iterator[Client]:
    storage = SqlStorage(database)
    token = TokenManager(storage).issue("acme", "Entra").token
    yield Client(ScimService(storage), token)
    storage.close()


def _user(user_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        **extra,
    }


def test_entra_provisioning_flow(client: Client) -> None:
    probe = client("GET", "/Users", query='filter=userName eq "probe-1234"')
    assert probe.status == 200
    assert probe.json()["totalResults"] == 0

    created = client("POST", "/Users", _user("Ada@Contoso.com", externalId="oid-1"))
    assert created.status == 201, created.json()
    ada = created.json()
    assert client("POST", "/Users", _user("ada@contoso.COM")).status == 409

    found = client("GET", "/Users", query='filter=userName eq "ada@contoso.com"')
    assert [r["id"] for r in found.json()["Resources"]] == [ada["id"]]
    by_oid = client("GET", "/Users", query='filter=externalId eq "oid-1"')
    assert by_oid.json()["totalResults"] == 1

    deactivate = client(
        "PATCH",
        f"/Users/{ada['id']}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
    )
    assert deactivate.status == 200, deactivate.json()
    assert deactivate.json()["active"] is False
    inactive = client("GET", "/Users", query="filter=active eq false")
    assert inactive.json()["totalResults"] == 1

    bob = client("POST", "/Users", _user("bob@contoso.com")).json()
    group = client(
        "POST",
        "/Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Legal",
            "members": [{"value": ada["id"]}],
        },
    )
    assert group.status == 201, group.json()
    group_id = group.json()["id"]
    assert [m["value"] for m in group.json()["members"]] == [ada["id"]]

    added = client(
        "PATCH",
        f"/Groups/{group_id}",
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": bob["id"]}]}
            ],
        },
    )
    assert added.status == 204, added.body
    lean = client(
        "GET", f"/Groups/{group_id}", query="excludedAttributes=members"
    ).json()
    assert "members" not in lean
    full = client("GET", f"/Groups/{group_id}").json()
    assert [m["value"] for m in full["members"]] == [ada["id"], bob["id"]]
    assert [m["display"] for m in full["members"]] == [
        "Ada@Contoso.com",
        "bob@contoso.com",
    ]
    by_member = client("GET", "/Groups", query=f'filter=members eq "{bob["id"]}"')
    assert by_member.json()["totalResults"] == 1
    by_name = client("GET", "/Groups", query='filter=displayName eq "LEGAL"')
    assert by_name.json()["totalResults"] == 1

    removed = client(
        "PATCH",
        f"/Groups/{group_id}",
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Remove", "path": f'members[value eq "{ada["id"]}"]'}
            ],
        },
    )
    assert removed.status == 204
    after = client("GET", f"/Groups/{group_id}").json()
    assert [m["value"] for m in after["members"]] == [bob["id"]]

    assert client("DELETE", f"/Users/{bob['id']}").status == 204
    emptied = client("GET", f"/Groups/{group_id}").json()
    assert emptied.get("members", []) == []
    assert client("GET", f"/Users/{bob['id']}").status == 404


def test_paging_sorting_and_filters_run_through_the_service(client: Client) -> None:
    for i in range(7):
        user = _user(f"user{i}@x.com", title="CEO" if i % 3 == 0 else "Engineer")
        assert client("POST", "/Users", user).status == 201
    page = client(
        "GET",
        "/Users",
        query="sortBy=userName&sortOrder=descending&startIndex=2&count=2",
    ).json()
    assert page["totalResults"] == 7
    assert [r["userName"] for r in page["Resources"]] == ["user5@x.com", "user4@x.com"]
    # title has no column: SQL narrows on userName, Python checks title.
    mixed = client(
        "GET", "/Users", query='filter=title eq "ceo" and userName sw "USER"&count=1'
    ).json()
    assert mixed["totalResults"] == 3
    assert len(mixed["Resources"]) == 1
    only_total = client("GET", "/Users", query="count=0").json()
    assert only_total["totalResults"] == 7
    assert only_total.get("Resources", []) == []
    bad = client("GET", "/Users", query='filter=userName eq "x\' OR 1=1 --"')
    assert bad.status == 200
    assert bad.json()["totalResults"] == 0


@pytest.mark.parametrize(
    "query",
    [
        "startIndex=1000000000000000000000000",
        "startIndex=9223372036854775808&sortBy=userName",
        'startIndex=99999999999999999999&filter=userName eq "user0@x.com"',
        'startIndex=99999999999999999999&filter=title eq "CEO"',
    ],
)
def test_a_start_index_past_any_integer_is_an_empty_page(
    client: Client, query: str
) -> None:
    """RFC 7644 §3.4.2.4: a startIndex past the results is an empty page,
    however large; SQL integers stop at 2**63, so it must not reach them raw."""
    assert client("POST", "/Users", _user("user0@x.com", title="CEO")).status == 201
    response = client("GET", "/Users", query=query)
    assert response.status == 200, response.body
    page = response.json()
    assert page["totalResults"] == 1
    assert page["Resources"] == []
    assert page["startIndex"] == int(query.split("&")[0].split("=")[1])


def test_etags_and_stale_writes(client: Client) -> None:
    created = client("POST", "/Users", _user("ada@x.com"))
    etag = created.header("etag")
    user_id = created.json()["id"]
    assert etag is not None
    first = client(
        "PUT",
        f"/Users/{user_id}",
        _user("ada@x.com", title="A"),
        headers={"if-match": etag},
    )
    assert first.status == 200
    stale = client(
        "PUT",
        f"/Users/{user_id}",
        _user("ada@x.com", title="B"),
        headers={"if-match": etag},
    )
    assert stale.status == 412
    assert client("GET", f"/Users/{user_id}").json()["title"] == "A"


def test_unstorable_values_are_a_400_not_a_500(client: Client) -> None:
    response = client("POST", "/Users", _user("nul\u0000byte@x.com"))
    assert response.status == 400
    assert response.json()["scimType"] == "invalidValue"
    assert client("GET", "/Users/nul\u0000byte").status == 404


def test_data_and_tokens_survive_a_restart(database: str) -> None:
    storage = SqlStorage(database)
    token = TokenManager(storage).issue("acme", "Entra").token
    client = Client(ScimService(storage), token)
    user_id = client("POST", "/Users", _user("ada@x.com")).json()["id"]
    storage.close()

    reopened = SqlStorage(database)
    again = Client(ScimService(reopened), token)
    response = again("GET", f"/Users/{user_id}")
    assert response.status == 200
    assert response.json()["userName"] == "ada@x.com"
    reopened.close()


# -- round trips per request --------------------------------------------------


def _traced(storage: SqlStorage) -> list[str]:
    """Every statement SQLite runs from now on, as the driver sends it
    (``BEGIN`` and ``COMMIT`` included): the first word and the table."""
    from sqlalchemy import event

    seen: list[str] = []

    def describe(sql: str) -> str:
        words = sql.replace("(", " ").split()
        head = words[0].upper()
        for marker in ("FROM", "INTO", "UPDATE"):
            upper = [w.upper() for w in words]
            if marker in upper[:-1] and head != "BEGIN":
                return f"{head} {words[upper.index(marker) + 1]}"
        return " ".join(words[:2]).upper() if head == "BEGIN" else head

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_trace_callback(lambda sql: seen.append(describe(sql)))

    event.listen(storage.engine, "checkout", checkout)
    return seen


def test_each_request_kind_costs_its_round_trips_and_no_more(database: str) -> None:
    """The statements an Entra sync cycle's requests run on SQLite. The token
    lookup is one autocommit read (no BEGIN/COMMIT around it); a user is read
    with its groups in one statement, and so is a page of ``userName eq``; a PATCH that keeps the userName and the
    emails runs no uniqueness read and leaves ``scim_emails`` alone; a POST
    reads nothing before its insert, nor the groups of the user it has just
    made; only a POST whose userName is taken looks for a user to adopt
    (IDP-DIALECTS §9), in a second transaction."""
    storage = SqlStorage(database)
    token = TokenManager(storage).issue("acme", "Entra").token
    client = Client(ScimService(storage), token)
    ada = client("POST", "/Users", _user("ada@contoso.com")).json()
    seen = _traced(storage)

    def run(method: str, path: str, body: Any = None, query: str = "") -> list[str]:
        seen.clear()
        answer = client(method, path, body, query=query)
        assert answer.status in (200, 201), answer.body
        return list(seen)

    token_read = ["SELECT scim_tokens"]
    assert run("GET", f"/Users/{ada['id']}") == [
        *token_read,
        "BEGIN IMMEDIATE",
        "SELECT scim_users",
        "COMMIT",
    ]
    # The match query pages the users and reads their groups in one statement.
    assert run("GET", "/Users", query='filter=userName eq "ADA@contoso.com"') == [
        *token_read,
        "BEGIN IMMEDIATE",
        "WITH scim_users",
        "COMMIT",
    ]
    keep = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
        ],
    }
    assert run("PATCH", f"/Users/{ada['id']}", keep) == [
        *token_read,
        "BEGIN IMMEDIATE",
        "SELECT scim_users",
        "UPDATE scim_users",
        "COMMIT",
    ]
    email = {
        "schemas": [PATCH_OP],
        "Operations": [
            {
                "op": "Add",
                "path": 'emails[type eq "work"].value',
                "value": "augusta@contoso.com",
            }
        ],
    }
    assert run("PATCH", f"/Users/{ada['id']}", email) == [
        *token_read,
        "BEGIN IMMEDIATE",
        "SELECT scim_users",
        "UPDATE scim_users",
        "DELETE scim_emails",
        "INSERT scim_emails",
        "COMMIT",
    ]
    assert run("POST", "/Users", _user("bob@contoso.com")) == [
        *token_read,
        "BEGIN IMMEDIATE",
        "INSERT scim_sequences",
        "INSERT scim_users",
        "INSERT scim_emails",
        "INSERT scim_counts",
        "COMMIT",
    ]
    seen.clear()
    taken = client("POST", "/Users", _user("BOB@contoso.com"))
    assert taken.status == 409, taken.body
    assert seen == [
        *token_read,
        "BEGIN IMMEDIATE",
        "INSERT scim_sequences",
        "INSERT scim_users",
        "SELECT scim_users",  # which row holds the name or the id
        "ROLLBACK",
        "BEGIN IMMEDIATE",
        "SELECT scim_users",  # a user the app made, to adopt?
        "INSERT scim_sequences",
        "INSERT scim_users",
        "SELECT scim_users",
        "ROLLBACK",
    ]
    storage.close()


def test_statements_skipped_on_writes_are_not_needed(client: Client) -> None:
    """What the skipped statements guarded still holds: a rename onto a taken
    userName is a 409, a case-only rename keeps the name, the email rows
    follow the emails (filters find the new address and not the old), and a
    user read by id still lists its groups, in the order they were joined."""
    ada = client("POST", "/Users", _user("ada@contoso.com")).json()
    client("POST", "/Users", _user("bob@contoso.com"))

    def patch(operations: list[dict[str, Any]]) -> ScimResponse:
        return client(
            "PATCH",
            f"/Users/{ada['id']}",
            {"schemas": [PATCH_OP], "Operations": operations},
        )

    taken = patch([{"op": "Replace", "path": "userName", "value": "BOB@contoso.com"}])
    assert taken.status == 409
    recased = patch([{"op": "Replace", "path": "userName", "value": "ADA@contoso.com"}])
    assert recased.status == 200
    assert recased.json()["userName"] == "ADA@contoso.com"
    assert (
        patch([{"op": "Replace", "path": "title", "value": "Countess"}]).status == 200
    )

    def found(filter_text: str) -> int:
        answer = client("GET", "/Users", query=f"filter={filter_text}")
        total: int = answer.json()["totalResults"]
        return total

    assert found('emails.value eq "ada@contoso.com"') == 1
    moved = patch(
        [
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "augusta@contoso.com",
            }
        ]
    )
    assert moved.status == 200
    assert found('emails.value eq "augusta@contoso.com"') == 1
    assert found('emails.value eq "ada@contoso.com"') == 0

    for name in ("Legal", "Board"):
        group = {
            "schemas": [GROUP_SCHEMA],
            "displayName": name,
            "members": [{"value": ada["id"]}],
        }
        assert client("POST", "/Groups", group).status == 201
    groups = client("GET", f"/Users/{ada['id']}").json()["groups"]
    assert [g["display"] for g in groups] == ["Legal", "Board"]
    renamed = patch([{"op": "Replace", "path": "displayName", "value": "A. K."}])
    assert [g["display"] for g in renamed.json()["groups"]] == ["Legal", "Board"]


def test_match_queries_page_and_count_like_any_filter(client: Client) -> None:
    """``attr eq "value"`` on a column takes statements built once; it
    selects, pages and counts as the general translation does (RFC 7644
    §3.4.2.2: case-insensitive userName, case-exact externalId)."""
    ids = [
        client("POST", "/Users", _user(f"u{i}@x.com", externalId="same")).json()["id"]
        for i in range(5)
    ]
    client("POST", "/Users", _user("other@x.com", externalId="SAME"))

    def page(filter_text: str, query: str = "") -> tuple[int, list[str]]:
        answer = client("GET", "/Users", query=f"filter={filter_text}{query}").json()
        return answer["totalResults"], [r["id"] for r in answer.get("Resources", [])]

    assert page('externalId eq "same"') == (5, ids)
    assert page('externalId eq "same"', "&count=2") == (5, ids[:2])
    assert page('externalId eq "same"', "&count=2&startIndex=5") == (5, ids[4:])
    assert page('externalId eq "same"', "&count=2&startIndex=9") == (5, [])
    assert page('externalId eq "same"', "&count=0") == (5, [])
    assert page('userName eq "U3@X.COM"') == (1, [ids[3]])
    assert page('userName eq "nobody"') == (0, [])
    assert page('USERNAME EQ "u1@x.com"') == (1, [ids[1]])
    group = {"schemas": [GROUP_SCHEMA], "displayName": "Legal"}
    group_id = client("POST", "/Groups", group).json()["id"]
    by_name = client("GET", "/Groups", query='filter=displayName eq "legal"').json()
    assert [r["id"] for r in by_name["Resources"]] == [group_id]


def test_a_post_onto_an_app_made_user_adopts_it(database: str) -> None:
    """IDP-DIALECTS §9 on SQL, where the POST first tries the insert and only
    a taken userName sends it to look for the app's user: the user keeps its
    id, becomes visible and counted once, and the event says it was adopted.
    A second POST of the same name is then a plain 409."""
    storage = SqlStorage(database)
    token = TokenManager(storage).issue("acme", "Entra").token
    bus = EventBus()
    created: list[UserCreated] = []
    bus.subscribe(created.append, UserCreated)
    client = Client(ScimService(storage, events=bus), token)
    app_user = storage.add_app_user(
        "acme", {"id": "app-7", "userName": "ada@contoso.com"}
    )
    assert client("GET", "/Users").json()["totalResults"] == 0

    adopted = client("POST", "/Users", _user("ADA@contoso.com"))
    assert adopted.status == 201, adopted.body
    assert adopted.json()["id"] == app_user.id
    listed = client("GET", "/Users").json()
    assert listed["totalResults"] == 1
    assert [u["id"] for u in listed["Resources"]] == [app_user.id]
    assert [(e.resource_id, e.adopted) for e in created] == [(app_user.id, True)]

    again = client("POST", "/Users", _user("ada@contoso.com"))
    assert again.status == 409, again.body
    assert client("GET", "/Users").json()["totalResults"] == 1
    assert len(created) == 1
    storage.close()
