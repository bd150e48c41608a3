"""Resource bodies in and out: read_resource, etag/parse_etag and render."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from pydantic import EmailStr
from pydantic import TypeAdapter
from pydantic import ValidationError

from tomorro_scim.documents import IGNORED_SCHEMAS
from tomorro_scim.documents import etag
from tomorro_scim.documents import parse_etag
from tomorro_scim.documents import read_resource
from tomorro_scim.documents import render
from tomorro_scim.errors import InvalidSyntax
from tomorro_scim.errors import InvalidValue
from tomorro_scim.query import Projection
from tomorro_scim.query import parse_projection
from tomorro_scim.schemas import GROUP
from tomorro_scim.schemas import USER
from tomorro_scim.storage import MemberRef
from tomorro_scim.storage import StoredResource

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ADSCIM = "http://schemas.microsoft.com/2006/11/resourcemanagement/ADSCIM/2.0/Group"
BASE = "https://app.example.com/scim/v2"


def read_user(**attributes: Any) -> dict[str, Any]:
    body = {"schemas": [CORE], "userName": "bjensen@example.com", **attributes}
    return read_resource(body, USER)


# -- read_resource ---------------------------------------------------------


def test_canonical_form_of_an_entra_user() -> None:
    body = {
        "schemas": [CORE, ENTERPRISE],
        "externalId": "0a21f0f2",
        "userName": "Test_User_ab6490ee@testuser.com",
        "active": True,
        "displayName": "Test User",
        "emails": [{"primary": True, "type": "work", "value": "t@testuser.com"}],
        "name": {"familyName": "User", "givenName": "Test"},
        "userType": "admin",
        ENTERPRISE: {"department": "Sales"},
    }
    document = read_resource(body, USER)
    assert document == body


def test_attribute_names_are_canonicalised() -> None:
    document = read_resource(
        {"schemas": [CORE], "USERNAME": "a", "Name": {"GivenName": "A"}}, USER
    )
    assert document["userName"] == "a"
    assert document["name"] == {"givenName": "A"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("id", "client-chosen"),
        ("meta", {"created": "2020-01-01T00:00:00Z", "version": 'W/"9"'}),
        ("groups", [{"value": "g1"}]),
    ],
)
def test_read_only_attributes_are_ignored(name: str, value: Any) -> None:
    """RFC 7644 §3.3 / §3.5.1: read-only values a client sends are ignored."""
    document = read_user(**{name: value})
    assert name not in document


def test_password_is_discarded() -> None:
    """Okta sends one on create; RFC 7643 §4.1.1 forbids returning it."""
    document = read_user(password="t1meMa$heen")
    assert "password" not in document
    assert "t1meMa$heen" not in repr(document)


def test_unknown_attributes_are_ignored() -> None:
    """Microsoft's validator PUTs a misspelt attribute and expects 200."""
    assert "displayNmae" not in read_user(displayNmae="typo")


def test_adscim_group_schema_is_dropped() -> None:
    document = read_resource(
        {"schemas": [GROUP_URN, ADSCIM], "displayName": "Sales", "members": []},
        GROUP,
    )
    assert document["schemas"] == [GROUP_URN]
    assert ADSCIM.lower() in IGNORED_SCHEMAS


@pytest.mark.parametrize(
    "schemas",
    [
        [CORE, "urn:example:params:scim:schemas:extension:custom:2.0:User"],
        [GROUP_URN],
    ],
)
def test_unknown_or_wrong_schema_is_a_400(schemas: list[str]) -> None:
    with pytest.raises(InvalidValue) as caught:
        read_resource({"schemas": schemas, "userName": "a"}, USER)
    assert caught.value.status == 400


@pytest.mark.parametrize("schemas", [None, "urn", [1], [ENTERPRISE]])
def test_schemas_must_be_a_list_naming_the_core_schema(schemas: Any) -> None:
    body: dict[str, Any] = {"userName": "a"}
    if schemas is not None:
        body["schemas"] = schemas
    with pytest.raises(InvalidValue):
        read_resource(body, USER)


def test_schema_urns_are_matched_case_insensitively() -> None:
    document = read_resource(
        {
            "schemas": [CORE.upper(), ENTERPRISE.lower()],
            "userName": "a",
            ENTERPRISE: {"department": "x"},
        },
        USER,
    )
    assert document["schemas"] == [CORE, ENTERPRISE]


