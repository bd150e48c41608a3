"""Group membership PATCHes, planned without the member list (DESIGN rule 5).

A storage loads a group without ``members`` unless ``needs_members`` says
otherwise, applies the membership changes as row inserts and deletes, and the
cost of a PATCH depends on the operation, not on the group's size.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tomorro_scim.errors import InvalidValue
from tomorro_scim.errors import Mutability
from tomorro_scim.patch import AddMembers
from tomorro_scim.patch import MembersNotLoaded
from tomorro_scim.patch import RemoveMembers
from tomorro_scim.patch import ReplaceMembers
from tomorro_scim.patch import SetAttribute
from tomorro_scim.patch import apply_patch
from tomorro_scim.patch import needs_members
from tomorro_scim.patch import plan_patch

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def group(*member_ids: str, loaded: bool = True) -> dict[str, Any]:
    resource: dict[str, Any] = {"id": "g1", "displayName": "Sales"}
    if loaded:
        resource["members"] = [{"value": m, "display": m.upper()} for m in member_ids]
    return resource


def body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def ids(resource: dict[str, Any]) -> list[str]:
    return [m["value"] for m in resource.get("members", [])]


PLANNABLE = [
    pytest.param(
        {"op": "add", "path": "members", "value": [{"value": "u9"}]},
        (AddMembers(("u9",)),),
        id="add",
    ),
    pytest.param(
        {"op": "add", "value": {"members": [{"value": "u9"}]}},
        (AddMembers(("u9",)),),
        id="pathless-add",
    ),
    pytest.param(
        {"op": "remove", "path": 'members[value eq "u1"]'},
        (RemoveMembers(("u1",)),),
        id="remove-eq",
    ),
    pytest.param(
        {
            "op": "remove",
            "path": 'members[value eq "u1" or value eq "u3" or VALUE eq "u1"]',
        },
        (RemoveMembers(("u1", "u3")),),
        id="remove-or",
    ),
    pytest.param(
        {"op": "remove", "path": 'members.value eq "u2"'},
        (RemoveMembers(("u2",)),),
        id="remove-bare-comparison",
    ),
    pytest.param(
        {
            "op": "remove",
            "path": "members",
            "value": [{"value": "u1"}, {"value": "u2"}],
        },
        (RemoveMembers(("u1", "u2")),),
        id="remove-value-array",
    ),
    pytest.param(
        {"op": "remove", "path": "members"}, (ReplaceMembers(()),), id="remove-all"
    ),
    pytest.param(
        {"op": "replace", "path": "members", "value": [{"value": "u5"}]},
        (ReplaceMembers(("u5",)),),
        id="replace",
    ),
    pytest.param(
        {"op": "replace", "value": {"members": []}},
        (ReplaceMembers(()),),
        id="pathless-replace-empty",
    ),
]


@pytest.mark.parametrize(("operation", "changes"), PLANNABLE)
def test_membership_operations_planned_without_the_member_list(
    operation: dict[str, Any], changes: tuple[Any, ...]
) -> None:
    """These never read members: a storage turns them into inserts and deletes."""
    request = body(operation)
    assert not needs_members(request, "Group")
    plan = plan_patch(request, "Group")
    assert plan.touches_members
    assert not plan.needs_members
    result = plan.apply(group(loaded=False))
    assert result.changes == changes
    assert "members" not in result.resource or changes[0].__class__ is ReplaceMembers


@pytest.mark.parametrize(("operation", "changes"), PLANNABLE)
def test_loaded_members_are_updated_consistently_with_the_changes(
    operation: dict[str, Any], changes: tuple[Any, ...]
) -> None:
    """Replaying the changes on the id set gives the result's member list."""
    original = group("u1", "u2", "u3")
    before = copy.deepcopy(original)
    result = apply_patch(original, body(operation), "Group")
    assert result.changes == changes
    assert original == before
    assert set(ids(result.resource)) == replay(set(ids(original)), result.changes)


def replay(members: set[str], changes: tuple[Any, ...]) -> set[str]:
    for change in changes:
        if isinstance(change, AddMembers):
            members |= set(change.ids)
        elif isinstance(change, RemoveMembers):
            members -= set(change.ids)
        elif isinstance(change, ReplaceMembers):
            members = set(change.ids)
    return members


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "remove", "path": 'members[display eq "U1"]'},
        {"op": "remove", "path": 'members[value eq "u1" and type eq "User"]'},
        {"op": "remove", "path": 'members[value sw "u"]'},
        {"op": "replace", "path": 'members[value eq "u1"].display', "value": "Ada"},
        {"op": "add", "path": 'members[value eq "u1"]', "value": {"display": "Ada"}},
        {"op": "remove", "path": "members.display"},
    ],
)
def test_other_membership_operations_need_the_member_list(
    operation: dict[str, Any],
) -> None:
    """Selecting members by anything but their ids, or editing existing
    members, needs the list: the storage must load it first."""
    request = body(operation)
    assert needs_members(request, "Group")
    with pytest.raises(MembersNotLoaded, match="needs the group's members"):
        apply_patch(group(loaded=False), request, "Group")


def test_remove_by_display_with_members_loaded_reports_removed_ids() -> None:
    result = apply_patch(
        group("u1", "u2"),
        body({"op": "remove", "path": 'members[display eq "u1"]'}),
        "Group",
    )
    assert ids(result.resource) == ["u2"]
    assert result.changes == (RemoveMembers(("u1",)),)


