"""Every PATCH request shape of IDP-DIALECTS.md, as Entra ID and Okta send it.

Each test names the section and the source the shape comes from. They run
under the default dialect; ``test_patch_dialect.py`` shows each tolerance
refused in strict mode.
"""

from __future__ import annotations

from typing import Any

import pytest

from tomorro_scim.errors import Mutability
from tomorro_scim.errors import NoTarget
from tomorro_scim.patch import AddMembers
from tomorro_scim.patch import RemoveAttribute
from tomorro_scim.patch import RemoveMembers
from tomorro_scim.patch import ReplaceMembers
from tomorro_scim.patch import SetAttribute
from tomorro_scim.patch import apply_patch
from tomorro_scim.patch import needs_members

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_ID = "2819c223-7f76-453a-919d-413861904646"
GROUP_ID = "e9e30dba-f08f-4109-8486-d5c6a331660a"


def user() -> dict[str, Any]:
    """What Entra's POST /Users created (IDP-DIALECTS §2.2), with an id."""
    return {
        "schemas": [CORE, ENTERPRISE],
        "id": USER_ID,
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "ada@contoso.com",
        "active": True,
        "displayName": "Ada Lovelace",
        "emails": [{"primary": True, "type": "work", "value": "ada@contoso.com"}],
        "name": {
            "formatted": "Ada Lovelace",
            "familyName": "Lovelace",
            "givenName": "Ada",
        },
        "userType": "user",
        ENTERPRISE: {"employeeNumber": "1"},
    }


def group(*member_ids: str, loaded: bool = True) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": GROUP_ID,
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Sales",
    }
    if loaded:
        resource["members"] = [{"value": m} for m in member_ids]
    return resource


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def member_ids(resource: dict[str, Any]) -> list[str]:
    return [m["value"] for m in resource.get("members", [])]


# -- Entra: default job vs aadOptscim062020 (IDP-DIALECTS §2.4, MS-KI) -------------


def test_entra_default_disable_user_with_string_false() -> None:
    """§2.4 default job: {"op":"Replace","path":"active","value":"False"}."""
    result = apply_patch(
        user(), patch_op({"op": "Replace", "path": "active", "value": "False"})
    )
    assert result.resource["active"] is False
    assert result.changes == (SetAttribute("active", False),)


def test_entra_flag_disable_user_with_boolean() -> None:
    """§2.4 aadOptscim062020: {"op":"replace","path":"active","value":false}."""
    result = apply_patch(
        user(), patch_op({"op": "replace", "path": "active", "value": False})
    )
    assert result.resource["active"] is False


@pytest.mark.parametrize("op", ["Add", "add"])
def test_entra_add_single_valued_string(op: str) -> None:
    """§2.4 both columns: {"op":"Add","path":"nickName","value":"Babs"}."""
    result = apply_patch(
        user(), patch_op({"op": op, "path": "nickName", "value": "Babs"})
    )
    assert result.resource["nickName"] == "Babs"


def test_entra_default_one_replace_per_changed_attribute() -> None:
    """§2.4 default job: one Replace per path, including the URN-qualified
    employeeNumber and emails[type eq "work"].value."""
    body = patch_op(
        {"op": "Replace", "path": "displayName", "value": "Ada King"},
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "ada.king@contoso.com",
        },
        {"op": "Replace", "path": "name.givenName", "value": "Augusta Ada"},
        {"op": "Replace", "path": "name.familyName", "value": "King"},
        {"op": "Replace", "path": "externalId", "value": "5d7a1b3e"},
        {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "701984"},
    )
    resource = apply_patch(user(), body).resource
    assert resource["displayName"] == "Ada King"
    assert resource["emails"] == [
        {"primary": True, "type": "work", "value": "ada.king@contoso.com"}
    ]
    assert resource["name"] == {
        "formatted": "Ada Lovelace",
        "familyName": "King",
        "givenName": "Augusta Ada",
    }
    assert resource["externalId"] == "5d7a1b3e"
    assert resource[ENTERPRISE] == {"employeeNumber": "701984"}


