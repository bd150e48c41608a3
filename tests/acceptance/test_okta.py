"""Okta's provisioning flows, replayed as Okta sends them.

Every request here is a shape from IDP-DIALECTS.md §3 (sources OKTA, OKTA-11,
OKTA-SPEC, OKTA-BUILD and the GitHub threads it cites): the connector test,
the ``%20``-encoded match with ``startIndex=1&count=100``, creates carrying a
generated ``password`` and ``groups: []``, the App Integration Wizard's
PUT-for-everything updates, the OIN app's path-less deactivation, import
paging, Push Groups, and what Okta's SPEC suite asserts. Each test's
docstring names the section or RFC clause it pins.
"""

from __future__ import annotations

import copy
from typing import Any

from tomorro_scim.events import MembersAdded
from tomorro_scim.events import MembersRemoved
from tomorro_scim.events import UserDeactivated
from tomorro_scim.events import UserReactivated
from tomorro_scim.storage import USER
from tomorro_scim.storage.memory import MemoryStorage

from .conftest import GROUP_SCHEMA
from .conftest import LIST_RESPONSE
from .conftest import TENANT_A
from .conftest import USER_SCHEMA
from .conftest import EventRecorder
from .conftest import Idp
from .conftest import assert_error
from .conftest import list_ids

# OKTA "Create the User" (IDP-DIALECTS §3.2 step 2), as Okta sends it.
ADA_CREATE = """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@x.com",
 "name":{"givenName":"Ada","familyName":"Lovelace"},
 "emails":[{"primary":true,"value":"ada@x.com","type":"work"}],
 "displayName":"Ada Lovelace","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7",
 "groups":[],"password":"1mz050nq","active":true}"""

MATCH_ADA = "/Users?filter=userName%20eq%20%22ada%40x.com%22&startIndex=1&count=100"


