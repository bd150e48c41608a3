"""ScimRequest, ScimResponse and the media types (RFC 7644 §3.1, IDP-DIALECTS §4.2)."""

from __future__ import annotations

import json

import pytest

from tomorro_scim.http import ACCEPTED_MEDIA_TYPES
from tomorro_scim.http import SCIM_MEDIA_TYPE
from tomorro_scim.http import ScimRequest
from tomorro_scim.http import ScimResponse
from tomorro_scim.http import json_response


def test_method_is_upper_cased() -> None:
    assert ScimRequest("patch", "/Users/1").method == "PATCH"


def test_header_names_are_folded() -> None:
    request = ScimRequest(
        "GET", "/Users", headers={"Authorization": "Bearer x", "X-Request-ID": "r1"}
    )
    assert request.headers == {"authorization": "Bearer x", "x-request-id": "r1"}
    assert request.header("AUTHORIZATION") == "Bearer x"
    assert request.header("x-request-id") == "r1"
    assert request.header("If-Match") is None
    assert request.header("If-Match", "*") == "*"


def test_base_url_loses_its_trailing_slash() -> None:
    request = ScimRequest("GET", "/Users", base_url="https://app.example.com/scim/v2/")
    assert request.base_url == "https://app.example.com/scim/v2"
    assert ScimRequest("GET", "/").base_url == ""


def test_defaults() -> None:
    request = ScimRequest("GET", "/Users")
    assert (request.query, request.body, request.declared_length) == ("", b"", 0)
    assert request.query_params() == {}


@pytest.mark.parametrize(
    "query",
    [
        # The Microsoft validator encodes spaces as '+', Okta as %20.
        'filter=userName+eq+"a%2Bb@example.com"',
        "filter=userName%20eq%20%22a%2Bb%40example.com%22",
    ],
)
def test_query_params_decode_both_space_encodings(query: str) -> None:
    params = ScimRequest("GET", "/Users", query=query).query_params()
    assert params == {"filter": 'userName eq "a+b@example.com"'}


def test_query_params_last_repeat_wins_and_blanks_are_kept() -> None:
    params = ScimRequest(
        "GET", "/Users", query="count=1&count=2&filter="
    ).query_params()
    assert params == {"count": "2", "filter": ""}


def test_response_header_lookup_is_case_insensitive() -> None:
    response = ScimResponse(200, (("ETag", 'W/"1"'), ("Content-Type", "x")))
    assert response.header("etag") == 'W/"1"'
    assert response.header("CONTENT-TYPE") == "x"
    assert response.header("Location") is None


def test_response_json() -> None:
    assert ScimResponse(204).json() is None
    assert ScimResponse(200, body=b'{"a":1}').json() == {"a": 1}


def test_json_response_is_scim_json_and_keeps_unicode() -> None:
    response = json_response(
        {"displayName": "Élodie 東京"}, 201, (("Location", "https://x/Users/1"),)
    )
    assert response.status == 201
    assert response.headers == (
        ("Content-Type", SCIM_MEDIA_TYPE),
        ("Location", "https://x/Users/1"),
    )
    assert "Élodie 東京".encode() in response.body
    assert b" " not in response.body.replace("Élodie 東京".encode(), b"")
    assert json.loads(response.body) == {"displayName": "Élodie 東京"}


def test_json_response_defaults_to_200() -> None:
    assert json_response([]).status == 200


def test_media_types() -> None:
    assert SCIM_MEDIA_TYPE == "application/scim+json"
    assert {"application/scim+json", "application/json", "text/json"} == set(
        ACCEPTED_MEDIA_TYPES
    )


def test_values_are_frozen() -> None:
    request = ScimRequest("GET", "/Users")
    with pytest.raises(AttributeError):
        request.path = "/Groups"  # type: ignore[misc]
