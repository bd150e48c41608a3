"""The SQL backend against the memory backend, on generated data and queries.

Hypothesis generates users (mixed case, NFC and NFD spellings, LIKE
wildcards, missing values, several emails, timestamps with offsets and
fractions), groups with members, and filters from a small grammar over
attributes that have columns and attributes that do not; then sorts and
pages. The SQL backend, on SQLite and on PostgreSQL, must return exactly the
ids, in the same order, and the same ``totalResults`` as the memory backend,
which is the reference. Each example writes to a tenant of its own.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from test_storage_sql import each_sql_backend
from tomorro_scim.errors import InvalidFilter
from tomorro_scim.errors import Uniqueness
from tomorro_scim.filter import compile_filter
from tomorro_scim.schemas import GROUP as GROUP_SCHEMA
from tomorro_scim.schemas import USER as USER_SCHEMA
from tomorro_scim.storage import GROUP
from tomorro_scim.storage import USER
from tomorro_scim.storage import SearchQuery
from tomorro_scim.storage import Storage
from tomorro_scim.storage.memory import MemoryStorage
from tomorro_scim.testing import group_document
from tomorro_scim.testing import user_document

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

WORDS = [
    "ada",
    "Ada",
    "ADA",
    "adam",
    "zoé",
    "zoe\u0301",
    "ZOÉ",
    "élodie",
    "a%b",
    "a_b",
    "axb",
    "x\\y",
    "O'Brien",
    'say "hi"',
    "",
    "b",
    "@x.com",
    "ada@x.com",
    "Bob@X.COM",
    "work",
    "home",
    "Work",
    "\U0001f600",
]
INSTANTS = [
    "2024-03-01T10:00:00Z",
    "2024-03-01T11:00:00+01:00",
    "2024-03-01T10:00:00.250Z",
    "2024-03-01T10:00:00.5+00:00",
    "2023-12-31T23:59:59Z",
    "2024-03-01T10:00:00",
]

words = st.sampled_from(WORDS)
maybe = st.none() | st.just("missing")


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value != "missing":
        target[key] = value


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    _put(attributes, "displayName", draw(words | maybe))
    _put(attributes, "externalId", draw(words | maybe))
    _put(attributes, "userType", draw(st.sampled_from(["admin", "User", "x"]) | maybe))
    _put(attributes, "active", draw(st.booleans() | maybe))
    _put(attributes, "title", draw(words | maybe))
    name: dict[str, Any] = {}
    _put(name, "givenName", draw(words | maybe))
    _put(name, "familyName", draw(words | maybe))
    if name or draw(st.booleans()):
        attributes["name"] = name
    if draw(st.booleans()):
        attributes["emails"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "value": words,
                        "type": st.sampled_from(["work", "home", "Work"]),
                        "primary": st.booleans(),
                    },
                ),
                max_size=3,
            )
        )
    if draw(st.booleans()):
        attributes[ENTERPRISE] = {"department": draw(words)}
    attributes["meta"] = {
        "lastModified": draw(st.sampled_from(INSTANTS) | st.none()),
        "created": draw(st.sampled_from(INSTANTS)),
    }
    attributes["userName"] = draw(words.filter(bool))
    return attributes


def _literal(draw: st.DrawFn, kind: str) -> str:
    if kind == "boolean":
        return draw(st.sampled_from(["true", "false", '"True"', "null"]))
    if kind == "dateTime":
        return json.dumps(draw(st.sampled_from(INSTANTS)))
    return draw(st.sampled_from([json.dumps(w) for w in WORDS] + ["null"]))


USER_PATHS = {
    "userName": "string",
    "displayName": "string",
    "externalId": "string",
    "userType": "string",
    "title": "string",
    "nickName": "string",
    "name.givenName": "string",
    "name.familyName": "string",
    "name.formatted": "string",
    "emails": "string",
    "emails.value": "string",
    "emails.type": "string",
    "emails.primary": "boolean",
    "active": "boolean",
    "meta.lastModified": "dateTime",
    "meta.created": "dateTime",
    f"{ENTERPRISE}:department": "string",
}
GROUP_PATHS = {
    "displayName": "string",
    "externalId": "string",
    "members": "string",
    "members.value": "string",
    "members.display": "string",
    "meta.lastModified": "dateTime",
}
OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"]


@st.composite
def comparisons(
    draw: st.DrawFn, paths: dict[str, str], ids: list[str] | None = None
) -> str:
    path = draw(st.sampled_from(sorted(paths)))
    op = draw(st.sampled_from(OPS))
    if op == "pr":
        return f"{path} pr"
    kind = paths[path]
    if path.startswith("members") and ids and draw(st.booleans()):
        return f"{path} {op} {json.dumps(draw(st.sampled_from(ids)))}"
    return f"{path} {op} {_literal(draw, kind)}"


@st.composite
def filters(
    draw: st.DrawFn, paths: dict[str, str], ids: list[str] | None = None, depth: int = 0
) -> str:
    choice = draw(st.integers(0, 5 if depth < 2 else 0))
    if choice <= 1:
        return draw(comparisons(paths, ids))
    if choice == 2:
        return f"not ({draw(filters(paths, ids, depth + 1))})"
    if choice == 3 and paths is USER_PATHS:
        inner = draw(
            st.sampled_from(
                [
                    'type eq "work"',
                    'type eq "WORK" and value co "x"',
                    "primary eq true",
                    'not (value ew ".com")',
                    "value pr",
                    "display pr",
                    'value eq null or type ne "home"',
                ]
            )
        )
        return f"emails[{inner}]"
    if choice == 3 and ids:
        return f"members[value eq {json.dumps(draw(st.sampled_from(ids)))}]"
    joiner = draw(st.sampled_from(["and", "or"]))
    left = draw(filters(paths, ids, depth + 1))
    right = draw(filters(paths, ids, depth + 1))
    return f"({left}) {joiner} ({right})"


USER_SORTS = [
    None,
    "userName",
    "displayName",
    "externalId",
    "active",
    "title",
    "emails",
    "emails.type",
    "name.familyName",
    "meta.lastModified",
    "id",
]
GROUP_SORTS = [None, "displayName", "externalId", "meta.lastModified", "members"]


@st.composite
def queries(
    draw: st.DrawFn, paths: dict[str, str], sorts: list[str | None], ids: list[str]
) -> dict[str, Any]:
    return {
        "filter": draw(st.none() | filters(paths, ids)),
        "sort_by": draw(st.sampled_from(sorts)),
        "descending": draw(st.booleans()),
        "start_index": draw(st.integers(1, 8)),
        "count": draw(st.integers(0, 8)),
    }


# -- storages ---------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sql(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Storage]:
    yield from each_sql_backend(request.param, tmp_path_factory)


def _populate(
    storages: list[Storage], tenant: str, people: list[dict[str, Any]], seed: int
) -> list[str]:
    """Create the same users in every storage; returns the ids created."""
    ids: list[str] = []
    for index, attributes in enumerate(people):
        attributes = json.loads(json.dumps(attributes))
        user_name = attributes.pop("userName")
        document = user_document(
            user_name, id=str(uuid.UUID(int=seed * 1000 + index)), **attributes
        )
        outcomes = set()
        for storage in storages:
            try:
                with storage.session(tenant) as session:
                    session.create(USER, json.loads(json.dumps(document)))
                outcomes.add("created")
            except Uniqueness:
                outcomes.add("taken")
        assert len(outcomes) == 1, f"the backends disagree on {user_name!r}"
        if outcomes == {"created"}:
            ids.append(document["id"])
    return ids


def _run(storage: Storage, tenant: str, resource_type: str, q: dict[str, Any]) -> Any:
    schema = USER_SCHEMA if resource_type == USER else GROUP_SCHEMA
    query = SearchQuery(
        filter=compile_filter(q["filter"], resource_type) if q["filter"] else None,
        sort_by=schema.require(q["sort_by"]) if q["sort_by"] else None,
        descending=q["descending"],
        start_index=q["start_index"],
        count=q["count"],
        include_members=q.get("include_members", True),
    )
    with storage.session(tenant) as session:
        result = session.search(resource_type, query)
    return result.total, [(r.id, r.version, r.document) for r in result.resources]


def _compiles(text: str | None, resource_type: str) -> bool:
    if text is None:
        return True
    try:
        compile_filter(text, resource_type)
    except InvalidFilter:
        return False
    return True


SETTINGS = settings(
    # TOMORRO_SCIM_DIFFERENTIAL_EXAMPLES=2000 for a longer hunt.
    max_examples=int(os.environ.get("TOMORRO_SCIM_DIFFERENTIAL_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@SETTINGS
@given(people=st.lists(users(), min_size=0, max_size=12), data=st.data())
def test_user_searches_agree_with_memory(
    sql: Storage, people: list[dict[str, Any]], data: st.DataObject
) -> None:
    tenant = f"diff-{uuid.uuid4().hex}"
    memory = MemoryStorage()
    ids = _populate([memory, sql], tenant, people, seed=1)
    for _ in range(6):
        q = data.draw(queries(USER_PATHS, USER_SORTS, ids))
        if not _compiles(q["filter"], USER):
            continue
        assert _run(sql, tenant, USER, q) == _run(memory, tenant, USER, q), q


@SETTINGS
@given(
    people=st.lists(users(), min_size=1, max_size=6),
    names=st.lists(words.filter(bool), min_size=1, max_size=5),
    data=st.data(),
)
def test_group_searches_agree_with_memory(
    sql: Storage, people: list[dict[str, Any]], names: list[str], data: st.DataObject
) -> None:
    tenant = f"diff-{uuid.uuid4().hex}"
    memory = MemoryStorage()
    ids = _populate([memory, sql], tenant, people, seed=2)
    for index, name in enumerate(names):
        document = group_document(
            name,
            id=str(uuid.UUID(int=3000 + index)),
            externalId=data.draw(words),
            meta={"lastModified": data.draw(st.sampled_from(INSTANTS))},
        )
        picked = data.draw(st.lists(st.sampled_from(ids), unique=True)) if ids else []
        outcomes = set()
        for storage in (memory, sql):
            try:
                with storage.session(tenant) as session:
                    session.create(GROUP, json.loads(json.dumps(document)))
                    session.add_members(document["id"], picked)
                outcomes.add("created")
            except Uniqueness:
                outcomes.add("taken")
        assert len(outcomes) == 1
    for _ in range(6):
        q = data.draw(queries(GROUP_PATHS, GROUP_SORTS, ids))
        q["include_members"] = data.draw(st.booleans())
        if not _compiles(q["filter"], GROUP):
            continue
        assert _run(sql, tenant, GROUP, q) == _run(memory, tenant, GROUP, q), q
