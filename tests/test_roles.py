"""The role map: ``userType`` and groups → the host app's role.

Sources cited in the docstrings:

* DESIGN.md, role table: ``admin`` → Admin, ``manager`` → Manager, ``user`` →
  Contributor, case-insensitive; the host app can replace the table.
* Issue 3 §2: absent → Contributor, unknown → 400 ``invalidValue`` listing the
  accepted values (or the default role), group grants with precedence, roles
  recomputed and never accumulated.
* IDP-DIALECTS §5: "``userType`` ... returned exactly as sent. Role lookup may
  fold case, storage must not" (MS-TUT "General").
* RFC 7643 §4.1.1: ``userType`` is a single-valued string; §2.5: ``null`` is
  unassigned; §3.1: ``externalId`` is case-exact; §4.2: group ``displayName``
  is ``caseExact: false``.
* RFC 7644 §3.12: ``invalidValue`` is a 400.
* PEER-LESSONS §8: highest privilege wins (buildbuddy-io/buildbuddy#10578);
  Entra only adds app roles, so roles must be recomputed.
"""

from __future__ import annotations

import copy
import unicodedata

import attrs
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tomorro_scim.errors import InvalidValue
from tomorro_scim.roles import ADMIN
from tomorro_scim.roles import CONTRIBUTOR
from tomorro_scim.roles import MANAGER
from tomorro_scim.roles import GroupGrant
from tomorro_scim.roles import GroupRef
from tomorro_scim.roles import Role
from tomorro_scim.roles import RoleMap
from tomorro_scim.roles import UnknownRolePolicy
from tomorro_scim.roles import fold

VIEWER = Role("Viewer", 0)
AUDITOR = Role("Auditor", 15)


# -- the default table (DESIGN.md) -------------------------------------------


@pytest.mark.parametrize(
    ("user_type", "role"),
    [("admin", ADMIN), ("manager", MANAGER), ("user", CONTRIBUTOR)],
)
def test_default_table_maps_the_three_values(user_type: str, role: Role) -> None:
    """DESIGN.md role table: admin → Admin, manager → Manager, user → Contributor."""
    assert RoleMap.default().resolve(user_type) == role


@pytest.mark.parametrize(
    ("user_type", "role"),
    [
        ("Admin", ADMIN),
        ("ADMIN", ADMIN),
        ("  admin\t", ADMIN),
        ("\u00a0Manager\n", MANAGER),
        ("uSeR", CONTRIBUTOR),
    ],
)
def test_default_table_folds_case_and_whitespace(user_type: str, role: Role) -> None:
    """DESIGN.md "Role values (case-insensitive)"; issue 3 §2 "matched
    case-insensitively and trimmed"; IDP-DIALECTS §5 "Role lookup may fold case"."""
    assert RoleMap.default().resolve(user_type) == role


def test_lookup_folds_unicode_case_and_composition() -> None:
    """Issue 3 §2 (case-insensitive) with Unicode: casefold (ß meets SS) and
    NFC (a decomposed é from one directory meets a composed one)."""
    gerant = Role("Gérant", 20)
    role_map = RoleMap(
        user_types={"g\u00e9rant": gerant, "stra\u00dfe": MANAGER},
        default_role=CONTRIBUTOR,
        precedence=(gerant, MANAGER, CONTRIBUTOR),
    )
    assert role_map.resolve("ge\u0301rant") == gerant  # NFD input
    assert role_map.resolve("G\u00c9RANT") == gerant
    assert role_map.resolve("STRASSE") == MANAGER
    assert fold(" Ge\u0301rant ") == "g\u00e9rant"


@pytest.mark.parametrize("absent", [None, "", "   ", "\t\n"])
def test_absent_or_empty_user_type_gives_the_default_role(absent: str | None) -> None:
    """Issue 3 §2: absent userType → Contributor (least privilege); RFC 7643
    §2.5: null is unassigned, so it is absent, not unknown."""
    role_map = RoleMap.default()
    assert role_map.resolve(absent) == CONTRIBUTOR
    role_map.validate_user_type(absent)


