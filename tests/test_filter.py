"""The compiled filter engine, against RFC 7644 §3.4.2.2 and what the IdPs send."""

from __future__ import annotations

from typing import Any

import pytest

from tomorro_scim.errors import InvalidFilter
from tomorro_scim.filter import FilterLimits
from tomorro_scim.filter import comparison_key
from tomorro_scim.filter import compile_filter
from tomorro_scim.filter import compile_value_filter
from tomorro_scim.filter import parse_filter
from tomorro_scim.schemas import GROUP
from tomorro_scim.schemas import USER

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

ADA: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Ada@Contoso.com",
    "name": {"givenName": "Ada", "familyName": "Lovelace"},
    "displayName": "Ada Lovelace",
    "userType": "admin",
    "active": True,
    "emails": [
        {"type": "work", "value": "ada@contoso.com", "primary": True},
        {"type": "home", "value": "ada@example.org"},
    ],
    "meta": {
        "resourceType": "User",
        "created": "2011-08-01T18:29:49.793Z",
        "lastModified": "2011-08-01T20:31:02+02:00",
    },
    ENTERPRISE: {
        "employeeNumber": "701984",
        "department": "Legal",
        "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"},
    },
}


def matches(
    expression: str, resource: dict[str, Any] = ADA, rtype: str = "User"
) -> bool:
    return compile_filter(expression, rtype)(resource)


