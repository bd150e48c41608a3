"""List and search parameters: projection, sorting, paging (RFC 7644 §3.4.2, §3.4.3, §3.9)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from scim2_models import Returned

from tomorro_scim.errors import InvalidFilter
from tomorro_scim.errors import InvalidSyntax
from tomorro_scim.errors import InvalidValue
from tomorro_scim.filter import DEFAULT_LIMITS
from tomorro_scim.filter import FilterLimits
from tomorro_scim.query import ListQuery
from tomorro_scim.query import Projection
from tomorro_scim.query import page_of
from tomorro_scim.query import parse_list_query
from tomorro_scim.query import parse_projection
from tomorro_scim.query import search_request_parameters
from tomorro_scim.query import sort_key
from tomorro_scim.schemas import GROUP
from tomorro_scim.schemas import USER

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def user() -> dict[str, Any]:
    return {
        "schemas": [CORE, ENTERPRISE],
        "id": "2819c223",
        "externalId": "ext-1",
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": "bjensen@work.example", "type": "work", "primary": True},
            {"value": "babs@home.example", "type": "home"},
        ],
        "password": "t1meMa$heen",
        "active": True,
        ENTERPRISE: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915", "displayName": "John Smith"},
        },
        "meta": {"resourceType": "User", "version": 'W/"3"'},
    }


def project(attributes: Any = None, excluded: Any = None) -> dict[str, Any]:
    return parse_projection(USER, attributes, excluded).apply(user(), USER)


def keys(document: dict[str, Any]) -> set[str]:
    return set(document)


# -- projection ------------------------------------------------------------


def test_default_projection_returns_everything_but_never_attributes() -> None:
    projection = parse_projection(USER, None, None)
    assert projection.is_default
    out = projection.apply(user(), USER)
    assert "password" not in out
    assert out == {k: v for k, v in user().items() if k != "password"}


def test_attributes_keep_id_and_schemas() -> None:
    """RFC 7644 §3.4.2.5: attributes overrides the default set; returned
    "always" (id) stays."""
    assert project("userName") == {
        "schemas": [CORE, ENTERPRISE],
        "id": "2819c223",
        "userName": "bjensen@example.com",
    }


def test_attributes_are_case_insensitive_and_comma_separated() -> None:
    out = project("USERNAME, name ,Active")
    assert keys(out) == {"schemas", "id", "userName", "name", "active"}


def test_attributes_as_a_list() -> None:
    """A SearchRequest body carries attributes as a JSON array (RFC 7644 §3.4.3)."""
    assert keys(project(["userName", "externalId"])) == {
        "schemas",
        "id",
        "userName",
        "externalId",
    }


def test_attributes_never_return_password() -> None:
    assert "password" not in project("password,userName")


def test_excluded_attributes_cannot_remove_id() -> None:
    out = project(None, "id,userName,emails")
    assert out["id"] == "2819c223"
    assert "userName" not in out
    assert "emails" not in out
    assert "name" in out


def test_sub_attribute_in_attributes_keeps_its_parent_narrowed() -> None:
    assert project("name.givenName")["name"] == {"givenName": "Barbara"}
    assert project("emails.value")["emails"] == [
        {"value": "bjensen@work.example"},
        {"value": "babs@home.example"},
    ]


def test_whole_attribute_wins_over_its_sub_attribute() -> None:
    assert project("name.givenName,name")["name"] == user()["name"]


def test_sub_attribute_in_excluded_attributes() -> None:
    out = project(None, "name.familyName,emails.primary")
    assert out["name"] == {"givenName": "Barbara"}
    assert out["emails"] == [
        {"value": "bjensen@work.example", "type": "work"},
        {"value": "babs@home.example", "type": "home"},
    ]


def test_value_filter_in_attributes_projects_the_attribute() -> None:
    """Microsoft's Postman collection asks for ``attributes=emails[type eq "work"]``."""
    out = project('emails[type eq "work"]')
    assert keys(out) == {"schemas", "id", "emails"}
    assert {"value": "bjensen@work.example", "type": "work", "primary": True} in out[
        "emails"
    ]
    assert keys(project('emails[type eq "work"].value')) == {"schemas", "id", "emails"}