def test_default_role_is_configurable() -> None:
    """Issue 3 §2: the host app chooses the role for an absent userType."""
    role_map = RoleMap.default().with_default_role(VIEWER)
    assert role_map.resolve(None) == VIEWER
    assert role_map.resolve("user") == CONTRIBUTOR


def test_lookup_never_rewrites_the_value() -> None:
    """IDP-DIALECTS §5: userType is "returned exactly as sent. Role lookup may
    fold case, storage must not": validating and resolving return no folded
    value to store and leave the resource untouched."""
    user = {"userName": "ada@contoso.com", "userType": " ADMIN "}
    before = copy.deepcopy(user)
    role_map = RoleMap.default()
    assert role_map.validate_user_type(user["userType"]) is None  # type: ignore[func-returns-value]
    assert role_map.resolve(user["userType"]) == ADMIN
    assert user == before


def test_table_keys_are_kept_as_the_host_spelled_them() -> None:
    """IDP-DIALECTS §5 applies to the table too: only the lookup folds."""
    role_map = RoleMap(user_types={"Team Lead": MANAGER}, default_role=CONTRIBUTOR)
    assert role_map.accepted_user_types == ("Team Lead",)
    assert role_map.resolve("team lead") == MANAGER


# -- unknown values (issue 3 §2, RFC 7644 §3.12) -----------------------------


def test_unknown_value_is_rejected_listing_the_accepted_values() -> None:
    """Issue 3 §2: an unknown value gets 400 invalidValue whose detail names
    the attribute and lists the accepted values (RFC 7644 §3.12), so a
    mis-mapped attribute shows up in Entra's provisioning logs."""
    with pytest.raises(InvalidValue) as caught:
        RoleMap.default().validate_user_type("Sales Engineer")
    body = caught.value.to_dict()
    assert body["status"] == "400"
    assert body["scimType"] == "invalidValue"
    assert body["detail"] == (
        'userType "Sales Engineer" is not an accepted value; '
        'accepted values (case-insensitive): "admin", "manager", "user".'
    )


def test_resolve_rejects_an_unknown_value_like_validate() -> None:
    """Issue 3 §2: reject is the default policy, for resolve as for validate."""
    with pytest.raises(InvalidValue, match="accepted values"):
        RoleMap.default().resolve("owner")


def test_unknown_detail_escapes_and_cuts_what_the_client_sent() -> None:
    """errors.py / IDP-DIALECTS §4.2: the detail stays safe to show; control
    characters are escaped and a long value is cut."""
    with pytest.raises(InvalidValue) as caught:
        RoleMap.default().validate_user_type("x\n" + "y" * 500)
    detail = caught.value.detail
    assert "\n" not in detail
    assert "\\n" in detail
    assert '"x\\n' + "y" * 62 + '…" is not' in detail


def test_unknown_detail_with_an_empty_table() -> None:
    """Issue 3 §2: the detail lists the accepted values, here none."""
    role_map = RoleMap(user_types={}, default_role=CONTRIBUTOR)
    with pytest.raises(InvalidValue, match="no userType values are accepted"):
        role_map.validate_user_type("admin")
    assert role_map.resolve(None) == CONTRIBUTOR


def test_unknown_value_gets_the_default_role_under_the_default_policy() -> None:
    """Issue 3 §2: the host can choose the default role for unknown values."""
    role_map = RoleMap.default().with_unknown_policy(UnknownRolePolicy.DEFAULT)
    role_map.validate_user_type("Sales Engineer")
    assert role_map.resolve("Sales Engineer") == CONTRIBUTOR
    assert role_map.resolve("admin") == ADMIN