def test_extension_data_lists_its_schema() -> None:
    """RFC 7643 §3: ``schemas`` names every schema whose attributes are present."""
    document = read_resource(
        {"schemas": [CORE], "userName": "a", ENTERPRISE: {"department": "x"}}, USER
    )
    assert document[ENTERPRISE] == {"department": "x"}
    assert document["schemas"] == [CORE, ENTERPRISE]


def test_empty_extension_is_dropped() -> None:
    document = read_resource(
        {"schemas": [CORE, ENTERPRISE], "userName": "a", ENTERPRISE: {}}, USER
    )
    assert ENTERPRISE not in document
    assert document["schemas"] == [CORE]


@pytest.mark.parametrize(
    ("manager", "expected"),
    [
        ("26118915", {"value": "26118915"}),
        ({"value": "26118915"}, {"value": "26118915"}),
        ([{"value": "26118915"}], {"value": "26118915"}),
    ],
)
def test_manager_as_a_bare_string(manager: Any, expected: dict[str, Any]) -> None:
    """Entra sends the enterprise manager as a bare id (SCIM-SDK#686)."""
    document = read_resource(
        {
            "schemas": [CORE, ENTERPRISE],
            "userName": "a",
            ENTERPRISE: {"manager": manager},
        },
        USER,
    )
    assert document[ENTERPRISE]["manager"] == expected


def test_empty_manager_string_clears_the_manager() -> None:
    document = read_resource(
        {"schemas": [CORE, ENTERPRISE], "userName": "a", ENTERPRISE: {"manager": ""}},
        USER,
    )
    assert "manager" not in document.get(ENTERPRISE, {})


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("True", True), ("true", True), ("False", False), ("false", False), (True, True)],
)
def test_active_as_a_string(sent: Any, stored: bool) -> None:
    """Microsoft's Postman collection POSTs ``"active": "True"`` and wants ``true``."""
    assert read_user(active=sent)["active"] is stored


def test_invalid_email_is_invalid_value_naming_the_attribute() -> None:
    with pytest.raises(InvalidValue) as caught:
        read_user(emails=[{"value": "not-an-email", "type": "work"}])
    assert caught.value.scim_type == "invalidValue"
    assert "emails" in caught.value.detail


def test_wrong_type_is_invalid_value() -> None:
    with pytest.raises(InvalidValue) as caught:
        read_user(name="Barbara")
    assert "name" in caught.value.detail


def test_many_errors_are_summarised() -> None:
    with pytest.raises(InvalidValue) as caught:
        read_user(name=1, emails=2, phoneNumbers=3, addresses=4, photos=5)
    assert "more" in caught.value.detail


@pytest.mark.parametrize("body", [[], "user", None, 3])
def test_body_must_be_an_object(body: Any) -> None:
    with pytest.raises(InvalidSyntax):
        read_resource(body, USER)


def test_input_body_is_not_mutated() -> None:
    body = {"schemas": [CORE], "userName": "a", "id": "x", "password": "p"}
    read_resource(dict(body), USER)
    original = dict(body)
    read_resource(body, USER)
    assert body == original


# -- ETags -------------------------------------------------------------------


def test_etag_is_weak_and_quoted() -> None:
    assert etag(3) == 'W/"3"'


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        (None, []),
        ("", []),
        ('W/"3"', ["3"]),
        ('"3"', ["3"]),
        ("3", ["3"]),
        ('W/"3", "4" ,*', ["3", "4", "*"]),
        ("*", ["*"]),
    ],
)
def test_parse_etag(header: str | None, tags: list[str]) -> None:
    assert parse_etag(header) == tags


def test_etag_round_trips() -> None:
    assert parse_etag(etag(42)) == ["42"]


# -- render ----------------------------------------------------------------


def stored_user(**document: Any) -> StoredResource:
    return StoredResource(
        id="u1",
        resource_type="User",
        document={
            "schemas": [CORE],
            "id": "u1",
            "userName": "bjensen",
            "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z"},
            **document,
        },
        version=3,
    )