def test_edit_display_of_a_loaded_member_changes_no_membership() -> None:
    """Changes carry ids only: display is server-derived (RFC 7643 §4.2)."""
    request = body(
        {"op": "replace", "path": 'members[value eq "u1"].display', "value": "Ada"}
    )
    result = apply_patch(group("u1", "u2"), request, "Group")
    assert result.resource["members"][0] == {"value": "u1", "display": "Ada"}
    assert result.changes == ()


def test_member_value_is_immutable() -> None:
    """RFC 7643 §4.2: members.value is immutable."""
    request = body(
        {"op": "replace", "path": 'members[value eq "u1"].value', "value": "u7"}
    )
    with pytest.raises(Mutability, match=r"'members\.value' is immutable"):
        apply_patch(group("u1"), request, "Group")


def test_add_present_member_and_remove_absent_member_are_idempotent() -> None:
    """RFC 7644 §3.5.2.1/§3.5.2.2: no duplicate, no error."""
    original = group("u1")
    result = apply_patch(
        original,
        body(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": "u1"}, {"value": "u1"}],
            },
            {"op": "remove", "path": 'members[value eq "nobody"]'},
        ),
        "Group",
    )
    assert result.resource["members"] == original["members"]
    assert result.changes == (AddMembers(("u1",)), RemoveMembers(("nobody",)))


def test_add_then_remove_in_one_patch_keeps_request_order() -> None:
    request = body(
        {"op": "add", "path": "members", "value": [{"value": "u9"}]},
        {"op": "remove", "path": 'members[value eq "u9"]'},
    )
    result = apply_patch(group("u1"), request, "Group")
    assert ids(result.resource) == ["u1"]
    assert result.changes == (AddMembers(("u9",)), RemoveMembers(("u9",)))


def test_replace_then_add_on_an_unloaded_group_materialises_the_known_list() -> None:
    """After a replace-all the list is known, so later steps may use it."""
    request = body(
        {"op": "replace", "path": "members", "value": [{"value": "u1"}]},
        {"op": "add", "path": "members", "value": [{"value": "u2"}]},
    )
    result = apply_patch(group(loaded=False), request, "Group")
    assert ids(result.resource) == ["u1", "u2"]


def test_member_without_value_is_invalid() -> None:
    for operation in (
        {"op": "add", "path": "members", "value": [{"display": "Ada"}]},
        {"op": "remove", "path": "members", "value": [{"display": "Ada"}]},
        {"op": "add", "path": "members", "value": [{"value": ""}]},
    ):
        with pytest.raises(InvalidValue, match="a member needs a 'value'"):
            apply_patch(group(), body(operation), "Group")


def test_member_ids_are_not_checked_for_existence() -> None:
    """The service checks ids later in one batched query; scim-sanity adds
    {"value":"fake-member-id"} and expects success (IDP-DIALECTS §4.3)."""
    result = apply_patch(
        group(),
        body({"op": "add", "path": "members", "value": [{"value": "fake-member-id"}]}),
        "Group",
    )
    assert result.changes == (AddMembers(("fake-member-id",)),)


def test_attribute_changes_come_before_membership_changes() -> None:
    request = body(
        {"op": "add", "path": "members", "value": [{"value": "u2"}]},
        {"op": "replace", "path": "displayName", "value": "Sales EU"},
    )
    result = apply_patch(group(loaded=False), request, "Group")
    assert result.changes == (
        SetAttribute("displayName", "Sales EU"),
        AddMembers(("u2",)),
    )


def test_large_group_is_not_copied_for_a_rename_or_a_membership_delta() -> None:
    """A rename shares the (loaded) member list with the input; a delta on an
    unloaded group never builds one."""
    big = group(*(f"u{i}" for i in range(20_000)))
    renamed = apply_patch(
        big, body({"op": "replace", "path": "displayName", "value": "x"}), "Group"
    )
    assert renamed.resource["members"] is big["members"]
    delta = apply_patch(
        group(loaded=False),
        body({"op": "add", "path": "members", "value": [{"value": "u1"}]}),
        "Group",
    )
    assert "members" not in delta.resource


def test_loaded_member_list_is_copied_once_for_several_adds() -> None:
    original = group("u1")
    request = body(
        *(
            {"op": "add", "path": "members", "value": [{"value": f"n{i}"}]}
            for i in range(3)
        )
    )
    result = apply_patch(original, request, "Group")
    assert ids(result.resource) == ["u1", "n0", "n1", "n2"]
    assert ids(original) == ["u1"]


def test_users_have_no_membership_semantics() -> None:
    """Only a group's core members attribute is planned as deltas."""
    plan = plan_patch(
        body({"op": "add", "path": "emails", "value": [{"value": "a@b.org"}]}), "User"
    )
    assert not plan.touches_members
    assert not plan.needs_members


def test_needs_members_is_false_for_an_invalid_request() -> None:
    """apply_patch then fails the same way, with nothing loaded."""
    assert not needs_members({"Operations": "nope"}, "Group")


def test_adding_or_removing_no_member_is_no_change() -> None:
    """Entra may send an empty value array; nothing to insert or delete."""
    request = body(
        {"op": "add", "path": "members", "value": []},
        {"op": "Remove", "path": "members", "value": []},
    )
    result = apply_patch(group("u1"), request, "Group")
    assert result.changes == ()
    assert ids(result.resource) == ["u1"]
