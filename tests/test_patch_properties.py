"""Property tests: random PATCHes on random users and groups.

* a PATCH either succeeds with a resource scim2-models still validates
  (``User[EnterpriseUser].model_validate``), or raises a SCIM error; the input
  equals a deep copy taken before, either way (RFC 7644 §3.5.2: atomic);
* the reported changes, replayed on the input, give the result;
* add-then-remove round-trips;
* membership changes, replayed on the member ids, give the loaded result, and
  are the same whether or not the members were loaded.
"""

from __future__ import annotations

import copy
import string
from typing import Any

from hypothesis import HealthCheck
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from scim2_models import EnterpriseUser
from scim2_models import Group
from scim2_models import User

from tomorro_scim.errors import ScimError
from tomorro_scim.patch import AddMembers
from tomorro_scim.patch import MembersNotLoaded
from tomorro_scim.patch import RemoveAttribute
from tomorro_scim.patch import RemoveMembers
from tomorro_scim.patch import ReplaceMembers
from tomorro_scim.patch import SetAttribute
from tomorro_scim.patch import apply_patch

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
Model = User[EnterpriseUser]

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

words = st.text(alphabet=string.ascii_letters, min_size=1, max_size=8)
addresses = st.builds(
    lambda local, domain: f"{local}@{domain}.com", words, words.map(str.lower)
)
email_types = st.sampled_from(["work", "home", "other"])
booleans = st.sampled_from([True, False, "True", "False", "true", "FALSE"])


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "schemas": [CORE],
        "id": "u-1",
        "userName": draw(addresses),
    }
    for key in ("displayName", "nickName", "title"):
        if draw(st.booleans()):
            resource[key] = draw(words)
    if draw(st.booleans()):
        resource["userType"] = draw(st.sampled_from(["admin", "manager", "user"]))
    if draw(st.booleans()):
        resource["active"] = draw(st.booleans())
    name = {k: draw(words) for k in ("givenName", "familyName") if draw(st.booleans())}
    if name:
        resource["name"] = name
    values = draw(st.lists(addresses, max_size=3, unique=True))
    if values:
        primary = draw(st.integers(min_value=-1, max_value=len(values) - 1))
        resource["emails"] = [
            {
                "value": v,
                "type": draw(email_types),
                **({"primary": True} if i == primary else {}),
            }
            for i, v in enumerate(values)
        ]
    extension = {
        k: draw(words) for k in ("employeeNumber", "department") if draw(st.booleans())
    }
    if draw(st.booleans()):
        extension["manager"] = {"value": draw(words)}
    if extension:
        resource[ENTERPRISE] = extension
        resource["schemas"] = [CORE, ENTERPRISE]
    return resource


simple_paths = st.sampled_from(
    [
        "displayName",
        "nickName",
        "title",
        "userType",
        "name.givenName",
        "name.familyName",
    ]
)
extension_paths = st.sampled_from(
    [f"{ENTERPRISE}:employeeNumber", f"{ENTERPRISE}:department"]
)
ops = st.sampled_from(["add", "replace", "Add", "Replace"])

valid_operations = st.one_of(
    st.fixed_dictionaries(
        {
            "op": ops,
            "path": simple_paths | extension_paths | st.just("userName"),
            "value": words,
        }
    ),
    st.fixed_dictionaries({"op": ops, "path": st.just("active"), "value": booleans}),
    st.fixed_dictionaries(
        {"op": st.just("remove"), "path": simple_paths | extension_paths}
    ),
    st.fixed_dictionaries(
        {
            "op": st.just("add"),
            "path": st.just("emails"),
            "value": st.lists(
                st.fixed_dictionaries(
                    {"value": addresses, "type": email_types},
                    optional={"primary": st.just(True)},
                ),
                max_size=2,
            ),
        }
    ),
    st.builds(
        lambda op, kind, value: {
            "op": op,
            "path": f'emails[type eq "{kind}"].value',
            "value": value,
        },
        ops,
        email_types,
        addresses,
    ),
    st.builds(
        lambda kind: {"op": "remove", "path": f'emails[type eq "{kind}"]'}, email_types
    ),
    st.builds(
        lambda value: {"op": "remove", "path": f'emails[value eq "{value}"]'}, addresses
    ),
    st.builds(
        lambda value: {
            "op": "replace",
            "path": 'emails[type eq "home"].primary',
            "value": value,
        },
        booleans,
    ),
    st.builds(
        lambda op, value: {"op": op, "path": f"{ENTERPRISE}:manager", "value": value},
        ops,
        words
        | st.builds(lambda v: {"value": v}, words)
        | st.builds(lambda v: [{"value": v}], words),
    ),
    st.fixed_dictionaries(
        {
            "op": ops,
            "value": st.dictionaries(
                st.sampled_from(
                    [
                        "displayName",
                        "name.givenName",
                        f"{ENTERPRISE}:department",
                        "active",
                        "TITLE",
                    ]
                ),
                words,
                min_size=1,
            ).map(
                lambda d: {**d, "active": d["active"] == "x"} if "active" in d else d
            ),
        }
    ),
    st.just({"op": "remove", "path": ENTERPRISE}),
)

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=6)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
any_operations = st.one_of(
    valid_operations,
    st.dictionaries(
        st.sampled_from(["op", "path", "value", "Op", "extra"]),
        json_values
        | simple_paths
        | st.sampled_from(["add", "remove", "replace", "emails[", "id", "members"]),
        max_size=4,
    ),
)


