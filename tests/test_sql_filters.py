"""Filter translation: what runs in SQL, bound parameters only, hostile values.

The differential tests prove the results; these tests pin down *how* they are
computed (which filters are exact in SQL, that the SQL path is taken for
them, that no value reaches the SQL text) and feed the backend values built
to break naive SQL: quotes, LIKE wildcards, backslashes, NUL, SQL fragments.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from test_storage_sql import each_sql_backend
from tomorro_scim.filter import compile_filter
from tomorro_scim.storage import GROUP
from tomorro_scim.storage import USER
from tomorro_scim.storage import SearchQuery
from tomorro_scim.storage import Storage
from tomorro_scim.storage.memory import MemoryStorage
from tomorro_scim.storage.sql import SqlStorage
from tomorro_scim.storage.sql import schema
from tomorro_scim.storage.sql.filters import translate
from tomorro_scim.storage.sql.session import SqlSession
from tomorro_scim.testing import group_document
from tomorro_scim.testing import user_document

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.mark.parametrize(
    ("expression", "exact"),
    [
        ('userName eq "a@b.c"', True),
        ('externalId eq "00aa"', True),
        ('id eq "x"', True),
        ('userName sw "a" and active eq true', True),
        ('displayName co "x" or not (name.familyName ew "y")', True),
        ('emails[type eq "work" and value ew "@x.com"]', True),
        ('emails.value co "x"', True),
        ('emails.value ne "x"', True),
        ("emails.value pr", True),
        ('meta.lastModified gt "2024-01-01T00:00:00Z"', True),
        (
            'userType eq "admin" or (active eq false and not (name.givenName sw "a"))',
            True,
        ),
        ("displayName eq null", True),
        ("active pr", True),
        # No column: evaluated in Python after what SQL can narrow.
        ('title eq "CEO"', False),
        ('title eq "CEO" and userName sw "a"', False),
        (f'{ENTERPRISE}:department eq "Legal"', False),
        ("emails pr", False),
        ("emails.value eq null", False),
        ("meta.created pr", False),
        ('not (title eq "x")', False),
        ('userName eq "a\\u0000b"', False),
    ],
)
def test_which_user_filters_are_exact_in_sql(expression: str, exact: bool) -> None:
    for dialect in (True, False):
        assert translate(compile_filter(expression), USER, dialect).exact is exact


@pytest.mark.parametrize(
    ("expression", "exact"),
    [
        ('displayName eq "Sales"', True),
        ('members eq "u1"', True),
        ('members[value eq "u1"]', True),
        ("members.display eq null", True),
        ("members pr", True),
        ('members ne "u1"', True),
        ('displayName eq "Sales" and members eq "u1"', True),
        ('members[display eq "x" or value eq "y"]', True),
    ],
)
def test_which_group_filters_are_exact_in_sql(expression: str, exact: bool) -> None:
    assert translate(compile_filter(expression, GROUP), GROUP, True).exact is exact


def test_a_conjunction_keeps_its_translatable_terms() -> None:
    translation = translate(
        compile_filter('title eq "CEO" and userName eq "alice"'), USER, True
    )
    assert not translation.exact
    text = str(translation.condition.compile(dialect=sqlite.dialect()))
    assert "user_name_key" in text


@pytest.mark.parametrize(
    "value",
    [
        "x' OR '1'='1",
        "'; DROP TABLE scim_users; --",
        'a"b',
        "100%",
        "a_b",
        "back\\slash",
        "\\%_",
        "zoé",
    ],
)
@pytest.mark.parametrize("op", ["eq", "co", "sw", "ew", "gt"])
def test_values_travel_as_bound_parameters(value: str, op: str) -> None:
    compiled = compile_filter(f"userName {op} {json.dumps(value)}")
    for dialect, is_sqlite in ((sqlite.dialect(), True), (postgresql.dialect(), False)):
        condition = translate(compiled, USER, is_sqlite).condition
        text = str(condition.compile(dialect=dialect))
        assert value.lower() not in text
        # The one literal: LIKE's escape character, a constant.
        assert "'" not in text.replace("ESCAPE '\\'", "")


# -- hostile values against real databases --------------------------------------

HOSTILE = [
    "x' OR '1'='1",
    "'; DROP TABLE scim_users; --",
    "Robert'); DELETE FROM scim_group_members; --",
    'quote"d',
    "100%",
    "100%off",
    "a_c",
    "abc",
    "back\\slash",
    "back\\\\slash",
    "\\%",
    "%",
    "_",
    "[a-z]*?",
    "zoé",
    "ZOE\u0301",
    "tab\tand\nnewline",
    "\U0001f600 emoji",
]
PROBES = [*HOSTILE, "a", "b", "", "%", "\\", "'", "\x00", "nul\x00x", "\ud800"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sql(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Storage]:
    yield from each_sql_backend(request.param, tmp_path_factory)


def _ids(storage: Storage, tenant: str, expression: str) -> tuple[int, list[str]]:
    with storage.session(tenant) as session:
        result = session.search(
            USER, SearchQuery(filter=compile_filter(expression), count=1000)
        )
    return result.total, [r.id for r in result.resources]


def test_hostile_values_match_as_in_memory(sql: Storage) -> None:
    tenant = f"hostile-{uuid.uuid4().hex}"
    memory = MemoryStorage()
    for index, value in enumerate(HOSTILE):
        document = user_document(
            f"user{index}@example.com",
            id=str(uuid.UUID(int=index + 1)),
            displayName=value,
            externalId=value,
            emails=[{"value": value, "type": "work"}],
        )
        for storage in (memory, sql):
            with storage.session(tenant) as session:
                session.create(USER, json.loads(json.dumps(document)))
    for probe in PROBES:
        literal = json.dumps(probe)
        for expression in (
            f"displayName eq {literal}",
            f"displayName co {literal}",
            f"displayName sw {literal}",
            f"displayName ew {literal}",
            f"displayName lt {literal}",
            f"externalId co {literal}",
            f"externalId ew {literal}",
            f"externalId sw {literal}",
            f"emails.value co {literal}",
            f"emails[value ew {literal}]",
            f"not (displayName co {literal})",
        ):
            assert _ids(sql, tenant, expression) == _ids(memory, tenant, expression), (
                expression
            )
    # Nothing was dropped or deleted on the way.
    with sql.session(tenant) as session:
        assert session.search(USER, SearchQuery(count=0)).total == len(HOSTILE)


def test_unqualified_extension_attributes_match_as_in_memory(sql: Storage) -> None:
    """Entra checks a manager with ``manager eq "<id>"`` (IDP-DIALECTS §1.4):
    the bare name of an enterprise-extension attribute must reach the same
    column or predicate as its URN-qualified form, as it does in memory."""
    tenant = f"manager-{uuid.uuid4().hex}"
    memory = MemoryStorage()
    boss = user_document("boss@example.com", id=str(uuid.UUID(int=1)))
    report = user_document(
        "report@example.com",
        id=str(uuid.UUID(int=2)),
        **{ENTERPRISE: {"manager": {"value": boss["id"]}, "department": "Legal"}},
    )
    for storage in (memory, sql):
        with storage.session(tenant) as session:
            for document in (boss, report):
                session.create(USER, json.loads(json.dumps(document)))
    for expression in (
        f'manager eq "{boss["id"]}"',
        f'manager.value eq "{boss["id"]}"',
        f'{ENTERPRISE}:manager.value eq "{boss["id"]}"',
        'department eq "legal"',
        f'{ENTERPRISE}:department eq "Legal"',
    ):
        assert _ids(sql, tenant, expression) == (1, [report["id"]]), expression
        assert _ids(memory, tenant, expression) == (1, [report["id"]]), expression


def test_a_hostile_group_name_and_member_id(sql: Storage) -> None:
    tenant = f"hostile-{uuid.uuid4().hex}"
    with sql.session(tenant) as session:
        user = session.create(USER, user_document("alice"))
        group = session.create(GROUP, group_document("x'); DROP TABLE scim_groups; --"))
        session.add_members(group.id, [user.id, "'; DELETE FROM scim_users; --"])
    with sql.session(tenant) as session:
        found = session.search(
            GROUP,
            SearchQuery(
                filter=compile_filter(
                    'displayName eq "X\'); drop table scim_groups; --"', GROUP
                )
            ),
        )
        assert [r.id for r in found.resources] == [group.id]
        assert [m.value for m in session.members(group.id)] == [user.id]


@pytest.mark.parametrize("value", ["nul\x00byte", "lone \ud800 surrogate"])
def test_unstorable_strings_are_a_client_error(sql: Storage, value: str) -> None:
    """PostgreSQL cannot store NUL in text, and UTF-8 cannot encode a lone
    surrogate: the storage refuses them with 400 invalidValue on both
    databases, instead of failing in the driver (a 500)."""
    from tomorro_scim.errors import InvalidValue

    tenant = f"hostile-{uuid.uuid4().hex}"
    with pytest.raises(InvalidValue), sql.session(tenant) as session:
        session.create(USER, user_document(value))
    with pytest.raises(InvalidValue), sql.session(tenant) as session:
        session.create(USER, user_document("ok", displayName=value))
    with sql.session(tenant) as session:
        # Elsewhere in the document such strings are kept, JSON-escaped.
        created = session.create(USER, user_document("ok", title=value))
        assert session.get(USER, value) is None
        assert session.find_user_by_user_name(value) is None
        assert session.existing_user_ids([value]) == set()
        assert session.delete(USER, value) is False
        assert session.members(value) == []
    with sql.session(tenant) as session:
        stored = session.get(USER, created.id)
        assert stored is not None
        assert stored.document["title"] == value
        found = session.search(
            USER, SearchQuery(filter=compile_filter(f"title eq {json.dumps(value)}"))
        )
        assert [r.id for r in found.resources] == [created.id]
    assert sql.find_token(value) is None


# -- the SQL path is the one taken ----------------------------------------------


def test_exact_filters_never_run_the_predicate(
    sql: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = f"path-{uuid.uuid4().hex}"
    with sql.session(tenant) as session:
        for i in range(5):
            session.create(USER, user_document(f"user{i}", active=i % 2 == 0))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the predicate ran")

    monkeypatch.setattr(SqlSession, "_search_in_python", refuse)
    with sql.session(tenant) as session:
        result = session.search(
            USER,
            SearchQuery(
                filter=compile_filter('active eq true and userName sw "USER"'),
                sort_by=schema.USER_NAME,
                descending=True,
                count=2,
            ),
        )
    assert result.total == 3
    assert [r.document["userName"] for r in result.resources] == ["user4", "user2"]


def test_exclude_members_never_reads_the_members_table(
    sql: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = f"path-{uuid.uuid4().hex}"
    with sql.session(tenant) as session:
        user = session.create(USER, user_document("alice"))
        group = session.create(GROUP, group_document("Everyone"))
        session.add_members(group.id, [user.id])
    statements: list[str] = []
    assert isinstance(sql, SqlStorage)
    from sqlalchemy import event

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(sql.engine, "before_cursor_execute", record)
    try:
        with sql.session(tenant) as session:
            stored = session.get(GROUP, group.id, include_members=False)
            found = session.search(
                GROUP,
                SearchQuery(
                    filter=compile_filter('displayName eq "everyone"', GROUP),
                    include_members=False,
                ),
            )
    finally:
        event.remove(sql.engine, "before_cursor_execute", record)
    assert stored is not None
    assert [r.id for r in found.resources] == [group.id]
    assert statements
    assert not any("scim_group_members" in s for s in statements)


def test_members_load_in_one_query(sql: Storage) -> None:
    tenant = f"path-{uuid.uuid4().hex}"
    with sql.session(tenant) as session:
        ids = [
            session.create(USER, user_document(f"u{i}", displayName=f"U {i}")).id
            for i in range(30)
        ]
        group = session.create(GROUP, group_document("Everyone"))
        session.add_members(group.id, ids)
    assert isinstance(sql, SqlStorage)
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(sql.engine, "before_cursor_execute", record)
    try:
        with sql.session(tenant) as session:
            refs = session.members(group.id)
    finally:
        event.remove(sql.engine, "before_cursor_execute", record)
    assert [r.value for r in refs] == ids
    assert [r.display for r in refs] == [f"U {i}" for i in range(30)]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_email_rows_follow_the_document(sql: Storage) -> None:
    tenant = f"path-{uuid.uuid4().hex}"
    with sql.session(tenant) as session:
        user = session.create(
            USER,
            user_document("alice", emails=[{"value": "a@x.com"}, {"value": "b@x.com"}]),
        )
        session.replace(
            USER, user.id, user_document("alice", id=user.id, emails=[{"value": "c"}])
        )
    assert isinstance(sql, SqlStorage)
    with sql.engine.connect() as connection:
        count = connection.execute(
            select(func.count())
            .select_from(schema.emails)
            .where(schema.emails.c.tenant == tenant)
        ).scalar_one()
    assert count == 1
    with sql.session(tenant) as session:
        session.delete(USER, user.id)
    with sql.engine.connect() as connection:
        count = connection.execute(
            select(func.count())
            .select_from(schema.emails)
            .where(schema.emails.c.tenant == tenant)
        ).scalar_one()
    assert count == 0
