"""Tenants, adoption of the host app's users, and token rotation.

A tenant is an isolation boundary: nothing crosses it (DESIGN.md rule 7; issue
4 §2, §4, §7). Tenant B's IdP can neither read, find, list, change nor delete
tenant A's users and groups, nor put A's users into B's groups. Users and
groups the host app made itself are not SCIM's until a POST adopts the user
(issue 4 §2). Tokens are many per tenant and revocable (issue 4 §4).
"""

from __future__ import annotations

from typing import Any

import pytest

from tomorro_scim.auth import IssuedToken
from tomorro_scim.auth import TokenManager
from tomorro_scim.events import MembersSkipped
from tomorro_scim.events import UserCreated
from tomorro_scim.service import ServiceSettings
from tomorro_scim.storage import GROUP
from tomorro_scim.storage import USER
from tomorro_scim.storage.memory import MemoryStorage

from .conftest import GROUP_SCHEMA
from .conftest import TENANT_A
from .conftest import TENANT_B
from .conftest import TOKEN_A
from .conftest import USER_SCHEMA
from .conftest import EventRecorder
from .conftest import Idp
from .conftest import assert_error
from .conftest import list_ids


def create(idp: Idp, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    response = idp.post(endpoint, body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def user_body(user_name: str) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "externalId": f"ext-{user_name}",
        "name": {"givenName": "Ann", "familyName": "Other"},
        "active": True,
    }


def group_body(name: str, members: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": name}
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    return body


@pytest.fixture
def tenant_a_data(entra: Idp) -> dict[str, Any]:
    """Tenant A holds a user in a group."""
    user = create(entra, "/Users", user_body("alice@acme.com"))
    group = create(entra, "/Groups", group_body("Acme Admins", [user["id"]]))
    return {"user": user, "group": group}


# -- isolation -----------------------------------------------------------------


def test_tenant_b_cannot_read_tenant_a(
    tenant_b: Idp, tenant_a_data: dict[str, Any]
) -> None:
    """Issue 4 §4, §7; DESIGN rule 7: a GET by id of another tenant's user or
    group is 404, as if it did not exist (RFC 7644 §3.6)."""
    user, group = tenant_a_data["user"], tenant_a_data["group"]
    assert_error(tenant_b.get(f"/Users/{user['id']}"), 404)
    assert_error(tenant_b.get(f"/Groups/{group['id']}"), 404)
    assert_error(tenant_b.get(f"/Groups/{group['id']}?excludedAttributes=members"), 404)


def test_tenant_b_cannot_find_or_list_tenant_a(
    tenant_b: Idp, tenant_a_data: dict[str, Any]
) -> None:
    """Issue 4 §7: no filter, list or search of tenant B returns tenant A's
    resources; each answers 200 with an empty ListResponse."""
    user, group = tenant_a_data["user"], tenant_a_data["group"]
    for path in (
        "/Users",
        "/Groups",
        "/Users?filter=userName%20eq%20%22alice%40acme.com%22",
        f"/Users?filter=id%20eq%20%22{user['id']}%22",
        f"/Users?filter=externalId%20eq%20%22{user['externalId']}%22",
        "/Users?filter=userName%20pr",
        "/Groups?filter=displayName%20eq%20%22Acme%20Admins%22",
        f"/Groups?filter=id%20eq%20%22{group['id']}%22",
        f"/Groups?filter=members%20eq%20%22{user['id']}%22",
    ):
        response = tenant_b.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["totalResults"] == 0, path
        assert response.json()["Resources"] == [], path
    response = tenant_b.post(
        "/Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName eq "alice@acme.com"',
        },
    )
    assert response.status_code == 200
    assert response.json()["totalResults"] == 0


def test_tenant_b_cannot_change_tenant_a(
    entra: Idp, tenant_b: Idp, tenant_a_data: dict[str, Any]
) -> None:
    """Issue 4 §7: PUT and PATCH on another tenant's user or group are 404, and
    tenant A's resources are unchanged."""
    user, group = tenant_a_data["user"], tenant_a_data["group"]
    assert_error(
        tenant_b.put(f"/Users/{user['id']}", user_body("mallory@globex.com")), 404
    )
    assert_error(
        tenant_b.patch_ops(
            f"/Users/{user['id']}",
            {"op": "Replace", "path": "active", "value": "False"},
        ),
        404,
    )
    assert_error(tenant_b.put(f"/Groups/{group['id']}", group_body("Pwned", [])), 404)
    assert_error(
        tenant_b.patch_ops(
            f"/Groups/{group['id']}",
            {"op": "replace", "path": "members", "value": []},
        ),
        404,
    )
    still = entra.get(f"/Users/{user['id']}").json()
    assert still["meta"] == user["meta"]
    assert still["active"] is True
    assert still["userName"] == "alice@acme.com"
    after = entra.get(f"/Groups/{group['id']}").json()
    assert after["displayName"] == "Acme Admins"
    assert [m["value"] for m in after["members"]] == [user["id"]]


def test_tenant_b_cannot_delete_tenant_a(
    entra: Idp, tenant_b: Idp, tenant_a_data: dict[str, Any]
) -> None:
    """Issue 4 §7: DELETE of another tenant's user or group is 404 and deletes
    nothing."""
    user, group = tenant_a_data["user"], tenant_a_data["group"]
    assert_error(tenant_b.delete(f"/Users/{user['id']}"), 404)
    assert_error(tenant_b.delete(f"/Groups/{group['id']}"), 404)
    assert entra.get(f"/Users/{user['id']}").status_code == 200
    assert entra.get(f"/Groups/{group['id']}").status_code == 200


def test_tenant_a_users_are_skipped_in_tenant_b_groups(
    tenant_b: Idp,
    tenant_a_data: dict[str, Any],
    storage: MemoryStorage,
    recorder: EventRecorder,
) -> None:
    """Issue 4 §2, §7: a member id naming no user of the tenant is never stored;
    by default it is skipped and reported as ``MembersSkipped``, so one stale
    id does not block the rest of a batch. Checked on POST, PATCH add, PATCH
    replace and PUT."""
    alice = tenant_a_data["user"]["id"]
    bob = create(tenant_b, "/Users", user_body("bob@globex.com"))["id"]

    group = create(tenant_b, "/Groups", group_body("Globex Staff", [alice, bob]))
    assert [m["value"] for m in group["members"]] == [bob]
    path = f"/Groups/{group['id']}"

    response = tenant_b.patch_ops(
        path, {"op": "Add", "path": "members", "value": [{"value": alice}]}
    )
    assert response.status_code == 204
    response = tenant_b.patch_ops(
        path,
        {
            "op": "replace",
            "path": "members",
            "value": [{"value": alice}, {"value": bob}],
        },
    )
    assert response.status_code == 204
    response = tenant_b.put(path, group_body("Globex Staff", [alice]))
    assert response.status_code == 200
    assert response.json().get("members", []) == []

    skipped = recorder.of(MembersSkipped)
    assert len(skipped) == 4
    assert all(e.member_ids == (alice,) and e.tenant == TENANT_B for e in skipped)
    with storage.session(TENANT_B) as session:
        assert session.members(group["id"]) == []
        assert session.user_groups(alice) == []
    with storage.session(TENANT_A) as session:
        assert session.user_groups(alice)[0].id == tenant_a_data["group"]["id"]


class TestStrictMembers:
    """``ServiceSettings(reject_unknown_members=True)``: 400 ``invalidValue``."""

    @pytest.fixture
    def settings(self) -> ServiceSettings:
        return ServiceSettings(reject_unknown_members=True)

    def test_tenant_a_users_are_refused_in_tenant_b_groups(
        self, tenant_b: Idp, tenant_a_data: dict[str, Any]
    ) -> None:
        """Issue 4 §2: the strict setting answers 400 ``invalidValue`` naming
        the ids (RFC 7644 §3.12), and the whole request changes nothing
        (RFC 7644 §3.5.2: PATCH is atomic)."""
        alice = tenant_a_data["user"]["id"]
        bob = create(tenant_b, "/Users", user_body("bob@globex.com"))["id"]

        error = assert_error(
            tenant_b.post("/Groups", group_body("Globex Staff", [bob, alice])),
            400,
            "invalidValue",
        )
        assert alice in error["detail"]
        assert tenant_b.get("/Groups").json()["totalResults"] == 0

        group = create(tenant_b, "/Groups", group_body("Globex Staff", [bob]))
        path = f"/Groups/{group['id']}"
        response = tenant_b.patch_ops(
            path,
            {"op": "replace", "path": "displayName", "value": "Renamed"},
            {"op": "Add", "path": "members", "value": [{"value": alice}]},
        )
        assert_error(response, 400, "invalidValue")
        after = tenant_b.get(path).json()
        assert after["displayName"] == "Globex Staff"
        assert [m["value"] for m in after["members"]] == [bob]
        assert_error(
            tenant_b.put(path, group_body("Globex Staff", [alice])), 400, "invalidValue"
        )


def test_the_same_user_name_in_two_tenants(entra: Idp, tenant_b: Idp) -> None:
    """Issue 4 §2: ``userName`` is unique per tenant, so two organisations may
    each have ``ann@shared.com`` (and a group of the same name)."""
    a = create(entra, "/Users", user_body("ann@shared.com"))
    b = create(tenant_b, "/Users", user_body("ANN@shared.com"))
    assert a["id"] != b["id"]
    ga = create(entra, "/Groups", group_body("Everyone"))
    gb = create(tenant_b, "/Groups", group_body("Everyone"))
    assert ga["id"] != gb["id"]
    query = "/Users?filter=userName%20eq%20%22ann%40shared.com%22"
    assert list_ids(entra.get(query)) == [a["id"]]
    assert list_ids(tenant_b.get(query)) == [b["id"]]
    assert_error(entra.post("/Users", user_body("Ann@Shared.com")), 409, "uniqueness")


# -- resources the host app made -------------------------------------------------

APP_USER_ID = "app-user-0001"
APP_GROUP_ID = "app-group-0001"


@pytest.fixture
def app_made(storage: MemoryStorage) -> None:
    """Tenant A's host app has its own user and group, made outside SCIM."""
    storage.add_app_user(
        TENANT_A,
        {
            "id": APP_USER_ID,
            "schemas": [USER_SCHEMA],
            "userName": "Existing.Person@acme.com",
            "name": {"givenName": "Existing", "familyName": "Person"},
            "active": True,
            "meta": {"resourceType": "User", "created": "2024-01-02T03:04:05Z"},
        },
    )
    storage.add_app_group(
        TENANT_A,
        {
            "id": APP_GROUP_ID,
            "schemas": [GROUP_SCHEMA],
            "displayName": "Made In The App",
            "meta": {"resourceType": "Group"},
        },
    )


@pytest.mark.usefixtures("app_made")
def test_app_made_resources_are_invisible(entra: Idp) -> None:
    """Issue 4 §2: users and groups the host app made are not SCIM's: GET by
    id, list and filter do not show them, and writes to them are 404."""
    assert_error(entra.get(f"/Users/{APP_USER_ID}"), 404)
    assert_error(entra.get(f"/Groups/{APP_GROUP_ID}"), 404)
    for path in (
        "/Users",
        "/Users?filter=userName%20eq%20%22existing.person%40acme.com%22",
        f"/Users?filter=id%20eq%20%22{APP_USER_ID}%22",
        "/Groups",
        "/Groups?filter=displayName%20eq%20%22Made%20In%20The%20App%22",
        f"/Groups?filter=id%20eq%20%22{APP_GROUP_ID}%22",
    ):
        assert entra.get(path).json()["totalResults"] == 0, path
    assert_error(entra.delete(f"/Groups/{APP_GROUP_ID}"), 404)
    assert_error(entra.delete(f"/Users/{APP_USER_ID}"), 404)
    assert_error(
        entra.patch_ops(
            f"/Groups/{APP_GROUP_ID}",
            {"op": "replace", "path": "displayName", "value": "Taken"},
        ),
        404,
    )
    assert_error(entra.put(f"/Users/{APP_USER_ID}", user_body("x@acme.com")), 404)


@pytest.mark.usefixtures("app_made")
def test_app_made_users_cannot_be_put_in_groups(entra: Idp) -> None:
    """Issue 4 §2: a member must be a (SCIM-managed) user of the tenant; an
    app-made user's id is skipped like an unknown one."""
    group = create(entra, "/Groups", group_body("Scim Group", [APP_USER_ID]))
    assert group.get("members", []) == []


@pytest.mark.usefixtures("app_made")
@pytest.mark.parametrize(
    "user_name", ["Existing.Person@acme.com", "existing.person@ACME.com"]
)
def test_post_adopts_the_app_made_user(
    entra: Idp, recorder: EventRecorder, storage: MemoryStorage, user_name: str
) -> None:
    """Issue 4 §2 (``adopt_existing_users``, on by default): a POST /Users whose
    ``userName`` matches, in any case, a user the app made links it: 201, the
    same id, the app's ``meta.created`` kept, then visible to SCIM."""
    response = entra.post("/Users", user_body(user_name))
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["id"] == APP_USER_ID
    assert user["userName"] == user_name
    assert user["meta"]["created"] == "2024-01-02T03:04:05Z"
    assert response.headers["location"].endswith(f"/Users/{APP_USER_ID}")
    (created,) = recorder.of(UserCreated)
    assert created.adopted is True
    assert created.resource_id == APP_USER_ID

    assert entra.get(f"/Users/{APP_USER_ID}").json() == user
    found = entra.get("/Users?filter=userName%20eq%20%22existing.person%40acme.com%22")
    assert list_ids(found) == [APP_USER_ID]
    with storage.session(TENANT_A) as session:
        stored = session.get(USER, APP_USER_ID)
        assert stored is not None
        assert stored.managed
        # The app's group stays the app's.
        assert session.get(GROUP, APP_GROUP_ID) is None
    # A second POST is now a duplicate.
    assert_error(entra.post("/Users", user_body(user_name)), 409, "uniqueness")


class TestNoAdoption:
    @pytest.fixture
    def settings(self) -> ServiceSettings:
        return ServiceSettings(adopt_existing_users=False)

    @pytest.mark.usefixtures("app_made")
    def test_post_is_409_when_adoption_is_off(self, entra: Idp) -> None:
        """Issue 4 §2: with ``adopt_existing_users=False`` the taken
        ``userName`` is 409 ``uniqueness`` (RFC 7644 §3.3) and the app's user
        stays invisible."""
        response = entra.post("/Users", user_body("EXISTING.person@acme.com"))
        assert_error(response, 409, "uniqueness")
        assert_error(entra.get(f"/Users/{APP_USER_ID}"), 404)


@pytest.mark.usefixtures("app_made")
def test_a_scim_group_never_takes_over_an_app_group(
    entra: Idp, storage: MemoryStorage
) -> None:
    """Issue 4 §2 ("unmanaged groups are invisible to SCIM"; DESIGN.md: "keep
    app-managed and IdP-managed groups apart"): when Entra pushes a group
    whose name an app-made group holds, the app's group is never adopted,
    renamed or shown. (Today the per-tenant name index answers 409
    ``uniqueness``; whether an invisible group should block the name is an
    open product question, so only the invariant is pinned here.)"""
    response = entra.post("/Groups", group_body("made in the app"))
    assert response.status_code in (201, 409), response.text
    if response.status_code == 201:
        assert response.json()["id"] != APP_GROUP_ID
    else:
        assert_error(response, 409, "uniqueness")
    assert_error(entra.get(f"/Groups/{APP_GROUP_ID}"), 404)
    with storage.session(TENANT_A) as session:
        assert session.get(GROUP, APP_GROUP_ID) is None


# -- tokens -----------------------------------------------------------------------


def test_token_rotation(
    entra: Idp, tokens: TokenManager, issued: dict[str, IssuedToken]
) -> None:
    """Issue 4 §4 (``BearerTokenAuthenticator``: several live tokens per tenant):
    a rotation issues a second token, both work, then the old one is revoked
    and answers 401 while the new one keeps working."""
    new = tokens.issue(TENANT_A, "rotation")
    new_idp = Idp(entra.client, new.token)
    user = create(entra, "/Users", user_body("rotated@acme.com"))
    assert new_idp.get(f"/Users/{user['id']}").status_code == 200
    assert entra.get(f"/Users/{user['id']}").status_code == 200
    assert {t.token_id for t in tokens.tokens(TENANT_A)} == {
        issued[TENANT_A].record.token_id,
        new.record.token_id,
    }

    assert tokens.revoke(issued[TENANT_A].record.token_id)
    response = entra.get(f"/Users/{user['id']}")
    assert_error(response, 401)
    assert response.headers["www-authenticate"]
    assert new_idp.get(f"/Users/{user['id']}").status_code == 200
    assert entra.token == TOKEN_A


def test_a_token_of_one_tenant_is_not_a_token_of_another(
    entra: Idp, tenant_b: Idp, tokens: TokenManager
) -> None:
    """Issue 4 §4: a token maps to exactly one tenant; a generated token with
    another's secret, or a truncated one, is 401."""
    issued = tokens.issue(TENANT_B, "generated")
    prefix, token_id, secret = issued.token.split("_", 2)
    forged = f"{prefix}_{token_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    assert_error(Idp(entra.client, forged).get("/Users"), 401)
    assert_error(Idp(entra.client, issued.token[:-4]).get("/Users"), 401)
    assert Idp(entra.client, issued.token).get("/Users").status_code == 200