def test_resolve_can_override_the_policy_for_stored_values() -> None:
    """Issue 3 §2 (recomputed on every write): a group change recomputes the
    role of a user whose stored userType an older table accepted; that must
    not fail the group request, and falls back to least privilege."""
    role_map = RoleMap.default().with_group_grant(
        GroupGrant(MANAGER, display_name="Legal")
    )
    legal = GroupRef(display_name="Legal")
    lenient = UnknownRolePolicy.DEFAULT
    assert role_map.resolve("supervisor", unknown=lenient) == CONTRIBUTOR
    assert role_map.resolve("supervisor", [legal], unknown=lenient) == MANAGER
    with pytest.raises(InvalidValue):
        role_map.resolve("supervisor", [legal])


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (1, "a number"),
        (1.5, "a number"),
        (True, "a boolean"),
        (["admin"], "an array"),
        ({"value": "admin"}, "an object"),
    ],
)
@pytest.mark.parametrize("policy", list(UnknownRolePolicy))
def test_non_string_user_type_is_invalid_value_under_every_policy(
    value: object, kind: str, policy: UnknownRolePolicy
) -> None:
    """RFC 7643 §4.1.1: userType is a string. The service passes any JSON
    through; a non-string is invalidValue (RFC 7644 §3.12), not an unknown
    value the lenient policy could swallow."""
    role_map = RoleMap.default().with_unknown_policy(policy)
    with pytest.raises(InvalidValue) as caught:
        role_map.validate_user_type(value)
    assert caught.value.detail == f"userType must be a string, got {kind}."
    with pytest.raises(InvalidValue):
        role_map.resolve(value, unknown=UnknownRolePolicy.DEFAULT)


# -- replacing the table (DESIGN.md "the host app can replace it") -----------


def test_host_app_replaces_the_table() -> None:
    """DESIGN.md: "This table is the library's default role map, and the host
    app can replace it."; issue 3 §2 "add roles"."""
    owner, editor = Role("Owner", 100), Role("Editor", 50)
    role_map = RoleMap(
        user_types=[("owner", owner), ("editor", editor), ("viewer", VIEWER)],
        default_role=VIEWER,
    )
    assert role_map.resolve("OWNER") == owner
    assert role_map.resolve(None) == VIEWER
    assert role_map.roles == (owner, editor, VIEWER)
    with pytest.raises(InvalidValue, match='"owner", "editor", "viewer"'):
        role_map.resolve("admin")


def test_with_user_type_adds_or_replaces_in_place() -> None:
    """DESIGN.md: the host app can change the table; the detail keeps the
    table's order."""
    role_map = RoleMap.default().with_user_type("auditor", AUDITOR)
    assert role_map.accepted_user_types == ("admin", "manager", "user", "auditor")
    assert role_map.resolve("Auditor") == AUDITOR
    replaced = role_map.with_user_type("USER", VIEWER)
    assert replaced.accepted_user_types == ("admin", "manager", "USER", "auditor")
    assert replaced.resolve("user") == VIEWER


def test_without_user_type_removes_an_entry() -> None:
    """DESIGN.md: the host app can change the table."""
    role_map = RoleMap.default().without_user_type(" Manager ")
    assert role_map.accepted_user_types == ("admin", "user")
    with pytest.raises(InvalidValue):
        role_map.resolve("manager")
    with pytest.raises(ValueError, match="no userType entry"):
        role_map.without_user_type("manager")


def test_role_map_is_an_immutable_value() -> None:
    """Issue 3 §2 "The map is a value the service reads": frozen, equal by
    value, hashable, and builders return new maps."""
    original = RoleMap.default()
    changed = original.with_user_type("owner", ADMIN)
    assert original == RoleMap.default()
    assert hash(original) == hash(RoleMap.default())
    assert changed != original
    assert "owner" not in original.accepted_user_types
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        original.default_role = ADMIN  # type: ignore[misc]


def test_unknown_policy_accepts_its_string_value() -> None:
    """A host app reading settings from a file can pass "default"/"reject"."""
    role_map = RoleMap(
        user_types={},
        default_role=CONTRIBUTOR,
        unknown="default",
    )
    assert role_map.unknown is UnknownRolePolicy.DEFAULT
    with pytest.raises(ValueError, match="lenient"):
        RoleMap(user_types={}, default_role=CONTRIBUTOR, unknown="lenient")


# -- host-app mistakes fail at construction (ValueError / TypeError) ---------


def test_keys_equal_once_folded_are_rejected() -> None:
    """Issue 3 §2 (case-insensitive lookup): two keys that fold to the same
    value are ambiguous, so the host app learns at construction."""
    with pytest.raises(ValueError, match="'admin' and ' ADMIN' are the same"):
        RoleMap(user_types={"admin": ADMIN, " ADMIN": MANAGER}, default_role=VIEWER)
    with pytest.raises(ValueError, match="the same"):
        RoleMap(
            user_types={"user": CONTRIBUTOR, "User": CONTRIBUTOR}, default_role=VIEWER
        )