# -- RFC 7644 §3.4.2.2 operators -------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('userName eq "ada@contoso.com"', True),  # caseExact=false (RFC 7643 §4.1.1)
        ('userName ne "ada@contoso.com"', False),
        ('name.familyName co "love"', True),
        ('name.familyName sw "LOVE"', True),
        ('name.familyName ew "lace"', True),
        ('name.familyName ew "love"', False),
        ('displayName gt "Ada"', True),
        ('displayName ge "ada lovelace"', True),
        ('displayName lt "B"', True),
        ('displayName le "Ada"', False),
        ("title pr", False),
        ("userName pr", True),
        ("name pr", True),  # a non-empty complex node
        ("emails pr", True),
    ],
)
def test_every_operator_of_rfc7644_3_4_2_2(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


def test_operators_and_keywords_are_case_insensitive() -> None:
    """RFC 7644 §3.4.2.2; an upper-case AND once dropped its right side (wso2/product-is#20511)."""
    assert matches('userName EQ "ada@contoso.com" AND active Eq TRUE')
    assert not matches('userName eq "ada@contoso.com" AND active eq false')
    assert matches("NOT (title PR)")


def test_attribute_names_are_case_insensitive() -> None:
    """RFC 7643 §2.1; Microsoft's Postman collection sends "UserName" and "name.FamilyName"."""
    assert matches('UserName eq "ada@contoso.com"')
    assert matches('NAME.FAMILYNAME eq "lovelace"')
    assert matches('emails.Value co "contoso"')


def test_precedence_and_binds_tighter_than_or() -> None:
    """RFC 7644 §3.4.2.2: "and" has precedence over "or"."""
    # false and false or true == (false and false) or true
    assert matches("title pr and nickName pr or userName pr")
    # with grouping the other way round it is false
    assert not matches("title pr and (nickName pr or userName pr)")


def test_not_negates_its_group() -> None:
    assert matches('not (userType eq "user")')
    assert not matches('not (userType eq "admin")')


# -- case sensitivity and normalisation ------------------------------------


def test_case_exact_attributes_compare_exactly() -> None:
    """RFC 7643 §3.1: id and externalId are caseExact."""
    assert matches('externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')
    assert not matches('externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF"')
    assert not matches('id eq "2819C223-7F76-453A-919D-413861904646"')


def test_user_type_and_display_name_fold_case() -> None:
    """userType and displayName are caseExact=false in RFC 7643 §4.1.1."""
    assert matches('userType eq "ADMIN"')
    assert matches('displayName eq "ada LOVELACE"')


def test_unicode_is_compared_in_nfc() -> None:
    """scim2-models' default comparison key: NFC, then lower-case."""
    user = {"userName": "zoe", "name": {"givenName": "Zoe\u0301"}}  # decomposed é
    assert matches('name.givenName eq "ZO\u00c9"', user)
    assert comparison_key(USER.attribute("name.givenName"), "ZOE\u0301") == "zo\u00e9"  # type: ignore[arg-type]


# -- typed values ------------------------------------------------------------


def test_booleans_are_typed_and_entra_string_booleans_accepted() -> None:
    """MS-KI: Entra sends booleans as "True"/"False" strings, filters included."""
    assert matches("active eq true")
    assert matches('active eq "True"')
    assert not matches('active eq "false"')
    inactive = {**ADA, "active": False}
    assert matches("active eq false", inactive)


def test_date_times_compare_as_instants() -> None:
    """RFC 7643 §2.3.5: 20:31:02+02:00 is 18:31:02Z."""
    assert matches('meta.lastModified eq "2011-08-01T18:31:02Z"')
    assert matches('meta.lastModified gt "2011-08-01T18:31:01Z"')
    assert not matches('meta.lastModified gt "2011-08-01T18:31:02Z"')
    assert matches('meta.created lt "2011-08-01T18:29:49.794Z"')


def test_numbers_are_typed() -> None:
    # No built-in User attribute is numeric, so a custom schema carries one.
    from scim2_models import Extension
    from scim2_models import User

    from tomorro_scim.schemas import ResourceType

    class Seat(Extension):
        __schema__ = "urn:example:params:scim:schemas:extension:seat:2.0:User"  # type: ignore[assignment]
        floor: int | None = None

    rtype = ResourceType.from_model(User[Seat], name="SeatUser", endpoint="/SeatUsers")
    seated = {"userName": "x", Seat.__schema__: {"floor": 3}}
    predicate = compile_filter(f"{Seat.__schema__}:floor ge 3", rtype)
    assert predicate(seated)
    assert not compile_filter(f"{Seat.__schema__}:floor gt 3", rtype)(seated)
    with pytest.raises(InvalidFilter, match="not a valid integer"):
        compile_filter(f'{Seat.__schema__}:floor eq "3"', rtype)


def test_null_literal_matches_missing_values() -> None:
    assert matches("title eq null")
    assert not matches("userName eq null")
    assert matches("userName ne null")


# -- multi-valued and complex attributes ------------------------------------


def test_multi_valued_without_brackets_matches_any_value() -> None:
    """RFC 7644 §3.4.2.2: emails co "x" compares every email's value."""
    assert matches('emails co "example.org"')
    assert matches('emails.value ew "@contoso.com"')
    assert matches('emails.type eq "home"')
    assert not matches('emails.type eq "other"')


def test_complex_value_filter_needs_one_element_to_satisfy_all() -> None:
    """RFC 7644 §3.4.2.2 valuePath: both tests on the SAME email."""
    assert matches('emails[type eq "work" and value co "contoso"]')
    assert not matches('emails[type eq "home" and value co "contoso"]')


def test_entra_value_path_with_sub_attribute_comparison() -> None:
    """Entra matches on emails[type eq "work"].value eq "…" (MS-TUT "/Users")."""
    assert matches('emails[type eq "work"].value eq "ADA@contoso.com"')
    assert not matches('emails[type eq "home"].value eq "ada@contoso.com"')


def test_urn_qualified_extension_attributes() -> None:
    """RFC 7644 §3.10; Entra filters on urn:…:User:employeeNumber (MS-TUT)."""
    assert matches(f'{ENTERPRISE}:department eq "legal"')
    assert matches(f'{ENTERPRISE}:employeeNumber eq "701984"')
    assert matches(f'{ENTERPRISE.upper()}:DEPARTMENT eq "Legal"')
    assert matches(f"{ENTERPRISE}:manager.value pr")
    assert not matches(f'{ENTERPRISE}:department eq "Legal"', {"userName": "x"})


def test_core_urn_qualified_attribute() -> None:
    assert matches(
        'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ada@contoso.com"'
    )


def test_group_members_eq_is_a_membership_check() -> None:
    """Entra: GET /Groups?filter=id eq "g" and members eq "u" (MS-TUT; authentik#23211 gave 500)."""
    group = {
        "id": "g1",
        "displayName": "Sales",
        "members": [{"value": "u1"}, {"value": "u2"}],
    }
    assert matches('id eq "g1" and members eq "u2"', group, "Group")
    assert not matches('members eq "U2"', group, "Group")  # members.value is caseExact
    assert matches('members[value eq "u1"]', group, "Group")
    assert not matches('members eq "u1"', {"id": "g2", "displayName": "x"}, "Group")


def test_literal_formats_are_not_validated() -> None:
    """Deliberately unlike scim2-models, which refuses `emails eq "x.com"`: a value
    of the right type but the wrong format matches nothing instead of failing the
    IdP's whole matching query."""
    assert not matches('emails.value eq "not-an-address"')


def test_ne_on_multi_valued_means_no_value_equals() -> None:
    """scim2-models' reading of ne over several values (the RFC is silent)."""
    assert not matches('emails.type ne "work"')
    assert matches('emails.type ne "other"')


def test_deactivated_users_stay_findable() -> None:
    """MS-TUT, Okta devforum t/24187: active=false users are still returned by filters."""
    assert matches('userName eq "ada@contoso.com"', {**ADA, "active": False})


# -- what the IdPs send ------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        'userName eq "7d1c0b0e-4bb7-4c3c-9e68-1a4e1ef0bc3d"',  # Entra Test Connection
        'externalId eq "7d1c0b0e-4bb7-4c3c-9e68-1a4e1ef0bc3d"',  # OctopusDeploy/Issues#9841
        'emails[type eq "work"].value eq "nobody@contoso.com"',
        f'{ENTERPRISE}:employeeNumber eq "0"',
        'userName eq "NOBODY@X.COM"',  # Okta case-sensitivity check
    ],
)
def test_idp_probes_compile_and_match_nothing(expression: str) -> None:
    """IDP-DIALECTS rule 1: such probes must give an empty result, not an error."""
    assert not matches(expression)


