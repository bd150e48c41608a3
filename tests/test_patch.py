"""The PATCH engine against RFC 7644 §3.5.2 and RFC 7643 (attributes, mutability,
primary), plus its contract: a new dict, the input untouched, all or nothing.

The IdP request shapes are in ``test_patch_idp.py``, group membership in
``test_patch_members.py``, the strict dialect in ``test_patch_dialect.py`` and
the property tests in ``test_patch_properties.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tomorro_scim.errors import InvalidPath
from tomorro_scim.errors import InvalidSyntax
from tomorro_scim.errors import InvalidValue
from tomorro_scim.errors import Mutability
from tomorro_scim.errors import NoTarget
from tomorro_scim.errors import ScimError
from tomorro_scim.patch import PatchDialect
from tomorro_scim.patch import RemoveAttribute
from tomorro_scim.patch import SetAttribute
from tomorro_scim.patch import apply_patch
from tomorro_scim.patch import plan_patch
from tomorro_scim.schemas import USER

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
STRICT = PatchDialect.strict()


def user() -> dict[str, Any]:
    """An Entra-provisioned user, canonical names, enterprise data under its URN."""
    return {
        "schemas": [CORE, ENTERPRISE],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "ada@contoso.com",
        "name": {"givenName": "Ada", "familyName": "Byron"},
        "displayName": "Ada Byron",
        "userType": "user",
        "active": True,
        "emails": [
            {"type": "work", "value": "ada@contoso.com", "primary": True},
            {"type": "home", "value": "ada@example.org"},
        ],
        "addresses": [{"type": "work", "locality": "London", "country": "GB"}],
        "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z"},
        ENTERPRISE: {"employeeNumber": "701984", "department": "Legal"},
    }


def body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def patched(*operations: dict[str, Any], resource: dict[str, Any] | None = None) -> Any:
    return apply_patch(user() if resource is None else resource, body(*operations))


# -- the contract ----------------------------------------------------------------


def test_result_is_a_new_dict_and_the_input_is_untouched() -> None:
    original = user()
    before = copy.deepcopy(original)
    result = apply_patch(
        original,
        body(
            {"op": "replace", "path": "name.givenName", "value": "Augusta"},
            {"op": "add", "path": "emails", "value": [{"value": "a@b.org"}]},
            {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "R&D"},
        ),
    )
    assert result.resource is not original
    assert original == before
    assert result.resource["name"] == {"givenName": "Augusta", "familyName": "Byron"}


def test_unchanged_parts_are_shared_not_deep_copied() -> None:
    """A PATCH costs what it changes: untouched objects are the input's own."""
    original = user()
    result = patched(
        {"op": "replace", "path": "displayName", "value": "A"}, resource=original
    )
    assert result.resource["emails"] is original["emails"]
    assert result.resource["name"] is original["name"]
    assert result.resource[ENTERPRISE] is original[ENTERPRISE]


def test_all_or_nothing_a_late_failure_changes_nothing() -> None:
    """RFC 7644 §3.5.2: one failing operation fails the whole PATCH."""
    original = user()
    before = copy.deepcopy(original)
    with pytest.raises(Mutability) as caught:
        patched(
            {"op": "replace", "path": "displayName", "value": "A"},
            {"op": "add", "path": "emails", "value": [{"value": "x@y.org"}]},
            {"op": "replace", "path": "id", "value": "another"},
            resource=original,
        )
    assert original == before
    assert caught.value.detail.startswith("Operations[2] (path 'id'): ")


def test_error_detail_names_the_operation_index_and_path() -> None:
    with pytest.raises(InvalidValue) as caught:
        patched(
            {"op": "replace", "path": "active", "value": True},
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": 42},
        )
    assert caught.value.detail == (
        "Operations[1] (path 'emails[type eq \"work\"].value'): "
        "'emails.value' expects a string, got number"
    )
    assert caught.value.to_dict()["scimType"] == "invalidValue"
    assert caught.value.status == 400


def test_error_detail_names_the_key_of_a_pathless_value() -> None:
    with pytest.raises(InvalidValue) as caught:
        patched({"op": "replace", "value": {"displayName": "x", "nickname2": "y"}})
    assert caught.value.detail.startswith("Operations[0] (value key 'nickname2'): ")


