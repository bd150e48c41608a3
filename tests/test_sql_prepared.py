"""The fixed statements on the driver's cursor (``storage/sql/prepared.py``).

They must answer exactly as SQLAlchemy's own execution does: the same rows,
the column types' conversions (booleans, UTC instants, bytes), the same
errors, the mapped schema; and they step aside for anybody watching the
statements (cursor-execute listeners, ``echo``). The contract kit covers
their use by the sessions on SQLite and PostgreSQL; these pin the layer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import NoResultFound

from test_storage_sql import each_sql_backend
from tomorro_scim.filter import compile_filter
from tomorro_scim.storage import GROUP
from tomorro_scim.storage import USER
from tomorro_scim.storage import SearchQuery
from tomorro_scim.storage import TokenRecord
from tomorro_scim.storage.sql import SqlStorage
from tomorro_scim.storage.sql import database
from tomorro_scim.storage.sql import prepared
from tomorro_scim.storage.sql import statements
from tomorro_scim.testing import group_document
from tomorro_scim.testing import user_document


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStorage]:
    yield from each_sql_backend(request.param, tmp_path_factory)


def _both(
    storage: SqlStorage, statement: Any, parameters: Any
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of ``statement`` on the driver's cursor and through SQLAlchemy."""
    with storage._connection("read") as connection:
        ours = [tuple(row) for row in prepared.run(connection, statement, parameters)]
        theirs = [tuple(row) for row in connection.execute(statement, parameters)]
    return ours, theirs


def test_rows_and_types_are_sqlalchemys(storage: SqlStorage) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    with storage.session(tenant) as session:
        user = session.create(USER, user_document("ada", active=False))
    ours, theirs = _both(
        storage, statements.user_with_groups(), {"p_tenant": tenant, "p_id": user.id}
    )
    assert ours == theirs
    assert len(ours) == 1
    row = ours[0]
    assert row[5] is True  # managed: a bool, not SQLite's 1
    with storage._connection("read") as connection:
        found = prepared.run(
            connection,
            statements.user_with_groups(),
            {"p_tenant": tenant, "p_id": user.id},
        ).first()
    assert (found.id, found.version, found.managed, found.part) == (user.id, 1, True, 0)


def test_bytes_booleans_and_missing_rows(storage: SqlStorage) -> None:
    record = TokenRecord(
        token_id=uuid.uuid4().hex[:16],
        tenant="acme",
        secret_hash=b"\x00\xff" * 16,
        created=datetime(2026, 1, 2, tzinfo=UTC).isoformat(),
        label="x",
        revoked=False,
    )
    storage.save_token(record)
    assert storage.find_token(record.token_id) == record
    assert storage.find_token("nobody-has-this") is None
    ours, theirs = _both(
        storage, statements.token_by_id(), {"p_token": record.token_id}
    )
    assert ours == theirs


def test_scalars_and_counts(storage: SqlStorage) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    with storage._connection("read") as connection:
        empty = prepared.run(
            connection, statements.count_total(), {"p_tenant": tenant, "p_type": USER}
        )
        assert empty.scalar() is None
        assert empty.first() is None
        with pytest.raises(NoResultFound):
            empty.scalar_one()


def test_a_driver_error_is_sqlalchemys(storage: SqlStorage) -> None:
    """A duplicate key is an IntegrityError, as callers catch it."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    with storage.session(tenant) as session:
        user = session.create(USER, user_document("ada"))
    row = {
        "tenant": tenant,
        "user_id": user.id,
        "position": 0,
        "value_key": "x@example.com",
        "type_key": "work",
        "is_primary": True,
    }
    with pytest.raises(IntegrityError), storage._connection("write") as connection:
        prepared.run(connection, statements.insert_emails(), [row, row])


def test_watched_statements_go_through_sqlalchemy(storage: SqlStorage) -> None:
    """A cursor-execute listener (SQL logging, tracing) sees every fixed
    statement, with SQLAlchemy's execution context, and the answer is the same."""
    seen: list[tuple[str, Any]] = []

    def record(
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        many: bool,
    ) -> None:
        seen.append((statement, context))

    tenant = f"t-{uuid.uuid4().hex[:8]}"
    with storage.session(tenant) as session:
        user = session.create(USER, user_document("ada"))
    event.listen(storage.engine, "before_cursor_execute", record)
    try:
        with storage.session(tenant) as session:
            found = session.get(USER, user.id)
    finally:
        event.remove(storage.engine, "before_cursor_execute", record)
    assert found is not None
    assert found.document["userName"] == "ada"
    assert any("scim_users" in statement for statement, _ in seen)
    assert all(context is not None for _, context in seen)