def test_blank_key_is_rejected() -> None:
    """Issue 3 §2: blank userType means absent; it cannot also be a key."""
    with pytest.raises(ValueError, match="blank"):
        RoleMap(user_types={"  ": ADMIN}, default_role=CONTRIBUTOR)


def test_wrong_types_in_the_table_are_type_errors() -> None:
    """Host-app programming errors are TypeError, never a SCIM error."""
    with pytest.raises(TypeError):
        RoleMap(user_types={1: ADMIN}, default_role=CONTRIBUTOR)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RoleMap(user_types={"admin": "Admin"}, default_role=CONTRIBUTOR)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RoleMap(user_types={}, default_role="Contributor")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RoleMap(user_types={}, default_role=CONTRIBUTOR, group_grants=["Legal"])  # type: ignore[list-item]


def test_two_different_roles_with_one_name_are_rejected() -> None:
    """The host app reads roles back by name; one name must mean one role."""
    with pytest.raises(ValueError, match="two different roles are called"):
        RoleMap(user_types={"admin": ADMIN}, default_role=Role("Admin", 1))
    with pytest.raises(ValueError, match="two different roles are called"):
        RoleMap(
            user_types={"admin": ADMIN, "boss": Role("ADMIN", 99)}, default_role=VIEWER
        )


def test_equal_privileges_need_an_explicit_precedence() -> None:
    """Issue 3 §2 "an explicit precedence when several apply": a tie in
    privilege would make the winner depend on order, so it is refused."""
    peer = Role("Peer", CONTRIBUTOR.privilege)
    with pytest.raises(ValueError, match="same privilege"):
        RoleMap(
            user_types={"user": CONTRIBUTOR, "peer": peer}, default_role=CONTRIBUTOR
        )
    role_map = RoleMap(
        user_types={"user": CONTRIBUTOR, "peer": peer},
        default_role=CONTRIBUTOR,
        precedence=(peer, CONTRIBUTOR),
    )
    assert role_map.resolve("peer", []) == peer


def test_precedence_must_rank_every_role_once() -> None:
    """Issue 3 §2 "explicit precedence": a role left out would be ranked by
    accident, so it is an error, also after a builder step."""
    with pytest.raises(ValueError, match="missing: Manager"):
        RoleMap.default().with_precedence(ADMIN, CONTRIBUTOR)
    with pytest.raises(ValueError, match="more than once"):
        RoleMap.default().with_precedence(ADMIN, MANAGER, CONTRIBUTOR, ADMIN)
    ordered = RoleMap.default().with_precedence(CONTRIBUTOR, MANAGER, ADMIN)
    with pytest.raises(ValueError, match="missing: Auditor"):
        ordered.with_user_type("auditor", AUDITOR)


def test_precedence_may_name_roles_the_map_cannot_give() -> None:
    """A builder step that removes an entry keeps the ordering valid; the
    map's roles are only those it can give."""
    role_map = (
        RoleMap.default()
        .with_user_type("auditor", AUDITOR)
        .with_precedence(AUDITOR, ADMIN, MANAGER, CONTRIBUTOR)
        .without_user_type("auditor")
    )
    assert role_map.roles == (ADMIN, MANAGER, CONTRIBUTOR)


def test_role_values_are_checked() -> None:
    """Host-app programming errors are ValueError/TypeError."""
    with pytest.raises(ValueError, match="blank"):
        Role(" ", 1)
    with pytest.raises(TypeError):
        Role("Admin", True)
    with pytest.raises(TypeError):
        Role("Admin", "30")  # type: ignore[arg-type]
    assert str(ADMIN) == "Admin"


def test_group_grant_names_exactly_one_group_key() -> None:
    """Issue 3 §2: a group is named by displayName or by externalId."""
    with pytest.raises(ValueError, match="exactly one"):
        GroupGrant(ADMIN)
    with pytest.raises(ValueError, match="exactly one"):
        GroupGrant(ADMIN, display_name="Admins", external_id="42")
    with pytest.raises(ValueError, match="blank"):
        GroupGrant(ADMIN, display_name="  ")
    with pytest.raises(ValueError, match="empty"):
        GroupGrant(ADMIN, external_id="")
    with pytest.raises(TypeError):
        GroupGrant(ADMIN, external_id=42)  # type: ignore[arg-type]