def test_long_paths_are_cut_in_error_details() -> None:
    path = "x" * 500
    with pytest.raises(InvalidPath) as caught:
        patched({"op": "replace", "path": path, "value": 1})
    assert len(caught.value.detail) < 250


def test_no_op_patch_reports_no_changes() -> None:
    """Entra re-sends current values every cycle (IDP-DIALECTS §2.5 "No-op")."""
    result = patched(
        {"op": "Replace", "path": "userName", "value": "ada@contoso.com"},
        {"op": "Replace", "path": "active", "value": "True"},
        {
            "op": "Add",
            "path": 'emails[type eq "work"].value',
            "value": "ada@contoso.com",
        },
    )
    assert result.changes == ()
    assert result.resource == user()


def test_changes_are_net_and_name_top_level_attributes() -> None:
    result = patched(
        {"op": "replace", "path": "name.givenName", "value": "Augusta"},
        {"op": "replace", "path": "name.familyName", "value": "King"},
        {"op": "replace", "path": "nickName", "value": "Ada"},
        {"op": "remove", "path": "nickName"},
        {"op": "remove", "path": "userType"},
        {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "R&D"},
    )
    assert result.changes == (
        SetAttribute("name", {"givenName": "Augusta", "familyName": "King"}),
        RemoveAttribute("userType"),
        SetAttribute(f"{ENTERPRISE}:department", "R&D"),
    )


def test_password_change_is_hidden_in_repr() -> None:
    """RFC 7643 §4.1.1: the password is never returned; keep it out of logs too."""
    result = patched({"op": "replace", "path": "password", "value": "s3cret!"})
    (change,) = result.changes
    assert change == SetAttribute("password", "s3cret!", sensitive=True)
    assert "s3cret" not in repr(change)


def test_plan_is_reusable_and_keeps_its_values_intact() -> None:
    plan = plan_patch(
        body(
            {
                "op": "add",
                "path": "emails",
                "value": [{"value": "n@x.org", "primary": True}],
            }
        )
    )
    first = plan.apply(user())
    second = plan.apply(user())
    assert first.resource == second.resource
    assert [e.get("primary") for e in first.resource["emails"]] == [False, None, True]


def test_resource_type_object_or_name() -> None:
    op = {"op": "replace", "path": "displayName", "value": "A"}
    assert (
        apply_patch(user(), body(op), USER).resource
        == apply_patch(user(), body(op), "user").resource
    )


# -- the envelope (RFC 7644 §3.5.2) ---------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "detail"),
    [
        ([], "the PATCH body must be a JSON object"),
        ({"schemas": [PATCH_OP]}, "the PATCH body has no 'Operations'"),
        ({"schemas": [PATCH_OP], "Operations": {}}, "'Operations' must be an array"),
        ({"schemas": ["urn:x"], "Operations": []}, f"'schemas' must list '{PATCH_OP}'"),
        (body("add"), "Operations[0]: an operation must be a JSON object"),
        (
            body({"op": "move", "path": "a"}),
            "Operations[0]: 'op' must be one of add, remove, replace",
        ),
        (
            body({"path": "userName", "value": "a"}),
            "Operations[0]: 'op' must be one of add, remove, replace",
        ),
        (
            body({"op": "add", "path": 3, "value": "a"}),
            "Operations[0]: 'path' must be a string",
        ),
    ],
)
def test_malformed_envelopes_are_invalid_syntax(request_body: Any, detail: str) -> None:
    with pytest.raises(InvalidSyntax) as caught:
        apply_patch(user(), request_body)
    assert caught.value.detail == detail


def test_add_and_replace_need_a_value() -> None:
    """RFC 7644 §3.5.2.1: "The operation MUST contain a "value" member"."""
    for op in ("add", "replace"):
        with pytest.raises(InvalidValue, match="needs a value"):
            patched({"op": op, "path": "nickName"})
    with pytest.raises(InvalidValue, match="not null"):
        patched({"op": "add", "path": "nickName", "value": None})


def test_remove_without_path_is_no_target() -> None:
    """RFC 7644 §3.5.2.2: "If "path" is unspecified, ... noTarget"."""
    with pytest.raises(NoTarget, match="'remove' needs a path"):
        patched({"op": "remove"})