def test_entra_flag_pathless_replace_with_dotted_and_urn_keys() -> None:
    """§2.4 aadOptscim062020 / §2.5 "Path-less op with dotted / URN keys": split
    the keys into sub-attribute writes, never store a literal "name.familyName"."""
    body = patch_op(
        {
            "op": "replace",
            "path": 'emails[type eq "work"].value',
            "value": "ada.king@contoso.com",
        },
        {
            "op": "replace",
            "value": {
                "displayName": "Ada King",
                "name.givenName": "Augusta Ada",
                "name.familyName": "King",
                f"{ENTERPRISE}:employeeNumber": "701984",
            },
        },
    )
    resource = apply_patch(user(), body).resource
    assert "name.familyName" not in resource
    assert resource["name"]["givenName"] == "Augusta Ada"
    assert resource["name"]["familyName"] == "King"
    assert resource[ENTERPRISE]["employeeNumber"] == "701984"
    assert resource["emails"][0]["value"] == "ada.king@contoso.com"


def test_pathless_add_with_dotted_keys() -> None:
    """§2.5: the same with "op":"add" (pond/scimitar#123)."""
    body = patch_op(
        {"op": "add", "value": {"name.familyName": "King", "title": "Countess"}}
    )
    resource = apply_patch(user(), body).resource
    assert resource["name"]["familyName"] == "King"
    assert resource["title"] == "Countess"


def test_pathless_value_with_the_extension_urn_holding_an_object() -> None:
    """RFC 7644 §3.5.2.1: extension data keyed by its schema URN."""
    body = patch_op(
        {
            "op": "add",
            "value": {ENTERPRISE: {"department": "R&D", "manager": {"value": "m1"}}},
        }
    )
    resource = apply_patch(user(), body).resource
    assert resource[ENTERPRISE] == {
        "employeeNumber": "1",
        "department": "R&D",
        "manager": {"value": "m1"},
    }


def test_entra_default_remove_member_by_value_array_removes_only_it() -> None:
    """§2.4 default job / §2.5: {"op":"Remove","path":"members","value":[{"value":"u1091"}]}
    removes exactly the listed members, never the whole group (MS-KI;
    AzureAD/SCIMReferenceCode#10 wiped groups)."""
    body = patch_op({"op": "Remove", "path": "members", "value": [{"value": "u1091"}]})
    result = apply_patch(group("u1090", "u1091", "u1092"), body, "Group")
    assert member_ids(result.resource) == ["u1090", "u1092"]
    assert result.changes == (RemoveMembers(("u1091",)),)
    assert not needs_members(body)
    unloaded = apply_patch(group(loaded=False), body, "Group")
    assert unloaded.changes == (RemoveMembers(("u1091",)),)
    assert "members" not in unloaded.resource


def test_entra_flag_remove_member_by_path_filter() -> None:
    """§2.4 aadOptscim062020: {"op":"remove","path":"members[value eq \\"7f4bc1a3-…\\"]"}."""
    member = "7f4bc1a3-2c5e-4d2e-9b4e-0d1b0a6f7e11"
    body = patch_op({"op": "remove", "path": f'members[value eq "{member}"]'})
    result = apply_patch(group("u1", member), body, "Group")
    assert member_ids(result.resource) == ["u1"]
    assert result.changes == (RemoveMembers((member,)),)
    assert not needs_members(body)


# -- Entra group lifecycle (IDP-DIALECTS §2.3, MS-TUT) ------------------------------


def test_entra_rename_group() -> None:
    """§2.3: PATCH {"op":"Replace","path":"displayName","value":"Sales EU"}."""
    body = patch_op({"op": "Replace", "path": "displayName", "value": "Sales EU"})
    result = apply_patch(group(loaded=False), body, "Group")
    assert result.resource["displayName"] == "Sales EU"
    assert result.changes == (SetAttribute("displayName", "Sales EU"),)


def test_entra_add_members_with_null_ref() -> None:
    """§2.3: {"op":"Add","path":"members","value":[{"$ref":null,"value":"<user id>"}, …]};
    several memberships in one PATCH (MS-TUT gallery checklist)."""
    body = patch_op(
        {
            "op": "Add",
            "path": "members",
            "value": [{"$ref": None, "value": "u1"}, {"$ref": None, "value": "u2"}],
        }
    )
    result = apply_patch(group(loaded=False), body, "Group")
    assert result.changes == (AddMembers(("u1", "u2")),)
    loaded = apply_patch(group("u0"), body, "Group")
    assert loaded.resource["members"] == [
        {"value": "u0"},
        {"value": "u1"},
        {"value": "u2"},
    ]


# -- Entra quirk catalogue (IDP-DIALECTS §2.5) ----------------------------------------