def test_extension_urn_in_attributes_returns_the_whole_extension() -> None:
    out = project(ENTERPRISE)
    assert out == {
        "schemas": [CORE, ENTERPRISE],
        "id": "2819c223",
        ENTERPRISE: user()[ENTERPRISE],
    }


def test_extension_attribute_by_urn() -> None:
    assert project(f"{ENTERPRISE}:department")[ENTERPRISE] == {
        "department": "Tour Operations"
    }
    assert project(f"{ENTERPRISE}:manager.displayName")[ENTERPRISE] == {
        "manager": {"displayName": "John Smith"}
    }
    excluded = project(None, f"{ENTERPRISE}:department")[ENTERPRISE]
    assert "department" not in excluded
    assert excluded["employeeNumber"] == "701984"


def test_core_attribute_by_urn() -> None:
    assert keys(project(f"{CORE}:userName")) == {"schemas", "id", "userName"}


def test_unknown_attribute_names_are_ignored() -> None:
    """RFC 7644 §3.4.2.5 gives them no error; clients send one list everywhere."""
    assert keys(project("userName,members,nonsense")) == {"schemas", "id", "userName"}
    assert project(None, "nonsense") == project()


def test_projection_of_groups() -> None:
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g1",
        "displayName": "Tour Guides",
        "members": [{"value": "u1", "display": "Babs", "type": "User"}],
    }
    only_name = parse_projection(GROUP, "displayName", None)
    assert not only_name.returns("members", GROUP)
    assert only_name.apply(group, GROUP) == {
        "schemas": group["schemas"],
        "id": "g1",
        "displayName": "Tour Guides",
    }
    no_members = parse_projection(GROUP, None, "members")
    assert not no_members.returns("members", GROUP)
    assert parse_projection(GROUP, None, None).returns("members", GROUP)
    values = parse_projection(GROUP, "members.value", None)
    assert values.returns("members", GROUP)
    assert values.apply(group, GROUP)["members"] == [{"value": "u1"}]


def test_returned_characteristics() -> None:
    """RFC 7643 §2.4: always, never, default, and request (only when asked)."""
    always = USER.require("id")
    never = USER.require("password")
    default = USER.require("title")
    request_only = attrs.evolve(USER.require("nickName"), returned=Returned.request)
    plain = Projection()
    assert plain.includes(always)
    assert not plain.includes(never)
    assert plain.includes(default)
    assert not plain.includes(request_only)
    asked = Projection(attributes=(request_only, never))
    assert asked.includes(request_only)
    assert asked.includes(always)
    assert not asked.includes(never)
    assert not asked.includes(default)
    excluded = Projection(excluded=(always, default, request_only))
    assert excluded.includes(always)
    assert not excluded.includes(default)
    assert not excluded.includes(request_only)


def test_never_returned_sub_attributes_are_dropped() -> None:
    emails = USER.require("emails")
    value = emails.sub_attribute("value")
    assert value is not None
    hidden = attrs.evolve(value, returned=Returned.never)
    patched = attrs.evolve(
        emails, sub_attributes={**emails.sub_attributes, "value": hidden}
    )
    out = Projection()._narrow(patched, user()["emails"])
    assert out == [{"type": "work", "primary": True}, {"type": "home"}]


def test_apply_does_not_mutate_its_input() -> None:
    document = user()
    parse_projection(USER, "name.givenName", "emails").apply(document, USER)
    assert document == user()


# -- list parameters -------------------------------------------------------


def parse(**parameters: Any) -> ListQuery:
    return parse_list_query(
        USER,
        parameters,
        default_count=100,
        max_count=1000,
        filter_limits=DEFAULT_LIMITS,
    )