def test_render_adds_location_and_version_and_puts_id_first_meta_last() -> None:
    out = render(stored_user(), USER, BASE, Projection())
    assert next(iter(out)) == "id"
    assert list(out)[-1] == "meta"
    assert out["meta"] == {
        "resourceType": "User",
        "created": "2024-01-01T00:00:00Z",
        "location": f"{BASE}/Users/u1",
        "version": 'W/"3"',
    }


def test_render_does_not_touch_the_stored_document() -> None:
    stored = stored_user()
    before = repr(stored.document)
    render(stored, USER, BASE, Projection(), groups=[])
    assert repr(stored.document) == before


def test_render_without_meta() -> None:
    stored = StoredResource("u1", "User", {"schemas": [CORE], "userName": "a"}, 1)
    assert render(stored, USER, "", Projection())["meta"] == {
        "resourceType": "User",
        "location": "/Users/u1",
        "version": 'W/"1"',
    }


def test_render_groups_of_a_user() -> None:
    group = StoredResource("g1", "Group", {"displayName": "Tour Guides"}, 1)
    out = render(stored_user(), USER, BASE, Projection(), groups=[group])
    assert out["groups"] == [
        {
            "value": "g1",
            "$ref": f"{BASE}/Groups/g1",
            "display": "Tour Guides",
            "type": "direct",
        }
    ]


def test_render_members_with_display_and_ref() -> None:
    group = StoredResource(
        "g1",
        "Group",
        {"schemas": [GROUP_URN], "displayName": "G", "members": [{"value": "stale"}]},
        2,
    )
    out = render(
        group,
        GROUP,
        BASE,
        Projection(),
        members=[MemberRef("u1", "Babs"), MemberRef("u2")],
    )
    assert out["members"] == [
        {"value": "u1", "$ref": f"{BASE}/Users/u1", "type": "User", "display": "Babs"},
        {"value": "u2", "$ref": f"{BASE}/Users/u2", "type": "User"},
    ]
    # Without a member list, members loaded by the storage are not shown raw.
    assert "members" not in render(group, GROUP, BASE, Projection())


def test_render_applies_the_projection() -> None:
    out = render(
        stored_user(title="CEO"),
        USER,
        BASE,
        parse_projection(USER, "userName", None),
    )
    assert out == {"id": "u1", "schemas": [CORE], "userName": "bjensen"}
    excluded = render(
        stored_user(title="CEO"), USER, BASE, parse_projection(USER, None, "title")
    )
    assert "title" not in excluded
    assert excluded["meta"]["version"] == 'W/"3"'


def test_values_are_stored_exactly_as_sent() -> None:
    """MS-TUT "General": a value must come back as it was sent, or Entra
    re-sends it every cycle (MicrosoftDocs/azure-docs#11784). scim2-models'
    dump lower-cases an email's domain; the stored form keeps the client's."""
    document = read_resource(
        {
            "schemas": [USER.schema],
            "userName": "Ada@CONTOSO.com",
            "userType": "Admin",
            "emails": [{"value": "Ada@CONTOSO.COM", "type": "work", "primary": True}],
            "name": {"givenName": "Ada", "familyName": None},
            "roles": [],
        },
        USER,
    )
    assert document["emails"] == [
        {"value": "Ada@CONTOSO.COM", "type": "work", "primary": True}
    ]
    assert document["userName"] == "Ada@CONTOSO.com"
    assert document["userType"] == "Admin"
    assert document["name"] == {"givenName": "Ada"}
    assert "roles" not in document


def test_format_checks_still_apply() -> None:
    """The body is still validated by scim2-models before it is stored."""
    with pytest.raises(InvalidValue, match="emails"):
        read_resource(
            {"schemas": [USER.schema], "userName": "x", "emails": [{"value": "nope"}]},
            USER,
        )


# -- email addresses: the short check for plain ones ------------------------

_ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
_AWKWARD = ' "(),:;<>@[\\]\t\n\x00\u00e9\uff20.'


def _label() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text("abz09-AZ", min_size=1, max_size=6),
        st.sampled_from(["xn--bcher-kva", "ab--cd", "a" * 63, "a" * 64, "123", "-a"]),
    )