def okta_user(user_name: str, *, email: str | None = None) -> dict[str, Any]:
    given, _, family = user_name.split("@")[0].partition(".")
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given.title(), "familyName": (family or "okta").title()},
        "emails": [{"primary": True, "value": email or user_name, "type": "work"}],
        "displayName": f"{given.title()} {(family or 'okta').title()}",
        "locale": "en-US",
        "externalId": f"00u{abs(hash(user_name)) % 10**12:012d}",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def create_user(okta: Idp, user_name: str, **kw: Any) -> dict[str, Any]:
    response = okta.post("/Users", okta_user(user_name, **kw))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def push_group(
    okta: Idp, name: str, members: list[str] | None = None
) -> dict[str, Any]:
    """Push Groups: ``POST /Groups`` with ``members`` (IDP-DIALECTS §3.3)."""
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": m} for m in members or []],
    }
    response = okta.post("/Groups", body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def member_ids(okta: Idp, group_id: str) -> list[str]:
    response = okta.get(f"/Groups/{group_id}")
    assert response.status_code == 200, response.text
    return [m["value"] for m in response.json().get("members", [])]


# -- §3.1 connector test ----------------------------------------------------------


def test_connector_test_lists_users_and_groups(okta: Idp) -> None:
    """IDP-DIALECTS §3.1 (OKTA-11; Delinea's Okta endpoint reference): after the
    configuration is saved Okta sends ``GET /Users?startIndex=1&count=2`` and
    ``GET /Groups?startIndex=1&count=100``; both answer ListResponses whose
    numbers are integers (§3.2 step 7), even on an empty tenant."""
    for path in ("/Users?startIndex=1&count=2", "/Groups?startIndex=1&count=100"):
        response = okta.get(path)
        assert response.status_code == 200
        assert response.json() == {
            "schemas": [LIST_RESPONSE],
            "totalResults": 0,
            "startIndex": 1,
            "itemsPerPage": 0,
            "Resources": [],
        }
    for index in range(3):
        create_user(okta, f"conn{index}@x.com")
    body = okta.get("/Users?startIndex=1&count=2").json()
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (3, 1, 2)
    assert len(body["Resources"]) == 2


# -- §3.2 users -------------------------------------------------------------------


def test_match_answers_the_exact_empty_list(okta: Idp) -> None:
    """IDP-DIALECTS §3.2 step 1 (OKTA; OKTA-SPEC): the ``%20``-encoded match
    answers 200 with ``{"totalResults":0,"startIndex":1,"itemsPerPage":0,
    "Resources":[]}``, the numbers JSON integers (not strings, not floats)."""
    response = okta.get(MATCH_ADA)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "schemas": [LIST_RESPONSE],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    for key in ("totalResults", "startIndex", "itemsPerPage"):
        assert type(body[key]) is int
    assert b'"totalResults":0' in response.content


def test_create_discards_the_password_and_ignores_groups(
    okta: Idp, storage: MemoryStorage
) -> None:
    """IDP-DIALECTS §3.2 step 2 (OKTA; OKTA-BUILD): 201 with the full user (an
    empty body fails Okta: "Create new user returned empty user"). The
    generated ``password`` is never returned nor stored (RFC 7643 §4.1.1;
    judgement 7), and ``groups`` is read-only and ignored (RFC 7643 §4.1.2).
    The SPEC suite posts it as ``application/json`` (§3.4)."""
    okta_json = Idp(okta.client, okta.token, content_type="application/json")
    response = okta_json.post("/Users", raw=ADA_CREATE)
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["userName"] == "ada@x.com"
    assert user["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert user["active"] is True
    assert user["externalId"] == "00ujl29u0le5T6Aj10h7"
    assert user["displayName"] == "Ada Lovelace"
    assert user["locale"] == "en-US"
    assert user["emails"] == [{"primary": True, "value": "ada@x.com", "type": "work"}]
    assert USER_SCHEMA in user["schemas"]
    assert "password" not in user
    assert user["groups"] == []
    assert response.headers["location"] == user["meta"]["location"]

    with storage.session(TENANT_A) as session:
        stored = session.get(USER, user["id"])
    assert stored is not None
    assert "password" not in stored.document
    assert "1mz050nq" not in repr(stored.document)
    assert "groups" not in stored.document

    assert "password" not in okta.get(f"/Users/{user['id']}").json()
    assert list_ids(okta.get(MATCH_ADA)) == [user["id"]]
    assert "password" not in okta.get(MATCH_ADA).json()["Resources"][0]


def test_duplicate_with_another_email_is_409(okta: Idp) -> None:
    """IDP-DIALECTS §3.2 step 3 and §3.4 (OKTA; OKTA-SPEC: "the same userName
    again, different emails[0].value" → 409; uniqueness is on ``userName``)
    with RFC 7644 §3.3's ``scimType: "uniqueness"`` (getsentry/sentry#117860)."""
    create_user(okta, "grace.hopper@x.com")
    again = okta_user("grace.hopper@x.com", email="another@example.org")
    okta_json = Idp(okta.client, okta.token, content_type="application/json")
    assert_error(okta_json.post("/Users", again), 409, "uniqueness")
    # Another userName with the same email is fine.
    other = okta_user("grace.other@x.com", email="grace.hopper@x.com")
    assert okta.post("/Users", other).status_code == 201


def test_aiw_app_updates_by_get_then_put(okta: Idp, recorder: EventRecorder) -> None:
    """IDP-DIALECTS §3.2 step 4 and §0 rule 14 (OKTA): an AIW custom app sends
    every user update as ``GET /Users/{id}`` then ``PUT`` of the whole body,
    echoing ``id``, ``meta`` and ``groups`` (read-only, ignored: RFC 7644
    §3.5.1), and expects 200 with the updated user."""
    user = create_user(okta, "put.me@x.com")
    path = f"/Users/{user['id']}"
    current = okta.get(path).json()

    body = copy.deepcopy(current)
    body["name"]["familyName"] = "Updated"
    body["displayName"] = "Put Updated"
    body["title"] = "Engineer"
    body["password"] = "rotated-by-okta"
    response = okta.put(path, body)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["id"] == user["id"]
    assert updated["name"]["familyName"] == "Updated"
    assert updated["displayName"] == "Put Updated"
    assert updated["title"] == "Engineer"
    assert "password" not in updated
    assert updated["meta"]["created"] == current["meta"]["created"]
    assert updated["meta"]["version"] != current["meta"]["version"]
    assert okta.get(path).json() == updated


def test_aiw_put_echoing_groups_leaves_memberships_alone(okta: Idp) -> None:
    """IDP-DIALECTS §3.2 step 4 (the PUT echoes ``groups`` from the GET) and
    RFC 7643 §4.1.2 / RFC 7644 §3.5.1 (``groups`` is read-only, ignored in a
    PUT): memberships change only through the group, whatever ``groups`` the
    PUT carries."""
    user = create_user(okta, "member.put@x.com")
    group = push_group(okta, "Kept", [user["id"]])
    path = f"/Users/{user['id']}"
    body = okta.get(path).json()
    assert [g["value"] for g in body["groups"]] == [group["id"]]

    body["title"] = "Echoed"
    response = okta.put(path, body)
    assert response.status_code == 200, response.text
    assert [g["value"] for g in response.json()["groups"]] == [group["id"]]

    body["groups"] = []
    assert okta.put(path, body).status_code == 200
    body["groups"] = [{"value": "some-other-group", "display": "Other"}]
    assert okta.put(path, body).status_code == 200
    assert member_ids(okta, group["id"]) == [user["id"]]
    assert [g["value"] for g in okta.get(path).json()["groups"]] == [group["id"]]


def test_aiw_app_deactivates_and_reactivates_by_put(
    okta: Idp, recorder: EventRecorder
) -> None:
    """IDP-DIALECTS §3.2 steps 4, 6 and 8 (OKTA; Okta devforum t/24187): the
    AIW app deactivates with ``"active":false`` in a PUT; the user stays
    readable (200, ``active: false``), and a later PUT reactivates it."""
    user = create_user(okta, "put.leaver@x.com")
    path = f"/Users/{user['id']}"
    body = okta.get(path).json()
    body["active"] = False
    response = okta.put(path, body)
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert [e.resource_id for e in recorder.of(UserDeactivated)] == [user["id"]]

    read = okta.get(path)
    assert read.status_code == 200
    assert read.json()["active"] is False

    body = read.json()
    body["active"] = True
    assert okta.put(path, body).json()["active"] is True
    assert [e.resource_id for e in recorder.of(UserReactivated)] == [user["id"]]


def test_oin_app_deactivates_with_a_path_less_replace(
    okta: Idp, recorder: EventRecorder
) -> None:
    """IDP-DIALECTS §3.2 step 5 (OKTA) and §0 rule 5:
    ``{"op":"replace","value":{"active":false}}`` deactivates (servers that
    missed it left users active: pond/scimitar#29); answered 200 with the user."""
    user = create_user(okta, "oin.leaver@x.com")
    response = okta.patch(
        f"/Users/{user['id']}",
        raw='{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
        '"Operations":[{"op":"replace","value":{"active":false}}]}',
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert response.json()["userName"] == "oin.leaver@x.com"
    assert len(recorder.of(UserDeactivated)) == 1

    read = okta.get(f"/Users/{user['id']}")
    assert read.status_code == 200
    assert read.json()["active"] is False
    found = okta.get("/Users?filter=userName%20eq%20%22oin.leaver%40x.com%22")
    assert found.json()["Resources"][0]["active"] is False


def test_oin_password_sync_is_discarded(okta: Idp, storage: MemoryStorage) -> None:
    """IDP-DIALECTS §3.2 step 4 (OKTA: OIN apps "use PATCH for activate,
    deactivate and password sync") and judgement 7 with RFC 7643 §4.1.1
    (``password`` is never returned): a PATCHed password, path-less or by
    path, succeeds and is neither returned nor stored."""
    user = create_user(okta, "synced@x.com")
    path = f"/Users/{user['id']}"
    for operation in (
        {"op": "replace", "value": {"password": "s3cr3t-path-less"}},
        {"op": "replace", "path": "password", "value": "s3cr3t-by-path"},
        {"op": "add", "path": "password", "value": "s3cr3t-added"},
    ):
        response = okta.patch_ops(path, operation)
        assert response.status_code == 200, response.text
        assert "password" not in response.json()
        assert "s3cr3t" not in response.text
    with storage.session(TENANT_A) as session:
        stored = session.get(USER, user["id"])
    assert stored is not None
    assert "password" not in stored.document
    assert "s3cr3t" not in repr(stored.document)
    assert "password" not in okta.get(path).json()


def test_import_pages_in_a_stable_order(okta: Idp) -> None:
    """IDP-DIALECTS §3.2 step 7 (OKTA "Retrieve Users"; RFC 7644 §3.4.2.4):
    Okta pages with ``startIndex`` until ``totalResults``; the order is the
    same for every page, so each user is seen exactly once; ``startIndex``
    echoes the request and ``itemsPerPage`` counts the page."""
    created = [create_user(okta, f"import{index}@x.com")["id"] for index in range(7)]
    seen: list[str] = []
    start = 1
    for _ in range(10):  # bounded: 7 users in pages of 3 take 3 requests
        body = okta.get(f"/Users?startIndex={start}&count=3").json()
        assert body["totalResults"] == 7
        assert body["startIndex"] == start
        assert body["itemsPerPage"] == len(body["Resources"]) <= 3
        seen += [r["id"] for r in body["Resources"]]
        start += body["itemsPerPage"]
        if start > body["totalResults"]:
            break
    assert len(seen) == 7
    assert sorted(seen) == sorted(created)
    # The order is stable from one listing to the next.
    whole = list_ids(okta.get("/Users?startIndex=1&count=100"))
    assert whole == seen
    # A page past the end is empty, not an error.
    past = okta.get("/Users?startIndex=50&count=100").json()
    assert (past["totalResults"], past["itemsPerPage"], past["Resources"]) == (7, 0, [])


# -- §3.3 groups ------------------------------------------------------------------


def test_push_a_new_group(okta: Idp) -> None:
    """IDP-DIALECTS §3.3 row "push a new group" (OKTA):
    ``POST /Groups {"schemas":[Group],"displayName":"Sales","members":[]}``
    answers 201 with the group."""
    response = okta.post(
        "/Groups",
        raw='{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],'
        '"displayName":"Sales","members":[]}',
    )
    assert response.status_code == 201, response.text
    group = response.json()
    assert group["id"]
    assert group["displayName"] == "Sales"
    assert group.get("members", []) == []
    assert response.headers["location"] == group["meta"]["location"]


def test_push_a_group_with_okta_custom_extension(okta: Idp) -> None:
    """IDP-DIALECTS §0 rule 7 and §3.3 "Group schema extensions"
    (lightdash/lightdash#28062): Okta sends a group's description under
    ``urn:okta:custom:group:1.0`` ("there is no option to prevent the
    description from being sent": Okta's SCIM reference, "Create Groups").
    The group is created; the extension is ignored."""
    user = create_user(okta, "ext.member@x.com")
    response = okta.post(
        "/Groups",
        {
            "schemas": [GROUP_SCHEMA, "urn:okta:custom:group:1.0"],
            "displayName": "Described",
            "members": [{"value": user["id"], "display": "ext.member@x.com"}],
            "urn:okta:custom:group:1.0": {
                "description": "All Users West of the Rockies"
            },
        },
    )
    assert response.status_code == 201, response.text
    group = response.json()
    assert group["schemas"] == [GROUP_SCHEMA]
    assert "urn:okta:custom:group:1.0" not in group
    assert [m["value"] for m in group["members"]] == [user["id"]]


def test_rename_with_id_and_display_name(okta: Idp) -> None:
    """IDP-DIALECTS §3.3 row "rename" and judgement 8: Okta replaces
    ``{"id":"<group id>","displayName":"…"}`` path-less (on every membership
    update too); the unchanged read-only ``id`` is accepted, answered 204 by
    default (Okta accepts 200 or 204)."""
    user = create_user(okta, "renamed.member@x.com")
    group = push_group(okta, "Sales", [user["id"]])
    response = okta.patch_ops(
        f"/Groups/{group['id']}",
        {"op": "replace", "value": {"id": group["id"], "displayName": "Sales EU"}},
    )
    assert response.status_code == 204, response.text
    read = okta.get(f"/Groups/{group['id']}").json()
    assert read["displayName"] == "Sales EU"
    assert read["id"] == group["id"]
    assert [m["value"] for m in read["members"]] == [user["id"]]


def test_rename_with_another_id_is_400_mutability(okta: Idp) -> None:
    """IDP-DIALECTS §3.3 "{id, displayName} replace" [J] (imulab/go-scim#57):
    an ``id`` other than the resource's is 400 ``mutability`` (RFC 7644
    §3.12), and nothing changes (PATCH is atomic, RFC 7644 §3.5.2)."""
    group = push_group(okta, "Stable")
    response = okta.patch_ops(
        f"/Groups/{group['id']}",
        {"op": "replace", "value": {"id": "another-id", "displayName": "Moved"}},
    )
    assert_error(response, 400, "mutability")
    assert okta.get(f"/Groups/{group['id']}").json()["displayName"] == "Stable"


def test_membership_change_removes_by_filter_and_adds_in_one_patch(
    okta: Idp, recorder: EventRecorder
) -> None:
    """IDP-DIALECTS §3.3 row "change membership" (OKTA):
    ``[{"op":"remove","path":"members[value eq \\"<id>\\"]"},{"op":"add",
    "path":"members","value":[{"value":"<id>","display":"…"}]}]``; the removal
    is applied, not silently ignored (goauthentik/authentik#24173)."""
    leaving = create_user(okta, "leaving@x.com")
    joining = create_user(okta, "joining@x.com")
    staying = create_user(okta, "staying@x.com")
    group = push_group(okta, "Churn", [leaving["id"], staying["id"]])
    recorder.clear()
    response = okta.patch(
        f"/Groups/{group['id']}",
        raw='{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
        '"Operations":['
        f'{{"op":"replace","value":{{"id":"{group["id"]}","displayName":"Churn"}}}},'
        f'{{"op":"remove","path":"members[value eq \\"{leaving["id"]}\\"]"}},'
        '{"op":"add","path":"members","value":'
        f'[{{"value":"{joining["id"]}","display":"joining@x.com"}}]}}]}}',
    )
    assert response.status_code == 204, response.text
    assert sorted(member_ids(okta, group["id"])) == sorted(
        [staying["id"], joining["id"]]
    )
    assert recorder.of(MembersRemoved)[0].member_ids == (leaving["id"],)
    assert recorder.of(MembersAdded)[0].member_ids == (joining["id"],)


def test_full_push_replaces_members(okta: Idp) -> None:
    """IDP-DIALECTS §3.3 row "full push" (OKTA):
    ``{"op":"replace","path":"members","value":[{…},{…}]}`` sets exactly
    those members."""
    users = [create_user(okta, f"full{index}@x.com")["id"] for index in range(4)]
    group = push_group(okta, "Full", users[:2])
    response = okta.patch_ops(
        f"/Groups/{group['id']}",
        {
            "op": "replace",
            "path": "members",
            "value": [
                {"value": users[1], "display": "full1@x.com"},
                {"value": users[3], "display": "full3@x.com"},
            ],
        },
    )
    assert response.status_code == 204, response.text
    assert sorted(member_ids(okta, group["id"])) == sorted([users[1], users[3]])


def test_push_now_on_an_empty_group_empties_it(okta: Idp) -> None:
    """IDP-DIALECTS §3.3 "Push now" (Captain-P-Goldfish/SCIM-SDK#757 answered
    400; jelhub/scimgateway#113 dropped it): ``{"op":"replace","path":
    "members","value":[]}`` empties the group and succeeds, on a group with
    members and on one already empty."""
    users = [create_user(okta, f"push{index}@x.com")["id"] for index in range(2)]
    group = push_group(okta, "Emptied", users)
    empty = push_group(okta, "Already Empty")
    for target in (group, empty):
        response = okta.patch_ops(
            f"/Groups/{target['id']}",
            {"op": "replace", "path": "members", "value": []},
        )
        assert response.status_code == 204, response.text
        assert member_ids(okta, target["id"]) == []
    # The users themselves are untouched.
    for user_id in users:
        assert okta.get(f"/Users/{user_id}").json()["active"] is True


def test_aiw_group_put_with_and_without_members(okta: Idp) -> None:
    """IDP-DIALECTS §3.3 "AIW custom apps send group rename and membership
    updates as PUT" (OKTA) and judgement 9: a PUT with ``members`` sets them
    (200 with the group, RFC 7644 §3.5.1); a PUT without ``members`` renames
    and leaves the membership as it is."""
    users = [create_user(okta, f"gput{index}@x.com")["id"] for index in range(3)]
    group = push_group(okta, "Put Group", users[:2])
    path = f"/Groups/{group['id']}"

    body = okta.get(path).json()
    body["members"] = [{"value": users[2]}, {"value": users[0]}]
    response = okta.put(path, body)
    assert response.status_code == 200, response.text
    assert sorted(m["value"] for m in response.json()["members"]) == sorted(
        [users[0], users[2]]
    )

    response = okta.put(
        path, {"schemas": [GROUP_SCHEMA], "id": group["id"], "displayName": "Renamed"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["displayName"] == "Renamed"
    assert sorted(member_ids(okta, group["id"])) == sorted([users[0], users[2]])


def test_delete_group(okta: Idp) -> None:
    """IDP-DIALECTS §3.3 row "unlink + delete" (OKTA): ``DELETE /Groups/{id}``
    answers 204, then the group is 404; its members stay users."""
    user = create_user(okta, "outlives@x.com")
    group = push_group(okta, "Unlinked", [user["id"]])
    assert okta.delete(f"/Groups/{group['id']}").status_code == 204
    assert_error(okta.get(f"/Groups/{group['id']}"), 404)
    assert okta.get(f"/Users/{user['id']}").status_code == 200
    assert okta.get("/Groups?startIndex=1&count=100").json()["totalResults"] == 0


# -- §3.4 what Okta's SPEC suite asserts ------------------------------------------

SPEC_HEADERS = {"Content-Type": "application/scim+json; charset=utf-8"}


def test_spec_gets_carry_a_content_type_without_a_body(okta: Idp) -> None:
    """IDP-DIALECTS §3.4 (OKTA-SPEC): GET requests carry ``Content-Type:
    application/scim+json; charset=utf-8`` without a body, and are answered.
    ``GET /Users?count=1&startIndex=1`` returns a complete user: non-empty
    ``id``, ``name.familyName``, ``name.givenName``, ``userName``, ``active``,
    ``emails[0].value``; ``GET /Users/{id}`` the same."""
    create_user(okta, "spec.user@x.com")
    response = okta.get("/Users?count=1&startIndex=1", headers=SPEC_HEADERS)
    assert response.status_code == 200
    body = response.json()
    assert body["schemas"] == [LIST_RESPONSE]
    for key in ("itemsPerPage", "startIndex", "totalResults"):
        assert type(body[key]) is int
    first = body["Resources"][0]

    def complete(user: dict[str, Any]) -> None:
        assert user["id"]
        assert user["name"]["familyName"]
        assert user["name"]["givenName"]
        assert user["userName"]
        assert user["active"] is True
        assert user["emails"][0]["value"]

    complete(first)
    read = okta.get(f"/Users/{first['id']}", headers=SPEC_HEADERS)
    assert read.status_code == 200
    complete(read.json())
    assert okta.get("/Groups", headers=SPEC_HEADERS).status_code == 200


def test_spec_unknown_user_name_twice_then_unknown_id(okta: Idp) -> None:
    """IDP-DIALECTS §3.4 (OKTA-SPEC): ``filter=userName eq "<unknown>"`` twice
    gives 200 with ``totalResults`` 0; ``GET /Users/<unknown id>`` gives 404
    with the Error schema and a non-empty ``detail``."""
    for _ in range(2):
        response = okta.get(
            '/Users?filter=userName eq "nobody-010101@x.com"', headers=SPEC_HEADERS
        )
        assert response.status_code == 200
        assert response.json()["totalResults"] == 0
    response = okta.get("/Users/010101010101010101", headers=SPEC_HEADERS)
    error = assert_error(response, 404)
    assert error["detail"].strip()


def test_spec_user_name_case_sensitivity_check(okta: Idp) -> None:
    """IDP-DIALECTS §3.4 "Username Case Sensitivity Check" (OKTA-SPEC) and §5
    (RFC 7643 §4.1.1 ``caseExact: false``): a filter on the new user's name in
    capitals answers 200 and finds the user."""
    user = create_user(okta, "case.check@x.com")
    response = okta.get(
        '/Users?filter=userName eq "CASE.CHECK@X.COM"', headers=SPEC_HEADERS
    )
    assert response.status_code == 200
    assert list_ids(response) == [user["id"]]


def test_spec_non_token_authorization_is_401(okta: Idp) -> None:
    """IDP-DIALECTS §3.4 (OKTA-SPEC) and judgement 10: ``Authorization:
    non-token`` is 401 with the Error schema, a ``detail``, and ``status``
    the string ``"401"`` (RFC 7644 §3.12)."""
    anonymous = Idp(okta.client, None, user_agent=okta.user_agent)
    response = anonymous.get(
        "/Users", headers={**SPEC_HEADERS, "Authorization": "non-token"}
    )
    error = assert_error(response, 401)
    assert error["status"] == "401"
    assert response.headers["www-authenticate"]