@pytest.mark.parametrize("op", ["Replace", "REPLACE", "replace", "rEpLaCe"])
def test_capitalised_ops_are_folded(op: str) -> None:
    """§2.5 "Capitalised ops" (MS-TUT; langwatch/langwatch#6972)."""
    result = apply_patch(user(), patch_op({"op": op, "path": "title", "value": "x"}))
    assert result.resource["title"] == "x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("True", True), ("TRUE", True), ("false", False), ("False", False)],
)
def test_string_booleans_in_any_case(text: str, expected: bool) -> None:
    """§2.5 "String booleans" (MS-KI; AzureAD/SCIMReferenceCode#21)."""
    body = patch_op(
        {"op": "Replace", "path": "active", "value": text},
        {"op": "Add", "path": "roles", "value": [{"value": "admin", "primary": text}]},
    )
    resource = apply_patch(user(), body).resource
    assert resource["active"] is expected
    assert resource["roles"] == [{"value": "admin", "primary": expected}]


def test_string_boolean_in_a_path_filter() -> None:
    """§2.5: roles[primary eq "True"] as a filter literal."""
    resource = {**user(), "roles": [{"value": "a", "primary": True}, {"value": "b"}]}
    body = patch_op(
        {"op": "Replace", "path": 'roles[primary eq "True"].display', "value": "A"}
    )
    assert apply_patch(resource, body).resource["roles"][0] == {
        "value": "a",
        "primary": True,
        "display": "A",
    }


def test_unmatched_path_filter_creates_the_value() -> None:
    """§2.5 "Unmatched path filter": {"op":"Add","path":"emails[type eq \\"work\\"].value",
    "value":"a@x"} on a user without a work email creates {"type":"work","value":"a@x"}
    (thomaspoignant/scim-patch#176)."""
    resource = user()
    del resource["emails"]
    for op in ("Add", "Replace"):
        body = patch_op(
            {"op": op, "path": 'emails[type eq "work"].value', "value": "a@x.org"}
        )
        assert apply_patch(resource, body).resource["emails"] == [
            {"type": "work", "value": "a@x.org"}
        ]


def test_unmatched_filter_with_and_terms_creates_all_of_them() -> None:
    body = patch_op(
        {
            "op": "add",
            "path": 'phoneNumbers[type eq "mobile" and primary eq "true"].value',
            "value": "+1 555",
        }
    )
    resource = apply_patch(user(), body).resource
    assert resource["phoneNumbers"] == [
        {"type": "mobile", "primary": True, "value": "+1 555"}
    ]


def test_unmatched_filter_that_describes_no_value_is_no_target() -> None:
    body = patch_op(
        {"op": "add", "path": 'emails[type ne "work"].value', "value": "a@x.org"}
    )
    with pytest.raises(NoTarget, match="does not describe one to create"):
        apply_patch(user(), body)


def test_replace_on_an_absent_attribute_is_an_add() -> None:
    """§2.5 "Replace on an absent attribute" (thomaspoignant/scim-patch#381)."""
    result = apply_patch(
        user(), patch_op({"op": "Replace", "path": "nickName", "value": "Babs"})
    )
    assert result.resource["nickName"] == "Babs"


def test_add_on_a_single_valued_attribute_replaces_it() -> None:
    """§2.5 {"op":"Add","path":"userType","value":"manager"} (MS-KI sample)."""
    result = apply_patch(
        user(), patch_op({"op": "Add", "path": "userType", "value": "manager"})
    )
    assert result.resource["userType"] == "manager"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (f"{ENTERPRISE}:manager", "2c2f6fb8-aa0a-4c7e-9cd9-ce8f2b5c3e4c"),
        ("manager", [{"$ref": None, "value": "2c2f6fb8-aa0a-4c7e-9cd9-ce8f2b5c3e4c"}]),
        (f"{ENTERPRISE}:manager", {"value": "2c2f6fb8-aa0a-4c7e-9cd9-ce8f2b5c3e4c"}),
        (f"{ENTERPRISE}:manager.value", "2c2f6fb8-aa0a-4c7e-9cd9-ce8f2b5c3e4c"),
    ],
)
def test_manager_in_every_shape_is_stored_in_the_complex_form(
    path: str, value: Any
) -> None:
    """§2.5 "Manager in three shapes": a bare string (Captain-P-Goldfish/SCIM-SDK#686),
    "path":"manager" with [{"$ref":…,"value":…}] (MS-TUT example 5), an object.
    Stored (and so returned) as {"value": …}."""
    result = apply_patch(user(), patch_op({"op": "Add", "path": path, "value": value}))
    assert result.resource[ENTERPRISE]["manager"] == {
        "value": "2c2f6fb8-aa0a-4c7e-9cd9-ce8f2b5c3e4c"
    }
    assert result.changes == (
        SetAttribute(
            f"{ENTERPRISE}:manager", {"value": "2c2f6fb8-aa0a-4c7e-9cd9-ce8f2b5c3e4c"}
        ),
    )