def test_two_grants_for_one_group_are_rejected() -> None:
    """Conflicting grants for one group are a host-app mistake; display names
    collide once folded (RFC 7643 §4.2), externalIds only when equal (§3.1)."""
    with pytest.raises(ValueError, match="two group grants for displayName"):
        RoleMap(
            user_types={},
            default_role=CONTRIBUTOR,
            group_grants=[
                GroupGrant(ADMIN, display_name="Admins"),
                GroupGrant(MANAGER, display_name=" ADMINS"),
            ],
        )
    with pytest.raises(ValueError, match="two group grants for externalId"):
        RoleMap(
            user_types={},
            default_role=CONTRIBUTOR,
            group_grants=[
                GroupGrant(ADMIN, external_id="g1"),
                GroupGrant(ADMIN, external_id="g1"),
            ],
        )
    RoleMap(
        user_types={},
        default_role=CONTRIBUTOR,
        group_grants=[
            GroupGrant(ADMIN, external_id="g1"),
            GroupGrant(MANAGER, external_id="G1"),
        ],
    )


# -- group-based roles and precedence (issue 3 §2) ---------------------------


def _with_groups() -> RoleMap:
    return (
        RoleMap.default()
        .with_group_grant(GroupGrant(ADMIN, display_name="Tomorro Admins"))
        .with_group_grant(GroupGrant(MANAGER, external_id="8aa1a0c0-legal"))
        .with_group_grant(GroupGrant(AUDITOR, display_name="Auditors"))
    )


def test_group_matches_display_name_case_insensitively() -> None:
    """Issue 3 §2 "a group (by displayName ...)"; RFC 7643 §4.2 displayName
    is caseExact false."""
    role_map = _with_groups()
    assert role_map.resolve(None, [GroupRef(display_name=" tomorro ADMINS ")]) == ADMIN


def test_group_matches_external_id_exactly() -> None:
    """Issue 3 §2 "(by ... externalId)"; RFC 7643 §3.1 externalId is caseExact."""
    role_map = _with_groups()
    assert role_map.resolve("user", [GroupRef(external_id="8aa1a0c0-legal")]) == MANAGER
    assert (
        role_map.resolve("user", [GroupRef(external_id="8AA1A0C0-LEGAL")])
        == CONTRIBUTOR
    )
    # A display name that happens to equal the externalId is not the group.
    assert (
        role_map.resolve("user", [GroupRef(display_name="8aa1a0c0-legal")])
        == CONTRIBUTOR
    )


def test_absent_user_type_and_an_admin_group_gives_admin() -> None:
    """Issue 3 §2: the group's role competes with the default role and wins
    when higher (highest privilege wins by default)."""
    role_map = _with_groups()
    assert role_map.resolve(None, [GroupRef(display_name="Tomorro Admins")]) == ADMIN


def test_admin_user_type_beats_a_manager_group() -> None:
    """Issue 3 §2 "the highest privilege wins by default"; PEER-LESSONS §8
    (buildbuddy-io/buildbuddy#10578)."""
    role_map = _with_groups()
    assert role_map.resolve("admin", [GroupRef(external_id="8aa1a0c0-legal")]) == ADMIN


def test_several_groups_highest_privilege_wins() -> None:
    """Issue 3 §2 "the highest privilege wins by default"."""
    role_map = _with_groups()
    groups = [
        GroupRef(display_name="Auditors"),
        GroupRef(external_id="8aa1a0c0-legal"),
        GroupRef(display_name="Unrelated"),
    ]
    assert role_map.resolve("user", groups) == MANAGER


def test_a_group_matching_both_ways_contributes_both_grants() -> None:
    """Issue 3 §2: every grant that applies is a candidate."""
    role_map = _with_groups()
    both = GroupRef(display_name="Auditors", external_id="8aa1a0c0-legal")
    assert role_map.resolve("user", [both]) == MANAGER