def test_pathless_value_must_be_an_object() -> None:
    with pytest.raises(InvalidValue, match="takes an object of attributes"):
        patched({"op": "replace", "value": "x"})


# -- add (RFC 7644 §3.5.2.1) ---------------------------------------------------


def test_add_pathless_merges_attributes_into_the_resource() -> None:
    result = patched(
        {"op": "add", "value": {"nickName": "Babs", "name": {"middleName": "K"}}}
    )
    assert result.resource["nickName"] == "Babs"
    assert result.resource["name"] == {
        "givenName": "Ada",
        "familyName": "Byron",
        "middleName": "K",
    }


def test_add_to_a_single_valued_attribute_replaces_it() -> None:
    """§3.5.2.1: "If the target location specifies a single-valued attribute,
    the existing value is replaced" (Entra's Add userType, MS-KI sample)."""
    result = patched({"op": "Add", "path": "userType", "value": "manager"})
    assert result.resource["userType"] == "manager"


def test_add_to_a_complex_attribute_merges_sub_attributes() -> None:
    result = patched({"op": "add", "path": "name", "value": {"givenName": "Augusta"}})
    assert result.resource["name"] == {"givenName": "Augusta", "familyName": "Byron"}


def test_add_to_multi_valued_appends_without_duplicates() -> None:
    """§3.5.2.1: a value already there is not added again, and that is success."""
    new = {"type": "other", "value": "a@b.org"}
    result = patched(
        {
            "op": "add",
            "path": "emails",
            "value": [new, {"value": "ada@example.org", "type": "home"}],
        }
    )
    assert result.resource["emails"] == [*user()["emails"], new]
    again = patched(
        {
            "op": "add",
            "path": "emails",
            "value": [{"value": "ada@example.org", "type": "home"}],
        }
    )
    assert again.changes == ()


def test_add_with_duplicates_inside_the_value_adds_one() -> None:
    new = {"value": "a@b.org"}
    result = patched({"op": "add", "path": "emails", "value": [new, dict(new)]})
    assert result.resource["emails"][-1] == new
    assert len(result.resource["emails"]) == 3


def test_add_sub_attribute_creates_the_parent() -> None:
    result = patched(
        {"op": "remove", "path": "name"},
        {"op": "add", "path": "name.givenName", "value": "Augusta"},
    )
    assert result.resource["name"] == {"givenName": "Augusta"}


def test_add_sub_attribute_of_multi_valued_without_filter_reaches_every_value() -> None:
    result = patched({"op": "add", "path": "emails.display", "value": "Ada"})
    assert [e["display"] for e in result.resource["emails"]] == ["Ada", "Ada"]


def test_add_sub_attribute_of_an_empty_multi_valued_is_no_target() -> None:
    with pytest.raises(NoTarget):
        patched({"op": "add", "path": "phoneNumbers.display", "value": "x"})


# -- replace (RFC 7644 §3.5.2.3) -------------------------------------------------


def test_replace_of_a_missing_attribute_adds_it() -> None:
    """§3.5.2.3: "If the target location path specifies an attribute that does
    not exist, the service provider SHALL treat the operation as an add"."""
    result = patched({"op": "replace", "path": "title", "value": "Countess"})
    assert result.resource["title"] == "Countess"
    assert result.changes == (SetAttribute("title", "Countess"),)


def test_replace_multi_valued_without_filter_replaces_all_values() -> None:
    value = [{"value": "only@x.org", "type": "work"}]
    result = patched({"op": "replace", "path": "emails", "value": value})
    assert result.resource["emails"] == value


def test_replace_complex_leaves_unspecified_sub_attributes() -> None:
    """§3.5.2.3: "Sub-attributes that are not specified in the value parameter
    are left unchanged"."""
    result = patched({"op": "replace", "path": "name", "value": {"familyName": "King"}})
    assert result.resource["name"] == {"givenName": "Ada", "familyName": "King"}


def test_replace_with_null_unassigns() -> None:
    """RFC 7643 §2.5: null is equivalent to unassigned."""
    result = patched(
        {"op": "replace", "path": "displayName", "value": None},
        {"op": "replace", "value": {"name": {"givenName": None}}},
    )
    assert "displayName" not in result.resource
    assert result.resource["name"] == {"familyName": "Byron"}