def test_entra_group_probe() -> None:
    assert not matches('displayName eq "Sales"', {"displayName": "Marketing"}, "Group")
    assert matches('displayName eq "sales"', {"displayName": "Sales"}, "Group")


# -- invalid filters are 400 invalidFilter ------------------------------------


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        ('userName eq "x" and', "column"),
        ("userName eq jyoung", "column"),  # unquoted value: IDP-DIALECTS §2.5 [J]
        ('nickname eq "x" or', "column"),
        ('foo eq "x"', "'foo' is not an attribute of the User"),
        ('name.nope eq "x"', "'name.nope' is not an attribute"),
        ('urn:example:unknown:2.0:User:x eq "y"', "is not a schema of the User"),
        ("active gt true", "cannot order the boolean attribute 'active'"),
        ('active co "t"', "needs a string attribute"),
        ('name eq "Ada"', "'name' is a complex attribute"),
        ("userName eq 5", "not a valid string value"),
        ('active eq "yes"', "not a valid boolean value"),
        ('meta.created gt "yesterday"', "not a dateTime"),
        ('meta.created co "2011"', "needs a string attribute"),
        ('userName[value eq "x"]', "not multi-valued"),
        ('emails[nope eq "x"]', "no sub-attribute 'nope'"),
        ('password co "x"', "write-only"),
        ("", "empty"),
    ],
)
def test_invalid_filters_name_what_is_wrong(expression: str, detail: str) -> None:
    """RFC 7644 §3.4.2.2: unsupported combinations are 400 invalidFilter, never a widened result."""
    with pytest.raises(InvalidFilter) as raised:
        compile_filter(expression)
    error = raised.value
    assert detail in error.detail
    assert error.status == 400
    assert error.to_dict()["scimType"] == "invalidFilter"
    assert "Traceback" not in error.detail


