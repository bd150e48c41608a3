"""Nothing a client sends produces a 500 (DESIGN rule 3), fuzzed end to end.

Hypothesis sends arbitrary JSON bodies, PATCH operations and query strings to
every write and list endpoint through ScimService.handle; every answer must be
a SCIM response below 500, with a SCIM Error body when it is an error.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tomorro_scim import MemoryStorage
from tomorro_scim import ScimService
from tomorro_scim import TokenManager
from tomorro_scim.http import ScimRequest

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
NAMES = st.sampled_from(
    [
        "userName",
        "UserName",
        "name",
        "name.givenName",
        "emails",
        "active",
        "members",
        "displayName",
        "userType",
        "externalId",
        "id",
        "meta",
        "schemas",
        "groups",
        "password",
        ENTERPRISE,
        f"{ENTERPRISE}:manager",
        'emails[type eq "work"].value',
        'members[value eq "x"]',
        "x",
        "",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["True", "False", "a@b.c", "urn:x", "\x00", "\ud800"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(NAMES | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
OPERATIONS = st.lists(
    st.fixed_dictionaries(
        {"op": st.sampled_from(["add", "Replace", "remove", "move", 5, None])},
        optional={"path": NAMES | st.text(max_size=20), "value": JSON},
    ),
    max_size=4,
)
PATCH_BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"schemas": st.just(["urn:ietf:params:scim:api:messages:2.0:PatchOp"])},
        optional={"Operations": OPERATIONS | JSON},
    ),
)
SCHEMAS_OF_KIND = ["<the endpoint's own schemas>"]
"""A marker the tests replace with the schemas of the endpoint they post to."""
VALID_BASE = st.fixed_dictionaries(
    {
        "schemas": st.just(SCHEMAS_OF_KIND),
        "userName": st.text(min_size=1, max_size=10),
        "displayName": st.text(min_size=1, max_size=10),
    }
)
RESOURCE_BODIES = st.one_of(
    JSON,
    st.tuples(VALID_BASE, st.dictionaries(NAMES, JSON, max_size=3)).map(
        lambda pair: {**pair[0], **pair[1], "schemas": SCHEMAS_OF_KIND}
    ),
    st.dictionaries(NAMES, JSON, max_size=6).map(
        lambda body: {"schemas": SCHEMAS_OF_KIND, **body}
    ),
)
CORE = {
    "Users": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
    "Groups": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
}
QUERIES = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "filter",
                "sortBy",
                "sortOrder",
                "startIndex",
                "count",
                "attributes",
                "excludedAttributes",
                "cursor",
                "x",
            ]
        ),
        st.text(max_size=30),
    ),
    max_size=4,
).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))


class Harness:
    def __init__(self) -> None:
        self.storage = MemoryStorage()
        self.token = TokenManager(self.storage).issue("t").token
        self.service = ScimService(self.storage)
        self.user_id = self.call(
            "POST",
            "/Users",
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "u",
            },
        )["id"]
        self.group_id = self.call(
            "POST",
            "/Groups",
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "g",
            },
        )["id"]

    def call(self, method: str, path: str, body: Any = None, query: str = "") -> Any:
        raw = b"" if body is None else json.dumps(body).encode()
        response = self.service.handle(
            ScimRequest(
                method,
                path,
                query,
                {"authorization": f"Bearer {self.token}"},
                raw,
                "https://h/scim/v2",
            )
        )
        assert response.status < 500, (method, path, body, query, response.body)
        assert response.header("content-type") == "application/scim+json" or (
            response.status in (204, 304)
        )
        payload = response.json()
        if response.status >= 400:
            assert payload["status"] == str(response.status)
            assert payload["detail"]
        return payload


HARNESS = Harness()
FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(body=RESOURCE_BODIES, kind=st.sampled_from(["Users", "Groups"]))
def test_any_post_or_put_body(body: Any, kind: str) -> None:
    if isinstance(body, dict) and body.get("schemas") is SCHEMAS_OF_KIND:
        body = {**body, "schemas": CORE[kind]}
    HARNESS.call("POST", f"/{kind}", body)
    target = HARNESS.user_id if kind == "Users" else HARNESS.group_id
    HARNESS.call("PUT", f"/{kind}/{target}", body)


@FUZZ
@given(body=PATCH_BODIES, kind=st.sampled_from(["Users", "Groups"]))
def test_any_patch_body(body: Any, kind: str) -> None:
    target = HARNESS.user_id if kind == "Users" else HARNESS.group_id
    HARNESS.call("PATCH", f"/{kind}/{target}", body)


@FUZZ
@given(query=QUERIES, kind=st.sampled_from(["Users", "Groups"]))
def test_any_list_query(query: str, kind: str) -> None:
    HARNESS.call("GET", f"/{kind}", query=query)
    HARNESS.call(
        "POST",
        f"/{kind}/.search",
        dict(pair.split("=", 1) for pair in query.split("&") if "=" in pair),
    )


@FUZZ
@given(raw=st.binary(max_size=200), kind=st.sampled_from(["Users", "Groups"]))
def test_any_raw_bytes(raw: bytes, kind: str) -> None:
    response = HARNESS.service.handle(
        ScimRequest(
            "POST",
            f"/{kind}",
            "",
            {"authorization": f"Bearer {HARNESS.token}"},
            raw,
            "https://h/scim/v2",
        )
    )
    assert 400 <= response.status < 500 or response.status == 201


BULK_REFERENCES = st.sampled_from(["bulkId:a", "bulkId:b", "BULKID:c", "bulkId:", "x"])
BULK_DATA = st.one_of(
    RESOURCE_BODIES,
    PATCH_BODIES,
    st.fixed_dictionaries(
        {
            "schemas": st.just(SCHEMAS_OF_KIND),
            "userName": st.text(min_size=1, max_size=6) | BULK_REFERENCES,
            "displayName": st.text(min_size=1, max_size=6),
        },
        optional={
            "members": st.lists(st.fixed_dictionaries({"value": BULK_REFERENCES})),
            ENTERPRISE: st.fixed_dictionaries(
                {"manager": BULK_REFERENCES | st.fixed_dictionaries({"value": JSON})}
            ),
        },
    ),
    st.fixed_dictionaries(
        {
            "Operations": st.lists(
                st.fixed_dictionaries(
                    {
                        "op": st.sampled_from(["add", "remove"]),
                        "path": st.sampled_from(
                            ["members", 'members[value eq "bulkId:a"]', "x"]
                        ),
                        "value": st.lists(
                            st.fixed_dictionaries({"value": BULK_REFERENCES})
                        ),
                    }
                ),
                max_size=3,
            )
        }
    ),
)
ANY_PATH = st.sampled_from(
    [
        "/Users/bulkId:a",
        "/Groups/bulkId:b",
        "/Users/bulkId:zz",
        "/Users/<user>",
        "/Groups/<group>",
        "/Users/x",
    ]
)
BULK_OPERATIONS = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "method": st.sampled_from(["POST", "post"]),
                "path": st.sampled_from(["/Users", "/Groups"]),
                "bulkId": st.sampled_from(["a", "b", "c"]),
                "data": BULK_DATA,
            }
        ),
        st.fixed_dictionaries(
            {
                "method": st.sampled_from(["PUT", "PATCH", "DELETE", "delete"]),
                "path": ANY_PATH,
                "data": BULK_DATA,
            },
            optional={"version": st.sampled_from(['W/"1"', "*", 'W/"99"'])},
        ),
        st.fixed_dictionaries(
            {},
            optional={
                "method": st.sampled_from(["POST", "PATCH", "GET", 3]),
                "path": ANY_PATH | st.sampled_from(["/Bulk", "/Users/x/y", ""]) | JSON,
                "bulkId": st.sampled_from(["a", ""]) | JSON,
                "version": JSON,
                "data": BULK_DATA | JSON,
            },
        ),
        JSON,
    ),
    max_size=6,
)


def _concrete(value: Any, kind: str = "Users") -> Any:
    """The fuzzed value with the harness's real ids and schemas put in."""
    if value is SCHEMAS_OF_KIND:
        return CORE[kind]
    if isinstance(value, str):
        return value.replace("<user>", HARNESS.user_id).replace(
            "<group>", HARNESS.group_id
        )
    if isinstance(value, list):
        return [_concrete(v, kind) for v in value]
    if isinstance(value, dict):
        path = value.get("path")
        if isinstance(path, str) and "Groups" in path:
            kind = "Groups"
        return {k: _concrete(v, kind) for k, v in value.items()}
    return value


@FUZZ
@given(
    operations=st.one_of(BULK_OPERATIONS, BULK_OPERATIONS, BULK_OPERATIONS, JSON),
    fail_on_errors=st.one_of(st.none(), st.none(), st.integers(1, 3), JSON),
    envelope=st.sampled_from([True, True, True, False]),
)
def test_any_bulk_request(operations: Any, fail_on_errors: Any, envelope: bool) -> None:
    """RFC 7644 §3.7: no bulk request, well formed or not, produces a 500."""
    body: Any = _concrete(operations)
    if envelope:
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": body,
        }
        if fail_on_errors is not None:
            body["failOnErrors"] = fail_on_errors
    answer = HARNESS.call("POST", "/Bulk", body)
    if answer.get("schemas") == ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]:
        for entry in answer["Operations"]:
            assert int(entry["status"]) < 500, entry
            assert ("response" in entry) == (int(entry["status"]) >= 400), entry