_DOMAINS = st.one_of(
    st.lists(_label(), min_size=1, max_size=4).map(".".join),
    st.sampled_from(
        [
            "example.com",
            "contoso.onmicrosoft.com",
            "b.test",
            "x.local",
            "localhost",
            "a.arpa",
            "onion",
            "x.invalid",
            "b.c1",
            "b.",
            ".b.com",
            "b..com",
            "bücher.de",
            "[127.0.0.1]",
            ".".join(["a" * 63] * 4),
        ]
    ),
)
_LOCALS = st.one_of(
    st.text(_ATEXT + ".", min_size=0, max_size=12),
    st.text(_ATEXT + _AWKWARD, min_size=1, max_size=8),
    st.sampled_from(["a" * 64, "a" * 65, '"quoted"', "Zoé", "a.b", ".a", "a."]),
)
EMAILS = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", _LOCALS, _DOMAINS),
    st.text(_ATEXT + _AWKWARD, max_size=20),
)


def _email_validator_accepts(address: str) -> bool:
    """The verdict of pydantic's ``EmailStr``, which scim2-models' Email.value is."""
    try:
        TypeAdapter(EmailStr).validate_python(address)
    except ValidationError:
        return False
    return True


@settings(max_examples=600, deadline=None)
@given(EMAILS)
def test_an_email_is_refused_exactly_when_email_validator_refuses_it(
    address: str,
) -> None:
    """RFC 7643 §2.3 leaves the format to the schema; scim2-models types
    ``emails.value`` as pydantic's ``EmailStr`` (email-validator). Plain
    addresses skip it for a short check of their own, which must never accept
    what it refuses, nor refuse what it accepts."""
    body = {"emails": [{"value": address, "type": "work"}]}
    if _email_validator_accepts(address):
        assert read_user(**body)["emails"] == [{"value": address, "type": "work"}]
    else:
        with pytest.raises(InvalidValue, match="emails"):
            read_user(**body)


@pytest.mark.parametrize(
    "address",
    [
        "bjensen@example.com",
        "Test_User_ab6490ee@testuser.com",
        "first.o'brien+tag@sub.contoso.onmicrosoft.com",
        "a@b.co",
    ],
)
def test_plain_addresses_are_not_checked_twice(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ~20 µs of email-validator per address is what made POST the
    slowest request; a plain address no longer reaches it."""
    import email_validator

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("email-validator was called")

    monkeypatch.setattr(email_validator, "validate_email", refuse)
    stored = read_user(emails=[{"value": address, "primary": True}])
    assert stored["emails"] == [{"value": address, "primary": True}]


@pytest.mark.parametrize(
    "address", ["josé@example.com", "ann@bücher.de", "a@xn--bcher-kva.de"]
)
def test_other_addresses_still_go_through_email_validator(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import email_validator

    calls: list[str] = []
    real = email_validator.validate_email

    def spy(value: str, /, **kwargs: Any) -> Any:
        calls.append(value)
        return real(value, **kwargs)

    monkeypatch.setattr(email_validator, "validate_email", spy)
    read_user(emails=[{"value": address}])
    assert calls == [address]


def test_special_use_domains_added_by_the_host_app_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """email-validator's list of special-use domains is read on every check,
    so an app that extends it gets the same answer on both paths."""
    import email_validator

    monkeypatch.setattr(
        email_validator,
        "SPECIAL_USE_DOMAIN_NAMES",
        [*email_validator.SPECIAL_USE_DOMAIN_NAMES, "internal"],
    )
    with pytest.raises(InvalidValue, match="emails"):
        read_user(emails=[{"value": "ann@corp.internal"}])


def test_email_keys_are_matched_case_insensitively() -> None:
    """A plain address under ``Emails``/``VALUE`` is checked like any other,
    and an invalid one there is still refused."""
    stored = read_user(Emails=[{"VALUE": "ann@example.com", "Type": "work"}])
    assert stored["emails"] == [{"value": "ann@example.com", "type": "work"}]
    with pytest.raises(InvalidValue, match="emails"):
        read_user(Emails=[{"VALUE": "ann@example..com"}])


def test_the_rest_of_an_email_is_still_validated() -> None:
    """Setting the checked address aside leaves the model checking the rest."""
    with pytest.raises(InvalidValue, match="emails"):
        read_user(emails=[{"value": "ann@example.com", "primary": "often"}])
    with pytest.raises(InvalidValue, match="emails"):
        read_user(emails=[{"value": "ann@example.com", "display": ["x"]}])
