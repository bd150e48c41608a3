"""Each IdP tolerance of ``PatchDialect``, switched off alone, refuses its quirk.

The default dialect accepts every shape (IDP-DIALECTS.md); ``PatchDialect.strict()``
is RFC 7644 §3.5.2 as written and still accepts conformant requests.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from tomorro_scim.errors import InvalidPath
from tomorro_scim.errors import InvalidSyntax
from tomorro_scim.errors import InvalidValue
from tomorro_scim.errors import NoTarget
from tomorro_scim.errors import ScimError
from tomorro_scim.patch import DEFAULT
from tomorro_scim.patch import PatchDialect
from tomorro_scim.patch import apply_patch

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def user() -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "u1",
        "userName": "ada@contoso.com",
        "name": {"givenName": "Ada"},
        "emails": [{"type": "work", "value": "ada@contoso.com"}],
        "active": True,
    }


def group() -> dict[str, Any]:
    return {
        "id": "g1",
        "displayName": "Sales",
        "members": [{"value": "u1"}, {"value": "u2"}],
    }


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


# (switch, resource type, request body, scimType when the switch is off, source)
QUIRKS: list[tuple[str, str, dict[str, Any], type[ScimError]]] = [
    (
        "case_insensitive_ops",
        "User",
        ops({"op": "Replace", "path": "title", "value": "x"}),
        InvalidSyntax,
    ),
    (
        "case_insensitive_keys",
        "User",
        {
            "schemas": [PATCH_OP],
            "operations": [{"op": "replace", "path": "title", "value": "x"}],
        },
        InvalidSyntax,
    ),
    (
        "string_booleans",
        "User",
        ops({"op": "replace", "path": "active", "value": "False"}),
        InvalidValue,
    ),
    (
        "remove_value_as_filter",
        "Group",
        ops({"op": "remove", "path": "members", "value": [{"value": "u1"}]}),
        InvalidSyntax,
    ),
    (
        "create_on_unmatched_filter",
        "User",
        ops({"op": "add", "path": 'emails[type eq "home"].value', "value": "a@b.org"}),
        NoTarget,
    ),
    (
        "value_shorthand",
        "User",
        ops({"op": "add", "path": f"{ENTERPRISE}:manager", "value": "m1"}),
        InvalidValue,
    ),
    (
        "value_shorthand",
        "Group",
        ops({"op": "add", "path": "members", "value": "u3"}),
        InvalidValue,
    ),
    (
        "value_shorthand",
        "User",
        ops({"op": "add", "path": f"{ENTERPRISE}:manager", "value": [{"value": "m1"}]}),
        InvalidValue,
    ),
    (
        "pathless_attribute_paths",
        "User",
        ops({"op": "replace", "value": {"name.givenName": "Z"}}),
        InvalidValue,
    ),
    (
        "pathless_attribute_paths",
        "User",
        ops({"op": "replace", "value": {f"{ENTERPRISE}:employeeNumber": "7"}}),
        InvalidValue,
    ),
    (
        "extension_attribute_shorthand",
        "User",
        ops({"op": "add", "path": "manager", "value": {"value": "m1"}}),
        InvalidPath,
    ),
    ("empty_operations", "User", ops(), InvalidSyntax),
    (
        "lenient_envelope",
        "User",
        {"Operations": [{"op": "replace", "path": "title", "value": "x"}]},
        InvalidSyntax,
    ),
    (
        "lenient_envelope",
        "Group",
        ops(
            {
                "name": "addMember",
                "op": "add",
                "path": "members",
                "value": [{"value": "u3"}],
            }
        ),
        InvalidSyntax,
    ),
    (
        "lenient_envelope",
        "Group",
        {**ops({"op": "replace", "path": "displayName", "value": "x"}), "id": "g1"},
        InvalidSyntax,
    ),
    (
        "ignore_unknown_member_attributes",
        "Group",
        ops(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": "u3", "displayName": "Ada"}],
            }
        ),
        InvalidValue,
    ),
]


def _resource(resource_type: str) -> dict[str, Any]:
    return user() if resource_type == "User" else group()


@pytest.mark.parametrize(("switch", "resource_type", "request_body", "error"), QUIRKS)
def test_default_dialect_accepts_the_quirk(
    switch: str,
    resource_type: str,
    request_body: dict[str, Any],
    error: type[ScimError],
) -> None:
    apply_patch(_resource(resource_type), request_body, resource_type)


@pytest.mark.parametrize(("switch", "resource_type", "request_body", "error"), QUIRKS)
def test_switching_one_tolerance_off_refuses_its_quirk(
    switch: str,
    resource_type: str,
    request_body: dict[str, Any],
    error: type[ScimError],
) -> None:
    dialect = attrs.evolve(DEFAULT, **{switch: False})
    with pytest.raises(error):
        apply_patch(
            _resource(resource_type), request_body, resource_type, dialect=dialect
        )


@pytest.mark.parametrize(("switch", "resource_type", "request_body", "error"), QUIRKS)
def test_strict_dialect_refuses_every_quirk(
    switch: str,
    resource_type: str,
    request_body: dict[str, Any],
    error: type[ScimError],
) -> None:
    with pytest.raises(error):
        apply_patch(
            _resource(resource_type),
            request_body,
            resource_type,
            dialect=PatchDialect.strict(),
        )


def test_every_switch_has_a_quirk_test() -> None:
    assert {field.name for field in attrs.fields(PatchDialect)} == {
        q[0] for q in QUIRKS
    }


def test_strict_turns_every_switch_off_and_default_turns_them_on() -> None:
    strict = PatchDialect.strict()
    for field in attrs.fields(PatchDialect):
        assert getattr(strict, field.name) is False
        assert getattr(DEFAULT, field.name) is True
    assert hash(strict) != hash(DEFAULT)


def test_strict_dialect_accepts_rfc_requests() -> None:
    """RFC 7644 §3.5.2 examples, as written, pass in strict mode."""
    strict = PatchDialect.strict()
    request = ops(
        {
            "op": "add",
            "value": {
                "emails": [{"value": "babs@jensen.org", "type": "home"}],
                "nickName": "Babs",
            },
        },
        {
            "op": "replace",
            "path": 'emails[type eq "work"].value',
            "value": "bjensen@example.com",
        },
        {"op": "remove", "path": 'emails[type eq "home"]'},
        {"op": "replace", "path": "active", "value": False},
        {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": "m1"}},
        {"op": "replace", "path": ENTERPRISE, "value": {"department": "R&D"}},
        {"op": "replace", "value": {ENTERPRISE: {"employeeNumber": "7"}}},
    )
    resource = apply_patch(user(), request, dialect=strict).resource
    assert resource["emails"] == [{"type": "work", "value": "bjensen@example.com"}]
    assert resource["active"] is False
    assert resource[ENTERPRISE] == {
        "manager": {"value": "m1"},
        "department": "R&D",
        "employeeNumber": "7",
    }
    members = ops(
        {"op": "remove", "path": 'members[value eq "u1"]'},
        {"op": "add", "path": "members", "value": [{"value": "u3", "display": "C"}]},
    )
    assert apply_patch(group(), members, "Group", dialect=strict).resource[
        "members"
    ] == [
        {"value": "u2"},
        {"value": "u3", "display": "C"},
    ]