def test_remove_manager() -> None:
    resource = user()
    resource[ENTERPRISE] = {"employeeNumber": "1", "manager": {"value": "m1"}}
    result = apply_patch(
        resource, patch_op({"op": "Remove", "path": f"{ENTERPRISE}:manager"})
    )
    assert result.resource[ENTERPRISE] == {"employeeNumber": "1"}
    assert result.changes == (RemoveAttribute(f"{ENTERPRISE}:manager"),)


def test_extension_root_path() -> None:
    """§2.5 "Extension-root path": apply the value object to the extension
    (apache/directory-scimple#694; python-scim/scim2-server#12)."""
    body = patch_op(
        {
            "op": "replace",
            "path": ENTERPRISE,
            "value": {"department": "R&D", "employeeNumber": "9"},
        }
    )
    assert apply_patch(user(), body).resource[ENTERPRISE] == {
        "employeeNumber": "9",
        "department": "R&D",
    }


@pytest.mark.parametrize(
    ("path", "value", "check"),
    [
        ("UserName", "A@contoso.com", lambda r: r["userName"] == "A@contoso.com"),
        ("name.FamilyName", "King", lambda r: r["name"]["familyName"] == "King"),
        (
            "emails.Value",
            "x@contoso.com",
            lambda r: r["emails"][0]["value"] == "x@contoso.com",
        ),
    ],
)
def test_attribute_name_casing_is_folded(path: str, value: Any, check: Any) -> None:
    """§2.5 "Attribute-name casing" ("UserName", name.FamilyName, emails.Value; MS-PM)."""
    assert check(
        apply_patch(
            user(), patch_op({"op": "replace", "path": path, "value": value})
        ).resource
    )


def test_meta_path_is_read_only() -> None:
    """§2.5 lists meta.Created among MS-PM casings; meta is readOnly (RFC 7643 §3.1)."""
    with pytest.raises(Mutability):
        apply_patch(
            user(),
            patch_op(
                {
                    "op": "replace",
                    "path": "meta.Created",
                    "value": "2020-01-01T00:00:00Z",
                }
            ),
        )


def test_app_roles_add() -> None:
    """§2.5 "App roles": only add is ever sent; store them as given."""
    body = patch_op(
        {
            "op": "Add",
            "path": "roles",
            "value": [
                {
                    "primary": "False",
                    "type": "WindowsAzureActiveDirectoryRole",
                    "value": "Admin",
                }
            ],
        }
    )
    resource = apply_patch(user(), body).resource
    assert resource["roles"] == [
        {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}
    ]


def test_no_op_patch_succeeds_without_changes() -> None:
    """§2.5 "No-op and empty PATCH": values already current."""
    body = patch_op(
        {"op": "Replace", "path": "displayName", "value": "Ada Lovelace"},
        {"op": "Replace", "path": "active", "value": "True"},
    )
    assert apply_patch(user(), body).changes == ()


def test_empty_operations_is_a_successful_no_op() -> None:
    """§2.5 / §6 (6): the Microsoft validator sends "Operations": [] (scimmyjs/scimmy#59)."""
    result = apply_patch(user(), patch_op())
    assert result.changes == ()
    assert result.resource == user()


# -- Microsoft's Postman collection (IDP-DIALECTS §4.3, MS-PM) -------------------------


def test_postman_add_member_with_name_and_display_name() -> None:
    """MS-PM: op member "name":"addMember" and a member carrying "displayName"."""
    body = patch_op(
        {
            "name": "addMember",
            "op": "add",
            "path": "members",
            "value": [{"displayName": "Ada", "value": "u1"}],
        }
    )
    result = apply_patch(group(), body, "Group")
    assert result.resource["members"] == [{"value": "u1"}]
    assert result.changes == (AddMembers(("u1",)),)