def test_defaults() -> None:
    query = parse()
    assert query.filter is None
    assert query.sort_by is None
    assert query.descending is False
    assert (query.start_index, query.count) == (1, 100)
    assert query.projection.is_default


def test_parameter_names_are_case_insensitive() -> None:
    query = parse(
        FILTER='userName eq "a"',
        SortBy="userName",
        SORTORDER="Descending",
        startindex="3",
        COUNT="7",
        Attributes="userName",
        EXCLUDEDATTRIBUTES="emails",
    )
    assert query.filter is not None
    assert query.filter({"userName": "A"})
    assert query.sort_by is USER.require("userName")
    assert query.descending is True
    assert (query.start_index, query.count) == (3, 7)
    assert query.projection.attributes == (USER.require("userName"),)
    assert query.projection.excluded == (USER.require("emails"),)


def test_empty_filter_is_no_filter() -> None:
    assert parse(filter="").filter is None


def test_invalid_filter_is_invalid_filter() -> None:
    with pytest.raises(InvalidFilter):
        parse(filter="userName eq")
    with pytest.raises(InvalidFilter):
        parse(filter=["userName"])


def test_filter_limits_apply() -> None:
    with pytest.raises(InvalidFilter):
        parse_list_query(
            USER,
            {"filter": 'userName eq "a" or userName eq "b"'},
            default_count=10,
            max_count=10,
            filter_limits=FilterLimits(max_clauses=1),
        )


@pytest.mark.parametrize(
    "sort_by", ["nonsense", "name", "meta", "userName extra", "emails[type eq 1]"]
)
def test_unsortable_sort_by_is_invalid_value(sort_by: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse(sortBy=sort_by)
    assert caught.value.status == 400
    assert caught.value.scim_type == "invalidValue"


def test_sort_by_non_string_is_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        parse(sortBy=["userName"])


@pytest.mark.parametrize("sort_by", ["name.familyName", "emails", "meta.lastModified"])
def test_sortable_sort_by(sort_by: str) -> None:
    assert parse(sortBy=sort_by).sort_by is USER.require(sort_by)


@pytest.mark.parametrize("order", ["up", "asc", "desc", "", 1])
def test_invalid_sort_order_is_invalid_value(order: Any) -> None:
    if order == "":
        assert parse(sortOrder=order).descending is False  # empty means default
        return
    with pytest.raises(InvalidValue):
        parse(sortOrder=order)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("startIndex", "abc"),
        ("startIndex", "1.5"),
        ("startIndex", True),
        ("startIndex", 2.0),
        ("count", "ten"),
        ("count", False),
        ("count", [10]),
    ],
)
def test_non_integer_paging_is_invalid_value(name: str, raw: Any) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse(**{name: raw})
    assert name in caught.value.detail


@pytest.mark.parametrize(
    ("parameters", "start", "count"),
    [
        ({"startIndex": "0"}, 1, 100),
        ({"startIndex": "-4"}, 1, 100),
        ({"startIndex": " 5 "}, 5, 100),
        ({"startIndex": 9}, 9, 100),
        ({"count": "0"}, 1, 0),
        ({"count": "-1"}, 1, 0),
        ({"count": "5000"}, 1, 1000),
        ({"count": 1000}, 1, 1000),
        ({"count": ""}, 1, 100),
    ],
)
def test_paging_is_clamped(parameters: dict[str, Any], start: int, count: int) -> None:
    """RFC 7644 §3.4.2.4: startIndex < 1 is 1, a negative count is 0, and the
    server may return fewer than asked (capped at the advertised maximum)."""
    query = parse(**parameters)
    assert (query.start_index, query.count) == (start, count)


# -- the SearchRequest body (POST /.search) ------------------------------------