def test_replace_filtered_values_replaces_every_match() -> None:
    """§3.5.2.3: "all matching record values SHALL be replaced"."""
    value = {"type": "work", "value": "new@contoso.com", "primary": True}
    result = patched(
        {"op": "replace", "path": 'emails[type eq "work"]', "value": value}
    )
    assert result.resource["emails"] == [value, user()["emails"][1]]


def test_replace_filtered_sub_attribute() -> None:
    """§3.5.2.3 example: addresses[type eq "work"].streetAddress."""
    result = patched(
        {
            "op": "replace",
            "path": 'addresses[type eq "work"].streetAddress',
            "value": "1 Main St",
        }
    )
    assert result.resource["addresses"] == [
        {
            "type": "work",
            "locality": "London",
            "country": "GB",
            "streetAddress": "1 Main St",
        }
    ]


def test_replace_filter_matching_nothing_is_no_target_in_strict_mode() -> None:
    """§3.5.2.3: "no record match was made ... noTarget"."""
    with pytest.raises(NoTarget):
        apply_patch(
            user(),
            body(
                {
                    "op": "replace",
                    "path": 'emails[type eq "other"].value',
                    "value": "a@b.org",
                }
            ),
            dialect=STRICT,
        )


def test_filter_comparisons_fold_case_unless_case_exact() -> None:
    """RFC 7644 §3.4.2.2 semantics inside a path filter: type is caseExact=false."""
    result = patched(
        {"op": "replace", "path": 'emails[type eq "WORK"].display', "value": "W"}
    )
    assert result.resource["emails"][0]["display"] == "W"


def test_bare_comparison_path_selects_like_a_value_filter() -> None:
    """Errata 7122: 'emails.type eq "work"' reads as emails[type eq "work"]."""
    result = patched({"op": "remove", "path": 'emails.type eq "home"'})
    assert result.resource["emails"] == [user()["emails"][0]]


# -- remove (RFC 7644 §3.5.2.2) ----------------------------------------------------


def test_remove_single_valued_attribute() -> None:
    result = patched({"op": "remove", "path": "displayName"})
    assert "displayName" not in result.resource
    assert result.changes == (RemoveAttribute("displayName"),)


def test_remove_of_an_absent_attribute_succeeds() -> None:
    result = patched({"op": "remove", "path": "nickName"})
    assert result.changes == ()


def test_remove_multi_valued_without_filter_removes_all_values() -> None:
    result = patched({"op": "remove", "path": "emails"})
    assert "emails" not in result.resource


def test_remove_filtered_values() -> None:
    result = patched({"op": "remove", "path": 'emails[type eq "home"]'})
    assert result.resource["emails"] == [user()["emails"][0]]


def test_remove_last_filtered_value_unassigns_the_attribute() -> None:
    """§3.5.2.2: "If no other values remain ... considered unassigned"."""
    result = patched({"op": "remove", "path": 'addresses[type eq "work"]'})
    assert "addresses" not in result.resource
    assert result.changes == (RemoveAttribute("addresses"),)


def test_remove_filtered_sub_attribute() -> None:
    result = patched({"op": "remove", "path": 'emails[type eq "work"].primary'})
    assert result.resource["emails"][0] == {"type": "work", "value": "ada@contoso.com"}


def test_remove_through_a_filter_matching_nothing_succeeds() -> None:
    """Removes are idempotent (Entra repeats them; PEER-LESSONS §2)."""
    result = patched({"op": "remove", "path": 'emails[type eq "other"]'})
    assert result.changes == ()


def test_remove_sub_attribute_of_complex() -> None:
    result = patched({"op": "remove", "path": "name.familyName"})
    assert result.resource["name"] == {"givenName": "Ada"}


def test_removing_the_last_sub_attribute_unassigns_the_complex_attribute() -> None:
    result = patched(
        {"op": "remove", "path": "name.familyName"},
        {"op": "remove", "path": "name.givenName"},
    )
    assert "name" not in result.resource