def test_unknown_attribute_can_match_none_for_multi_type_searches() -> None:
    """RFC 7644 §3.4.2.1: a root search evaluates an undeclared attribute to false."""
    predicate = compile_filter(
        'members eq "u1" or userName pr', "User", unknown_attributes_match_none=True
    )
    assert predicate(ADA)
    assert not compile_filter(
        'members eq "u1"', "User", unknown_attributes_match_none=True
    )(ADA)


# -- limits --------------------------------------------------------------------


def test_length_limit() -> None:
    with pytest.raises(InvalidFilter, match="characters long; the limit is 20"):
        compile_filter(
            'userName eq "' + "x" * 30 + '"', limits=FilterLimits(max_length=20)
        )


def test_clause_limit() -> None:
    expression = " or ".join(f'userName eq "u{i}"' for i in range(11))
    with pytest.raises(InvalidFilter, match="11 comparisons; the limit is 10"):
        compile_filter(expression, limits=FilterLimits(max_clauses=10))


def test_depth_limit() -> None:
    expression = "not (" * 5 + "title pr" + ")" * 5
    with pytest.raises(InvalidFilter, match="the limit is 4"):
        compile_filter(expression, limits=FilterLimits(max_depth=4))
    assert compile_filter(expression, limits=FilterLimits(max_depth=5))(ADA)


@pytest.mark.parametrize(
    "expression",
    [
        "not (" * 20_000 + "title pr" + ")" * 20_000,
        " and ".join(["title pr"] * 20_000),
        '"' * 100_000,
        "emails[" * 10_000,
    ],
)
def test_hostile_filters_fail_cleanly(expression: str) -> None:
    """DESIGN rule 3: no input raises RecursionError, hangs, or escapes the error family."""
    with pytest.raises(InvalidFilter):
        compile_filter(expression, limits=FilterLimits(max_length=200_000))


def test_redundant_parentheses_do_not_nest() -> None:
    """Grouping leaves no node in the tree, so it costs no depth and no stack."""
    expression = "(" * 50_000 + "title pr" + ")" * 50_000
    assert not compile_filter(expression, limits=FilterLimits(max_length=200_000))(ADA)


# -- the compiled tree --------------------------------------------------------


def test_compiled_filter_keeps_the_syntax_tree() -> None:
    """The SQL backend translates the same tree the predicate was compiled from."""
    from scim2_models.path import Comparison

    compiled = compile_filter('userName eq "ada@contoso.com"')
    assert isinstance(compiled.ast, Comparison)
    assert compiled.resource_type is USER
    assert compiled.filter([ADA, {"userName": "bob"}]) == [ADA]


def test_compilation_is_cached() -> None:
    assert compile_filter('userName eq "x"') is compile_filter('userName eq "x"')
    assert compile_filter("displayName pr", "User") is not compile_filter(
        "displayName pr", "Group"
    )


def test_unknown_resource_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown resource type"):
        compile_filter("userName pr", "Device")


def test_value_filter_for_patch_paths() -> None:
    """PATCH paths like members[value eq "id"] test one element at a time."""
    members = GROUP.attribute("members")
    assert members is not None
    node = parse_filter('value eq "u1" or value eq "u3"')
    test = compile_value_filter(node, members)
    assert [
        m["value"]
        for m in [{"value": "u1"}, {"value": "u2"}, {"value": "u3"}]
        if test(m)
    ] == ["u1", "u3"]
    with pytest.raises(InvalidFilter, match="no sub-attribute"):
        compile_value_filter(parse_filter('nope eq "x"'), members)