def test_one_compilation_per_parameter_set(storage: SqlStorage) -> None:
    """``touch_group`` sets ``last_modified`` only when given: each set of
    parameters compiles once, to its own statement."""
    statement = statements.touch_group()
    plain = {"p_tenant": "t", "p_id": "g"}
    dated = {**plain, "last_modified": "x", "modified_at": None}
    with storage._connection("read") as connection:
        first = prepared._compiled(statement, connection, plain)
        with_dates = prepared._compiled(statement, connection, dated)
        again = prepared._compiled(statement, connection, dict(plain))
        reordered = prepared._compiled(
            statement, connection, {"p_id": "g", "p_tenant": "t"}
        )
    assert first is again
    assert reordered.sql == first.sql
    assert "last_modified" not in first.sql
    assert "last_modified" in with_dates.sql


def test_only_fixed_statements_are_fixed() -> None:
    assert prepared.is_fixed(statements.token_by_id())
    assert not prepared.is_fixed(object())
    assert database.READ_ONLY  # the module the lookups run from imports cleanly


def _update_of(storage: SqlStorage, tenant: str, user_id: str, **changes: Any) -> str:
    """The ``UPDATE`` a read-then-replace of a user runs, as sent."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE scim_users") or "scim_users SET" in statement:
            sent.append(statement)

    event.listen(storage.engine, "before_cursor_execute", record)
    try:
        with storage.session(tenant) as session:
            stored = session.get(USER, user_id)
            assert stored is not None
            document = dict(stored.document)
            document.update(changes)
            session.replace(USER, user_id, document)
    finally:
        event.remove(storage.engine, "before_cursor_execute", record)
    (update,) = sent
    return update.split(" WHERE ")[0]


def test_a_user_write_sets_only_the_columns_that_move(storage: SqlStorage) -> None:
    """On SQLite, whose transaction holds the write lock since it read the
    row, columns whose value stays are left out of the ``UPDATE`` (SQLite
    rewrites every index on a column it sets); on PostgreSQL, where another
    transaction may have written the row since, every column is set. Either
    way, every filter column then answers for the new document."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    with storage.session(tenant) as session:
        user = session.create(
            USER,
            user_document("ada", displayName="Ada L", active=True, externalId="e-1"),
        )
    assignments = _update_of(storage, tenant, user.id, displayName="Ada Lovelace")
    sqlite = storage.engine.dialect.name == "sqlite"
    assert "display_name_key" in assignments
    assert "modified_at" in assignments
    assert ("user_name_key" in assignments) is not sqlite
    assert ("external_id" in assignments) is not sqlite
    with storage.session(tenant) as session:
        for text in (
            'displayName eq "Ada Lovelace"',
            'userName eq "ada"',
            "active eq true",
        ):
            found = session.search(USER, SearchQuery(filter=compile_filter(text, USER)))
            assert [r.id for r in found.resources] == [user.id], text
        gone = session.search(
            USER, SearchQuery(filter=compile_filter('displayName eq "Ada L"', USER))
        )
        assert gone.total == 0


def test_a_users_match_query_reads_their_groups_in_the_same_statement(
    storage: SqlStorage,
) -> None:
    """``userName eq`` (Entra's and Okta's match query) pages the users and
    their groups in one statement, as a read by id does; rendering them asks
    for nothing more, and the groups come in membership order."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    with storage.session(tenant) as session:
        ada = session.create(USER, user_document("ada"))
        lone = session.create(USER, user_document("lone"))
        first = session.create(GROUP, group_document("First"))
        second = session.create(GROUP, group_document("Second"))
        session.add_members(second.id, [ada.id])
        session.add_members(first.id, [ada.id])
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    for user, expected in ((ada, [second.id, first.id]), (lone, [])):
        name = user.document["userName"]
        event.listen(storage.engine, "before_cursor_execute", record)
        try:
            with storage.session(tenant) as session:
                found = session.search(
                    USER,
                    SearchQuery(filter=compile_filter(f'userName eq "{name}"', USER)),
                )
                groups = [g.id for g in session.user_groups(user.id)]
        finally:
            event.remove(storage.engine, "before_cursor_execute", record)
        assert [r.id for r in found.resources] == [user.id]
        assert found.total == 1
        assert groups == expected
        selects = [s for s in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]
        assert len(selects) == 1, selects
        sent.clear()