def body(operations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": operations}


def replay(resource: dict[str, Any], changes: tuple[Any, ...]) -> dict[str, Any]:
    """Apply attribute changes the way a storage would, column by column."""
    out = copy.deepcopy(resource)
    for change in changes:
        urn, _, name = change.path.rpartition(":")
        holder = out.setdefault(urn, {}) if urn else out
        if isinstance(change, SetAttribute):
            holder[name] = change.value
        elif isinstance(change, RemoveAttribute):
            holder.pop(name, None)
        if urn and not holder:
            out.pop(urn)
    return out


def without_schemas(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "schemas"}


@PROPERTY
@given(users(), st.lists(valid_operations, min_size=1, max_size=6))
def test_valid_patches_keep_the_user_valid_and_the_input_intact(
    resource: dict[str, Any], operations: list[dict[str, Any]]
) -> None:
    before = copy.deepcopy(resource)
    try:
        result = apply_patch(resource, body(operations))
    except ScimError as exc:
        event(f"refused: {exc.scim_type}")
        refused: ScimError | None = exc
    else:
        event("applied")
        refused = None
    assert resource == before
    if refused is not None:
        assert refused.status == 400
        return
    Model.model_validate(result.resource)
    assert without_schemas(replay(before, result.changes)) == without_schemas(
        result.resource
    )


@PROPERTY
@given(users(), st.lists(any_operations, min_size=1, max_size=4))
def test_any_patch_succeeds_or_fails_cleanly_and_never_touches_its_input(
    resource: dict[str, Any], operations: list[dict[str, Any]]
) -> None:
    before = copy.deepcopy(resource)
    statuses: list[int] = []
    try:
        apply_patch(resource, body(operations))
    except ScimError as exc:
        statuses.append(exc.status)
    assert resource == before
    assert statuses in ([], [400])


@PROPERTY
@given(users(), st.sampled_from(["nickName", "title", "displayName"]), words)
def test_add_then_remove_round_trips_a_single_valued_attribute(
    resource: dict[str, Any], path: str, value: str
) -> None:
    resource.pop(path, None)
    result = apply_patch(
        resource,
        body(
            [
                {"op": "add", "path": path, "value": value},
                {"op": "remove", "path": path},
            ]
        ),
    )
    assert result.resource == resource
    assert result.changes == ()


@PROPERTY
@given(users(), addresses)
def test_add_then_remove_round_trips_an_email(
    resource: dict[str, Any], address: str
) -> None:
    if any(e["value"] == address for e in resource.get("emails", [])):
        return
    added = {"value": address, "type": "other"}
    result = apply_patch(
        resource,
        body(
            [
                {"op": "add", "path": "emails", "value": [added]},
                {"op": "remove", "path": f'emails[value eq "{address}"]'},
            ]
        ),
    )
    assert result.resource == resource


member_ids = st.sampled_from([f"u{i}" for i in range(8)])
member_operations = st.one_of(
    st.builds(
        lambda ids: {
            "op": "add",
            "path": "members",
            "value": [{"value": i} for i in ids],
        },
        st.lists(member_ids, max_size=3),
    ),
    st.builds(
        lambda i: {"op": "remove", "path": f'members[value eq "{i}"]'}, member_ids
    ),
    st.builds(
        lambda ids: {
            "op": "remove",
            "path": "members[" + " or ".join(f'value eq "{i}"' for i in ids) + "]",
        },
        st.lists(member_ids, min_size=1, max_size=3),
    ),
    st.builds(
        lambda ids: {
            "op": "Remove",
            "path": "members",
            "value": [{"value": i} for i in ids],
        },
        st.lists(member_ids, max_size=3),
    ),
    st.builds(
        lambda ids: {
            "op": "replace",
            "path": "members",
            "value": [{"value": i} for i in ids],
        },
        st.lists(member_ids, max_size=3),
    ),
    st.just({"op": "remove", "path": "members"}),
    st.builds(
        lambda name: {"op": "replace", "value": {"id": "g1", "displayName": name}},
        words,
    ),
    st.builds(
        lambda i: {"op": "remove", "path": f'members[display eq "{i.upper()}"]'},
        member_ids,
    ),
)


@PROPERTY
@given(
    st.lists(member_ids, unique=True, max_size=6),
    st.lists(member_operations, min_size=1, max_size=6),
)
def test_membership_changes_replay_to_the_loaded_result(
    initial: list[str], operations: list[dict[str, Any]]
) -> None:
    loaded = {
        "id": "g1",
        "displayName": "G",
        "members": [{"value": i, "display": i.upper()} for i in initial],
    }
    before = copy.deepcopy(loaded)
    result = apply_patch(loaded, body(operations), "Group")
    assert loaded == before
    final = [m["value"] for m in result.resource.get("members", [])]
    assert len(final) == len(set(final))
    members = set(initial)
    for change in result.changes:
        if isinstance(change, AddMembers):
            members |= set(change.ids)
        elif isinstance(change, RemoveMembers):
            members -= set(change.ids)
        elif isinstance(change, ReplaceMembers):
            members = set(change.ids)
    assert members == set(final)
    Group.model_validate(result.resource)
    unloaded = {k: v for k, v in loaded.items() if k != "members"}
    try:
        planned = apply_patch(unloaded, body(operations), "Group")
    except MembersNotLoaded:
        assert any("display eq" in str(op.get("path")) for op in operations)
    else:
        assert planned.changes == tuple(
            c
            for c in result.changes
            if not isinstance(c, AddMembers | RemoveMembers) or c in planned.changes
        )
        assert [c for c in planned.changes if isinstance(c, SetAttribute)] == [
            c for c in result.changes if isinstance(c, SetAttribute)
        ]