def test_default_role_is_a_floor_without_explicit_precedence() -> None:
    """Issue 3 §2: absent userType gives the default role, and groups compete
    with it; a group granting less than the default cannot lower the user."""
    role_map = RoleMap.default().with_group_grant(
        GroupGrant(VIEWER, display_name="Guests")
    )
    assert role_map.resolve(None, [GroupRef(display_name="Guests")]) == CONTRIBUTOR


def test_explicit_precedence_lets_a_restricting_group_win() -> None:
    """Issue 3 §2 "with an explicit precedence when several apply"."""
    role_map = (
        RoleMap.default()
        .with_group_grant(GroupGrant(VIEWER, display_name="Suspended"))
        .with_precedence(VIEWER, ADMIN, MANAGER, CONTRIBUTOR)
    )
    suspended = GroupRef(display_name="Suspended")
    assert role_map.resolve("admin", [suspended]) == VIEWER
    assert role_map.resolve("admin") == ADMIN
    assert role_map.roles == (VIEWER, ADMIN, MANAGER, CONTRIBUTOR)
    assert role_map.with_precedence().resolve("admin", [suspended]) == ADMIN


def test_a_group_only_role_is_not_a_user_type_value() -> None:
    """Issue 3 §2: a role a group grants but the userType table does not map
    is given by the group only; its name sent as userType is unknown."""
    role_map = _with_groups()
    assert AUDITOR in role_map.roles
    assert role_map.resolve("user", [GroupRef(display_name="Auditors")]) == AUDITOR
    with pytest.raises(InvalidValue) as caught:
        role_map.validate_user_type("Auditor")
    assert "auditor" not in caught.value.detail.lower().split("accepted values")[1]


def test_removing_a_group_takes_its_role_away() -> None:
    """Issue 3 §2 "always recomputed ..., never accumulated"; PEER-LESSONS §8:
    Entra only sends adds, so roles never shrink unless recomputed."""
    role_map = _with_groups()
    admins = GroupRef(display_name="Tomorro Admins")
    assert role_map.resolve("user", [admins]) == ADMIN
    assert role_map.resolve("user", []) == CONTRIBUTOR
    assert role_map.resolve("manager", []) == MANAGER


def test_with_group_grant_replaces_the_grant_for_the_same_group() -> None:
    """Issue 3 §2: the host app chooses what a group grants."""
    role_map = _with_groups().with_group_grant(
        GroupGrant(MANAGER, display_name="TOMORRO admins")
    )
    assert role_map.resolve(None, [GroupRef(display_name="Tomorro Admins")]) == MANAGER
    assert len(role_map.group_grants) == 3


def test_group_ref_reads_a_group_json_form() -> None:
    """DESIGN.md rule 4 (the JSON form is the working representation); RFC
    7643 §2.1 attribute names are case-insensitive."""
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g-1",
        "displayname": "Sales",
        "externalId": "8aa1a0c0",
        "members": [],
    }
    assert GroupRef.from_resource(group) == GroupRef("Sales", "8aa1a0c0")
    assert GroupRef.from_resource({"displayName": 3}) == GroupRef()


# -- properties --------------------------------------------------------------

_NAMES = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzéçßøñ -", min_size=1, max_size=8
).filter(lambda s: bool(fold(s)))


@st.composite
def role_maps(draw: st.DrawFn) -> RoleMap:
    """Random valid maps: 1-5 roles, a table, grants, and maybe a precedence."""
    count = draw(st.integers(1, 5))
    privileges = draw(
        st.lists(st.integers(-50, 50), min_size=count, max_size=count, unique=True)
    )
    roles = [Role(f"R{i}", p) for i, p in enumerate(privileges)]
    role = st.sampled_from(roles)
    keys = draw(st.lists(_NAMES, max_size=5, unique_by=fold))
    table = {key: draw(role) for key in keys}
    names = draw(st.lists(st.sampled_from(["g0", "g1", "g2", "g3"]), unique=True))
    ids = draw(st.lists(st.sampled_from(["x0", "x1", "x2", "X0"]), unique=True))
    grants = [GroupGrant(draw(role), display_name=n) for n in names]
    grants += [GroupGrant(draw(role), external_id=i) for i in ids]
    precedence = draw(st.none() | st.permutations(roles))
    return RoleMap(
        user_types=table,
        default_role=draw(role),
        unknown=draw(st.sampled_from(UnknownRolePolicy)),
        group_grants=grants,
        precedence=precedence,
    )