def test_removing_a_required_attribute_is_a_mutability_error() -> None:
    """§3.5.2.2: "If an attribute is removed or becomes unassigned and is
    defined as a required attribute ... mutability"."""
    with pytest.raises(Mutability, match="'userName' is required"):
        patched({"op": "remove", "path": "userName"})
    with pytest.raises(Mutability, match="required"):
        patched({"op": "replace", "path": "userName", "value": None})


# -- mutability (RFC 7643 §2.2, RFC 7644 §3.5.2) ---------------------------------


def test_read_only_attribute_cannot_change() -> None:
    with pytest.raises(Mutability, match="'id' is readOnly"):
        patched({"op": "replace", "path": "id", "value": "x"})
    with pytest.raises(Mutability, match="'meta' is readOnly"):
        patched({"op": "replace", "path": "meta.resourceType", "value": "Group"})
    with pytest.raises(Mutability, match="'groups' is readOnly"):
        patched({"op": "add", "path": "groups", "value": [{"value": "g1"}]})


def test_read_only_attribute_set_to_its_current_value_succeeds() -> None:
    """Okta sends {"id": <same id>, ...} (IDP-DIALECTS §3.3 [J])."""
    current = user()
    result = patched(
        {
            "op": "replace",
            "value": {"id": current["id"], "meta": current["meta"], "groups": []},
        }
    )
    assert result.changes == ()


def test_read_only_sub_attribute_of_the_enterprise_manager() -> None:
    """RFC 7643 §4.3: manager.displayName is readOnly."""
    with pytest.raises(Mutability, match=r"'manager\.displayName' is readOnly"):
        patched(
            {
                "op": "add",
                "path": f"{ENTERPRISE}:manager",
                "value": {"value": "m", "displayName": "Boss"},
            }
        )


def test_schemas_key_in_a_pathless_value_is_ignored() -> None:
    """``schemas`` lists the schemas in use; the engine keeps it in step itself."""
    result = patched(
        {"op": "replace", "value": {"schemas": ["urn:other"], "nickName": "B"}}
    )
    assert result.resource["schemas"] == [CORE, ENTERPRISE]


# -- primary (RFC 7643 §2.4) --------------------------------------------------------


def test_new_primary_value_wins_and_others_lose_primary() -> None:
    """RFC 7643 §2.4: "primary" true "MUST appear no more than once"."""
    result = patched(
        {
            "op": "add",
            "path": "emails",
            "value": [{"value": "n@x.org", "primary": True}],
        }
    )
    assert [e.get("primary") for e in result.resource["emails"]] == [False, None, True]


def test_setting_primary_through_a_filter_moves_it() -> None:
    result = patched(
        {"op": "replace", "path": 'emails[type eq "home"].primary', "value": "True"}
    )
    assert [e.get("primary") for e in result.resource["emails"]] == [False, True]


def test_two_primaries_in_one_value_are_invalid() -> None:
    value = [
        {"value": "a@x.org", "primary": True},
        {"value": "b@x.org", "primary": True},
    ]
    with pytest.raises(
        InvalidValue, match="more than one value of 'emails' is primary"
    ):
        patched({"op": "replace", "path": "emails", "value": value})
    with pytest.raises(InvalidValue, match="primary"):
        patched({"op": "replace", "path": "emails.primary", "value": True})