def test_postman_bare_string_member_and_top_level_id() -> None:
    """MS-PM: {"id": ..., "Operations":[{"op":"add","path":"members","value":"<id>"}]};
    the member id is not checked (scim-sanity adds "fake-member-id")."""
    body = {
        "id": GROUP_ID,
        "Operations": [{"op": "add", "path": "members", "value": "fake-member-id"}],
        "schemas": [PATCH_OP],
    }
    result = apply_patch(group(), body, "Group")
    assert result.resource["members"] == [{"value": "fake-member-id"}]


def test_postman_remove_all_members() -> None:
    """MS-PM: {"op":"remove","path":"members"} empties the group."""
    result = apply_patch(
        group("u1", "u2"), patch_op({"op": "remove", "path": "members"}), "Group"
    )
    assert "members" not in result.resource
    assert result.changes == (ReplaceMembers(()),)


def test_lower_case_operations_key() -> None:
    """§5: accept "operations" (indigo-iam/iam#1227 gave a 500)."""
    body = {
        "schemas": [PATCH_OP],
        "operations": [{"op": "replace", "path": "title", "value": "x"}],
    }
    assert apply_patch(user(), body).resource["title"] == "x"


# -- Okta (IDP-DIALECTS §3.2, §3.3, OKTA) -------------------------------------------


def test_okta_deactivate_user_pathless() -> None:
    """§3.2 step 5: {"op":"replace","value":{"active":false}} (pond/scimitar#29)."""
    result = apply_patch(
        user(), patch_op({"op": "replace", "value": {"active": False}})
    )
    assert result.resource["active"] is False
    assert result.changes == (SetAttribute("active", False),)


def test_okta_rename_group_with_id_and_display_name() -> None:
    """§3.3: {"op":"replace","value":{"id":"<group id>","displayName":"Sales EU"}},
    accepted because the id is unchanged ([J]; imulab/go-scim#57)."""
    body = patch_op(
        {"op": "replace", "value": {"id": GROUP_ID, "displayName": "Sales EU"}}
    )
    result = apply_patch(group(loaded=False), body, "Group")
    assert result.resource["displayName"] == "Sales EU"
    assert result.changes == (SetAttribute("displayName", "Sales EU"),)
    assert not needs_members(body)


def test_okta_rename_group_with_another_id_is_mutability() -> None:
    """§3.3 [J]: a different id is 400 mutability."""
    body = patch_op(
        {"op": "replace", "value": {"id": "other", "displayName": "Sales EU"}}
    )
    with pytest.raises(Mutability, match="'id' is readOnly"):
        apply_patch(group(loaded=False), body, "Group")


def test_okta_change_membership() -> None:
    """§3.3: [{"op":"remove","path":"members[value eq \\"<id>\\"]"},
    {"op":"add","path":"members","value":[{"value":"<id>","display":"ada@x.com"}]}]."""
    body = patch_op(
        {"op": "remove", "path": 'members[value eq "u1"]'},
        {
            "op": "add",
            "path": "members",
            "value": [{"value": "u3", "display": "ada@x.com"}],
        },
    )
    result = apply_patch(group("u1", "u2"), body, "Group")
    assert result.resource["members"] == [
        {"value": "u2"},
        {"value": "u3", "display": "ada@x.com"},
    ]
    assert result.changes == (RemoveMembers(("u1",)), AddMembers(("u3",)))
    assert apply_patch(group(loaded=False), body, "Group").changes == result.changes


def test_okta_full_push() -> None:
    """§3.3: {"op":"replace","path":"members","value":[{…},{…}]}."""
    body = patch_op(
        {
            "op": "replace",
            "path": "members",
            "value": [{"value": "u7", "display": "x"}, {"value": "u8"}],
        }
    )
    result = apply_patch(group("u1"), body, "Group")
    assert member_ids(result.resource) == ["u7", "u8"]
    assert result.changes == (ReplaceMembers(("u7", "u8")),)
    assert not needs_members(body)


def test_okta_push_now_on_an_empty_group() -> None:
    """§3.3: {"op":"replace","path":"members","value":[]} empties the group and
    succeeds (Captain-P-Goldfish/SCIM-SDK#757 answered 400; jelhub/scimgateway#113
    dropped it)."""
    body = patch_op({"op": "replace", "path": "members", "value": []})
    result = apply_patch(group("u1", "u2"), body, "Group")
    assert "members" not in result.resource
    assert result.changes == (ReplaceMembers(()),)
    assert apply_patch(group(loaded=False), body, "Group").changes == (
        ReplaceMembers(()),
    )