_GROUPS = st.lists(
    st.builds(
        GroupRef,
        st.none() | st.sampled_from(["g0", "G1", " g2 ", "other"]),
        st.none() | st.sampled_from(["x0", "x1", "X0", "y"]),
    ),
    max_size=6,
)


def _user_types(role_map: RoleMap) -> st.SearchStrategy[str | None]:
    known = list(role_map.accepted_user_types)
    return st.none() | st.just("") | (st.sampled_from(known) if known else st.nothing())


def _rank(role_map: RoleMap, role: Role) -> int:
    return role_map.roles.index(role)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), role_map=role_maps(), groups=_GROUPS)
def test_resolution_is_pure_and_ignores_group_order(
    data: st.DataObject, role_map: RoleMap, groups: list[GroupRef]
) -> None:
    """Issue 3 §2 "resolving a role is pure": the same inputs give the same
    role whatever the order of the groups, and the inputs are not changed."""
    user_type = data.draw(_user_types(role_map))
    snapshot = list(groups)
    role = role_map.resolve(user_type, groups)
    assert groups == snapshot
    assert role_map.resolve(user_type, groups) == role
    assert role_map.resolve(user_type, reversed(groups)) == role
    assert role_map.resolve(user_type, data.draw(st.permutations(groups))) == role
    assert role_map.resolve(user_type, iter(groups)) == role


@settings(max_examples=150, deadline=None)
@given(data=st.data(), role_map=role_maps(), groups=_GROUPS)
def test_recomputation_never_accumulates(
    data: st.DataObject, role_map: RoleMap, groups: list[GroupRef]
) -> None:
    """Issue 3 §2 "always recomputed from its current userType and groups,
    never accumulated": with a subset of the groups the role never outranks
    the one the full set gives, and it is always justified by the current
    userType (or the default) or by a grant of a group still held."""
    user_type = data.draw(_user_types(role_map))
    subset = data.draw(
        st.lists(st.sampled_from(groups), unique=True) if groups else st.just([])
    )
    full = role_map.resolve(user_type, groups)
    partial = role_map.resolve(user_type, subset)
    assert _rank(role_map, partial) >= _rank(role_map, full)
    justified = {role_map.resolve(user_type)} | {
        grant.role
        for grant in role_map.group_grants
        for group in subset
        if (grant.external_id is not None and grant.external_id == group.external_id)
        or (
            grant.display_name is not None
            and group.display_name is not None
            and fold(grant.display_name) == fold(group.display_name)
        )
    }
    assert partial in justified
    assert partial in role_map.roles


def _variants(value: str) -> st.SearchStrategy[str]:
    cased = st.sampled_from(
        [value, value.upper(), value.lower(), value.swapcase(), value.title()]
    )
    space = st.text(alphabet=" \t\n\u00a0\u2003", max_size=3)
    form = st.sampled_from(["NFC", "NFD"])
    return st.builds(
        lambda c, left, right, f: left + unicodedata.normalize(f, c) + right,
        cased,
        space,
        space,
        form,
    )


@settings(max_examples=150, deadline=None)
@given(data=st.data(), role_map=role_maps())
def test_case_and_whitespace_variants_resolve_identically(
    data: st.DataObject, role_map: RoleMap
) -> None:
    """DESIGN.md "Role values (case-insensitive)"; issue 3 §2 "matched
    case-insensitively and trimmed"; IDP-DIALECTS §5 "Role lookup may fold
    case": any casing, padding or normal form of a key finds its role."""
    if not role_map.user_types:
        return
    key, role = data.draw(st.sampled_from(role_map.user_types))
    groups = data.draw(_GROUPS)
    variant = data.draw(_variants(key))
    assert role_map.resolve(variant) == role
    assert role_map.resolve(variant, groups) == role_map.resolve(key, groups)
    role_map.validate_user_type(variant)