# -- types (RFC 7643 §2.3) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("active", "yes", "'active' expects a boolean, got string"),
        ("active", 1, "'active' expects a boolean, got number"),
        ("userName", 5, "'userName' expects a string, got number"),
        ("name", "Ada", "'name' expects an object, got string"),
        ("name.givenName", ["Ada"], "'name.givenName' expects a string, got array"),
        ("emails", [["a"]], "'emails' expects an object, got array"),
        (
            "emails",
            [{"value": "a@x.org", "kind": "work"}],
            "'emails' has no sub-attribute 'kind'",
        ),
        (
            "x509Certificates",
            [{"value": "not base64!"}],
            "'x509Certificates.value' expects a base64 string (RFC 7643 §2.3.6), got string",
        ),
        (
            "emails",
            [{"value": "a@x.org", "Value": "b@x.org"}],
            "'emails.value' is given twice",
        ),
    ],
)
def test_values_of_the_wrong_type_are_invalid_value(
    path: str, value: Any, expected: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        patched({"op": "replace", "path": path, "value": value})
    assert caught.value.detail.endswith(expected)


def test_attribute_names_are_case_insensitive_and_canonicalised() -> None:
    """RFC 7643 §2.1; Microsoft's Postman collection sends "UserName" (MS-PM)."""
    result = patched(
        {"op": "replace", "path": "USERNAME", "value": "a@b.org"},
        {"op": "replace", "path": "name.FamilyName", "value": "King"},
        {
            "op": "add",
            "path": "Emails",
            "value": [{"Value": "x@y.org", "TYPE": "other", "Primary": False}],
        },
        {
            "op": "replace",
            "value": {"DisplayName": "A", "NAME": {"GIVENNAME": "Augusta"}},
        },
    )
    assert result.resource["userName"] == "a@b.org"
    assert result.resource["name"] == {"givenName": "Augusta", "familyName": "King"}
    assert result.resource["emails"][-1] == {
        "value": "x@y.org",
        "type": "other",
        "primary": False,
    }
    assert result.resource["displayName"] == "A"


# -- paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("nickname2", "'nickname2' is not an attribute of the User resource type"),
        ("name.nick", "'name' has no sub-attribute 'nick'"),
        ('emails[type eq "work"].kind', "'emails' has no sub-attribute 'kind'"),
        ('emails[kind eq "work"]', "'emails' has no sub-attribute 'kind'"),
        (
            'userName[value eq "x"]',
            "'userName' is not multi-valued and takes no filter",
        ),
        (
            "urn:example:unknown:1.0:User:thing",
            "'urn:example:unknown:1.0:User' is not a schema of the User resource type",
        ),
        ("emails[type eq", "invalid syntax at column 13"),
        ("a.b.c", "invalid syntax at column 4"),
    ],
)
def test_bad_paths_are_invalid_path(path: str, detail: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        patched({"op": "replace", "path": path, "value": "x"})
    assert caught.value.detail.endswith(detail)


def test_deeply_nested_path_filter_is_refused_before_compiling() -> None:
    """Bounded work for any input (PEER-LESSONS §6)."""
    path = "emails[" + "not (" * 20 + 'type eq "work"' + ")" * 20 + "]"
    with pytest.raises(InvalidPath, match="nests deeper"):
        patched({"op": "remove", "path": path})
    many = "emails[" + " or ".join(f'value eq "{i}"' for i in range(150)) + "]"
    with pytest.raises(InvalidPath, match="more than 100 comparisons"):
        patched({"op": "remove", "path": many})
    with pytest.raises(InvalidPath, match="longer than"):
        patched({"op": "remove", "path": "x" * 5000})


def test_urn_qualified_core_path() -> None:
    result = patched(
        {"op": "replace", "path": f"{CORE}:name.givenName", "value": "Augusta"}
    )
    assert result.resource["name"]["givenName"] == "Augusta"


def test_extension_attribute_path_creates_the_extension_and_lists_its_schema() -> None:
    resource = user()
    del resource[ENTERPRISE]
    resource["schemas"] = [CORE]
    result = patched(
        {"op": "add", "path": f"{ENTERPRISE}:employeeNumber", "value": "7"},
        resource=resource,
    )
    assert result.resource[ENTERPRISE] == {"employeeNumber": "7"}
    assert result.resource["schemas"] == [CORE, ENTERPRISE]


def test_removing_the_last_extension_attribute_drops_the_extension_and_its_schema() -> (
    None
):
    result = patched(
        {"op": "remove", "path": f"{ENTERPRISE}:employeeNumber"},
        {"op": "remove", "path": f"{ENTERPRISE}:department"},
    )
    assert ENTERPRISE not in result.resource
    assert result.resource["schemas"] == [CORE]


def test_remove_with_the_extension_urn_as_path_removes_the_extension() -> None:
    result = patched({"op": "remove", "path": ENTERPRISE})
    assert ENTERPRISE not in result.resource
    assert set(result.changes) == {
        RemoveAttribute(f"{ENTERPRISE}:employeeNumber"),
        RemoveAttribute(f"{ENTERPRISE}:department"),
    }


def test_core_schema_urn_as_path_targets_the_resource() -> None:
    result = patched({"op": "replace", "path": CORE, "value": {"nickName": "B"}})
    assert result.resource["nickName"] == "B"
    with pytest.raises(NoTarget):
        patched({"op": "remove", "path": CORE})


def test_every_error_is_a_scim_error_with_status_400() -> None:
    bad = [
        {"op": "replace", "path": "nope", "value": 1},
        {"op": "replace", "path": "active", "value": "maybe"},
        {"op": "replace", "path": "id", "value": "x"},
        {"op": "remove"},
        {"op": "jump"},
    ]
    for operation in bad:
        with pytest.raises(ScimError) as caught:
            patched(operation)
        assert caught.value.status == 400


# -- less common shapes ------------------------------------------------------------


def test_remove_with_a_value_array_on_a_user_attribute_removes_only_those() -> None:
    """Entra's remove-by-value reading (IDP-DIALECTS §2.4) on any multi-valued
    attribute; values compare as filters do (emails.value is caseExact=false)."""
    result = patched(
        {"op": "Remove", "path": "emails", "value": [{"value": "ADA@example.org"}]}
    )
    assert result.resource["emails"] == [user()["emails"][0]]
    unchanged = patched(
        {"op": "Remove", "path": "emails", "value": [{"value": "nobody@x.org"}]}
    )
    assert unchanged.changes == ()


def test_remove_with_a_value_on_a_single_valued_attribute_removes_it() -> None:
    """The value adds nothing to select with: a plain remove (default dialect)."""
    result = patched({"op": "remove", "path": "displayName", "value": "Ada Byron"})
    assert "displayName" not in result.resource
    with pytest.raises(InvalidSyntax, match="takes no value"):
        apply_patch(
            user(),
            body({"op": "remove", "path": "displayName", "value": "x"}),
            dialect=STRICT,
        )
    with pytest.raises(InvalidSyntax, match="takes no value"):
        apply_patch(
            user(),
            body({"op": "remove", "path": ENTERPRISE, "value": {}}),
            dialect=STRICT,
        )


def test_remove_sub_attribute_of_every_value_without_filter() -> None:
    result = patched({"op": "remove", "path": "emails.type"})
    assert result.resource["emails"] == [
        {"value": "ada@contoso.com", "primary": True},
        {"value": "ada@example.org"},
    ]


def test_add_through_a_filter_merges_into_the_matching_values() -> None:
    """§3.5.2.1 add merges; §3.5.2.3 replace replaces the matching values."""
    result = patched(
        {"op": "add", "path": 'emails[type eq "work"]', "value": {"display": "W"}}
    )
    assert result.resource["emails"][0] == {
        "type": "work",
        "value": "ada@contoso.com",
        "primary": True,
        "display": "W",
    }


def test_extension_attribute_with_a_dot_after_the_urn() -> None:
    """ "urn:...:2.0:User.manager": the separator Entra used until December 2018 (MS-KI)."""
    result = patched({"op": "add", "path": f"{ENTERPRISE}.department", "value": "R&D"})
    assert result.resource[ENTERPRISE]["department"] == "R&D"
    with pytest.raises(InvalidPath):
        apply_patch(
            user(),
            body({"op": "add", "path": f"{ENTERPRISE}.department", "value": "x"}),
            dialect=STRICT,
        )


def test_pathless_unqualified_extension_attribute() -> None:
    """The extension shorthand applies to path-less keys too ({"employeeNumber": ...})."""
    result = patched(
        {"op": "replace", "value": {"employeeNumber": "7", "manager": "m1"}}
    )
    assert result.resource[ENTERPRISE] == {
        "employeeNumber": "7",
        "department": "Legal",
        "manager": {"value": "m1"},
    }


def test_pathless_extension_object_set_to_null_removes_the_extension() -> None:
    result = patched({"op": "replace", "value": {ENTERPRISE: None}})
    assert ENTERPRISE not in result.resource
    assert result.resource["schemas"] == [CORE]


def test_error_inside_an_extension_object_names_its_key() -> None:
    with pytest.raises(InvalidValue) as caught:
        patched({"op": "replace", "value": {ENTERPRISE: {"costcentre": "1"}}})
    assert caught.value.detail.startswith("Operations[0] (value key 'costcentre'): ")
    with pytest.raises(InvalidValue, match="takes an object of attributes"):
        patched({"op": "replace", "value": {ENTERPRISE: "x"}})