def test_search_request_body() -> None:
    body = {
        "schemas": [SEARCH],
        "attributes": ["displayName", "userName"],
        "excludedAttributes": ["emails"],
        "filter": 'displayName sw "smith"',
        "startIndex": 1,
        "count": 10,
        "sortBy": "userName",
        "sortOrder": "descending",
    }
    parameters = search_request_parameters(body)
    assert "schemas" not in parameters
    query = parse(**parameters)
    assert query.filter is not None
    assert query.filter({"displayName": "Smithers"})
    assert (query.start_index, query.count, query.descending) == (1, 10, True)
    assert query.projection.attributes == (
        USER.require("displayName"),
        USER.require("userName"),
    )


def test_search_request_without_schemas_is_accepted() -> None:
    assert search_request_parameters({"count": 1}) == {"count": 1}


@pytest.mark.parametrize(
    "body",
    [
        [],
        "filter",
        None,
        {"schemas": "urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]},
    ],
)
def test_bad_search_request_is_invalid_syntax(body: Any) -> None:
    with pytest.raises(InvalidSyntax):
        search_request_parameters(body)


def test_search_request_count_must_be_an_integer() -> None:
    with pytest.raises(InvalidValue):
        parse(**search_request_parameters({"schemas": [SEARCH], "count": 1.5}))


# -- sorting and paging helpers ------------------------------------------------


def order(
    sort_by: str, documents: list[dict[str, Any]], *, reverse: bool = False
) -> list[str]:
    key = sort_key(USER.require(sort_by))
    return [d["id"] for d in sorted(documents, key=key, reverse=reverse)]


def test_sort_key_folds_case_and_puts_missing_values_last() -> None:
    documents = [
        {"id": "1", "userName": "carol"},
        {"id": "2"},
        {"id": "3", "userName": "Bob"},
        {"id": "4", "userName": "alice"},
        {"id": "5", "userName": None},
    ]
    assert order("userName", documents)[:3] == ["4", "3", "1"]
    assert set(order("userName", documents)[3:]) == {"2", "5"}
    descending = order("userName", documents, reverse=True)
    assert set(descending[:2]) == {"2", "5"}
    assert descending[2:] == ["1", "3", "4"]


def test_sort_key_compares_date_times_as_instants() -> None:
    documents = [
        {"id": "late", "meta": {"lastModified": "2024-03-01T12:00:00+01:00"}},
        {"id": "early", "meta": {"lastModified": "2024-03-01T10:00:00Z"}},
        {"id": "middle", "meta": {"lastModified": "2024-03-01T10:00:00.5Z"}},
        {"id": "none", "meta": {}},
        {"id": "garbage", "meta": {"lastModified": "yesterday"}},
    ]
    assert order("meta.lastModified", documents)[:3] == ["early", "middle", "late"]


def test_sort_key_uses_the_primary_value_of_a_multi_valued_attribute() -> None:
    documents = [
        {"id": "1", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": True}]},
        {"id": "2", "emails": [{"value": "m@x"}, {"value": "b@x"}]},
        {"id": "3", "emails": []},
    ]
    assert order("emails", documents) == ["1", "2", "3"]
    assert order("emails.value", documents) == ["1", "2", "3"]


def test_sort_key_ignores_values_of_the_wrong_type() -> None:
    documents = [{"id": "1", "userName": 5}, {"id": "2", "userName": "a"}]
    assert order("userName", documents) == ["2", "1"]
    booleans = [{"id": "1", "active": True}, {"id": "2", "active": False}, {"id": "3"}]
    assert order("active", booleans) == ["2", "1", "3"]


def test_page_of() -> None:
    items = list(range(1, 8))
    assert page_of(items, 1, 3) == [1, 2, 3]
    assert page_of(items, 7, 3) == [7]
    assert page_of(items, 8, 3) == []
    assert page_of(items, 1, 0) == []
    assert page_of(items, 0, 2) == [1, 2]
    assert page_of(items, 3, -1) == []
