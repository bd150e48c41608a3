"""The statements of the fixed-shape operations, built once and run with parameters.

Building a SQLAlchemy statement around literal values coerces every value
and computes a cache key on each call, which costs more than SQLite takes to
run the statement. The writes and lookups every request makes therefore use
these shapes, built once per variant with named bind parameters (``p_*`` for
the WHERE clause; column names for the values written), and executed with a
parameter dict; SQLAlchemy then compiles each shape once.

Each is marked :func:`~.prepared.fixed`: compiled once per dialect, it runs
on the driver's cursor (:mod:`.prepared`). Only searches, whose filters vary,
build their statements per call and run through SQLAlchemy.
"""

from __future__ import annotations

from typing import Any
from typing import Final

from sqlalchemy import BigInteger
from sqlalchemy import ColumnElement
from sqlalchemy import CompoundSelect
from sqlalchemy import Delete
from sqlalchemy import Insert
from sqlalchemy import Select
from sqlalchemy import String
from sqlalchemy import Update
from sqlalchemy import and_
from sqlalchemy import any_
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import literal_column
from sqlalchemy import not_
from sqlalchemy import null
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.sql.expression import Executable

from . import schema
from .prepared import fixed
from .schema import groups
from .schema import members
from .schema import users

__all__ = ["resource_columns", "table"]

TENANT = "p_tenant"
ID = "p_id"

USER_COMPARED: Final = (
    "user_name",
    "user_name_key",
    "display_name",
    "display_name_key",
    "external_id",
    "user_type_key",
    "active",
    "given_name_key",
    "family_name_key",
    "email_key",
)
"""A user's computed columns that a write sets only when their value moves.

SQLite rewrites the entry of every index on a column an ``UPDATE`` sets,
even to the value it had: leaving the unchanged ones out of a PATCH's
``UPDATE`` halves its cost (measured on a table indexed as ``scim_users``,
150 against 70 µs for the update and its commit). The timestamps are always
set: ``modified_at`` moves on every write, and ``created_at`` is in no index."""


def table(resource_type: str) -> Any:
    return users if resource_type == "User" else groups


def resource_columns(target: Any) -> list[Any]:
    """What a StoredResource is read from."""
    c = target.c
    return [c.id, c.seq, c.version, c.managed, c.role, c.document, c.last_modified]


def _mine(target: Any) -> list[ColumnElement[bool]]:
    return [target.c.tenant == bindparam(TENANT), target.c.id == bindparam(ID)]


def in_ids(column: Any, sqlite: bool) -> ColumnElement[bool]:
    """``column IN (:p_ids)`` as one parameter, whatever the number of ids:
    a JSON array on SQLite (``json_each``), an array on PostgreSQL."""
    if sqlite:
        each = func.json_each(bindparam("p_ids", type_=String)).table_valued("value")
        return column.in_(select(each.c.value))  # type: ignore[no-any-return]
    return column == any_(  # type: ignore[no-any-return]
        bindparam("p_ids", type_=postgresql.ARRAY(String))
    )


def _insert(target: Any, sqlite: bool) -> Any:
    return (sqlite_dialect.insert if sqlite else postgresql.insert)(target)


@fixed
def insert_resource(resource_type: str, sqlite: bool) -> Executable:
    target = table(resource_type)
    statement: Executable = (
        _insert(target, sqlite).on_conflict_do_nothing().returning(target.c.id)
    )
    return statement


@fixed
def next_seq() -> Executable:
    counters = schema.sequences
    return (
        sqlite_dialect.insert(counters)
        .values(
            tenant=bindparam(TENANT),
            name=bindparam("p_name"),
            value=bindparam("p_count", type_=BigInteger),
        )
        .on_conflict_do_update(
            index_elements=[counters.c.tenant, counters.c.name],
            set_={"value": counters.c.value + bindparam("p_count", type_=BigInteger)},
        )
        .returning(counters.c.value)
    )


@fixed
def token_by_id() -> Select[Any]:
    """A bearer token's row by its public id (``p_token``): read on every request."""
    tokens = schema.tokens
    return select(tokens).where(tokens.c.token_id == bindparam("p_token"))


def _memberships(which: ColumnElement[bool], *columns: Any) -> Select[Any]:
    """``columns`` of the memberships ``which`` picks in the tenant
    (``p_tenant``), joined to their groups, managed groups only."""
    return (
        select(*columns)
        .select_from(
            members.join(
                groups,
                and_(
                    groups.c.tenant == members.c.tenant,
                    groups.c.id == members.c.group_id,
                ),
            )
        )
        .where(
            members.c.tenant == bindparam(TENANT),
            which,
            schema.managed(groups),
        )
    )


@fixed
def user_with_groups() -> CompoundSelect[Any]:
    """A user's row (``part`` 0) and its groups' rows (``part`` 1, in the
    order :func:`groups_of_user` gives), in one statement: rendering a user
    reads both. ``name_key`` is the user's folded userName (a group row's
    displayName), which lets a write that keeps it skip the uniqueness read;
    the user's :data:`USER_COMPARED` columns let it set only those that move."""
    user = select(
        literal_column("0").label("part"),
        literal_column("0").label("position"),
        *resource_columns(users),
        users.c.user_name_key.label("name_key"),
        *(users.c[name] for name in USER_COMPARED),
    ).where(*_mine(users), schema.managed(users))
    group_rows = _memberships(
        members.c.user_id == bindparam(ID),
        literal_column("1").label("part"),
        members.c.seq.label("position"),
        *resource_columns(groups),
        groups.c.display_name_key.label("name_key"),
        *(null().label(name) for name in USER_COMPARED),
    )
    return union_all(user, group_rows).order_by(
        literal_column("part"), literal_column("position")
    )


@fixed
def group_by_id() -> Select[Any]:
    """A SCIM group's row, with its folded displayName as ``name_key``."""
    return select(
        *resource_columns(groups), groups.c.display_name_key.label("name_key")
    ).where(*_mine(groups), schema.managed(groups))


@fixed
def exists_by_id(resource_type: str) -> Select[Any]:
    target = table(resource_type)
    return select(target.c.id).where(*_mine(target))


@fixed
def current(resource_type: str, lock: bool) -> Select[Any]:
    target = table(resource_type)
    query = select(target.c.version, target.c.managed).where(*_mine(target))
    return query.with_for_update() if lock else query


@fixed
def user_by_name() -> Select[Any]:
    return select(*resource_columns(users)).where(
        users.c.tenant == bindparam(TENANT),
        users.c.user_name_key == bindparam("p_key"),
    )


@fixed
def name_clash(resource_type: str) -> Select[Any]:
    """Another resource holding the folded name (a group of the host app
    holds none: see the partial index on ``scim_groups``)."""
    target = table(resource_type)
    key = (
        users.c.user_name_key if resource_type == "User" else groups.c.display_name_key
    )
    conditions = [
        target.c.tenant == bindparam(TENANT),
        key == bindparam("p_key"),
        target.c.id != bindparam(ID),
    ]
    if resource_type != "User":
        conditions.append(schema.managed(target))
    return select(target.c.id).where(*conditions).limit(1)


@fixed
def update_resource(resource_type: str, adopt: bool, expected_version: bool) -> Update:
    """Compare-and-swap: the new values come as parameters named after the
    columns; the version moves in the statement itself."""
    target = table(resource_type)
    conditions = _mine(target)
    if not adopt:
        conditions.append(schema.managed(target))
    if expected_version:
        conditions.append(target.c.version == bindparam("p_version"))
    return (
        update(target)
        .where(*conditions)
        .values(version=target.c.version + 1, managed=True)
        .returning(target.c.version, target.c.role)
    )


@fixed
def insert_emails() -> Insert:
    """A user's ``scim_emails`` rows, one parameter dict each."""
    return insert(schema.emails)


@fixed
def delete_emails() -> Delete:
    return delete(schema.emails).where(
        schema.emails.c.tenant == bindparam(TENANT),
        schema.emails.c.user_id == bindparam(ID),
    )


@fixed
def delete_resource(resource_type: str) -> Delete:
    return delete(table(resource_type)).where(*_mine(table(resource_type)))


@fixed
def touch_groups_of_user() -> Update:
    return (
        update(groups)
        .where(
            groups.c.tenant == bindparam(TENANT),
            groups.c.id.in_(
                select(members.c.group_id).where(
                    members.c.tenant == bindparam(TENANT),
                    members.c.user_id == bindparam(ID),
                )
            ),
        )
        .values(version=groups.c.version + 1)
    )


@fixed
def managed_group() -> Select[Any]:
    return select(groups.c.id).where(*_mine(groups), schema.managed(groups))


@fixed
def touch_group() -> Update:
    """Membership moved: ``version + 1``; ``last_modified``/``modified_at``
    when they come as parameters."""
    return update(groups).where(*_mine(groups)).values(version=groups.c.version + 1)


@fixed
def set_role() -> Update:
    return update(users).where(*_mine(users))


@fixed
def member_values(sqlite: bool) -> Select[Any]:
    return (
        select(members.c.group_id, members.c.user_id)
        .where(
            members.c.tenant == bindparam(TENANT), in_ids(members.c.group_id, sqlite)
        )
        .order_by(members.c.seq)
    )


@fixed
def member_refs() -> Select[Any]:
    return (
        select(members.c.user_id, users.c.display_name, users.c.user_name)
        .select_from(
            members.outerjoin(
                users,
                and_(
                    users.c.tenant == members.c.tenant, users.c.id == members.c.user_id
                ),
            )
        )
        .where(
            members.c.tenant == bindparam(TENANT),
            members.c.group_id == bindparam("p_group"),
        )
        .order_by(members.c.seq)
    )


@fixed
def groups_of_user() -> Select[Any]:
    return _memberships(
        members.c.user_id == bindparam(ID), *resource_columns(groups)
    ).order_by(members.c.seq)


@fixed
def groups_of_users(sqlite: bool) -> Select[Any]:
    """:func:`groups_of_user` for several users (``p_ids``) at once."""
    return _memberships(
        in_ids(members.c.user_id, sqlite),
        members.c.user_id.label("member_id"),
        *resource_columns(groups),
    ).order_by(members.c.seq)


@fixed
def existing_users(sqlite: bool) -> Select[Any]:
    return select(users.c.id).where(
        users.c.tenant == bindparam(TENANT),
        schema.managed(users),
        in_ids(users.c.id, sqlite),
    )


@fixed
def link(sqlite: bool) -> Executable:
    """Insert the memberships of those of ``p_ids`` that are users of the
    tenant, numbered in ``p_ids``' order, skipping existing members; returns
    the user ids inserted. One statement, whatever the number of ids."""
    tenant = bindparam(TENANT, type_=String)
    group = bindparam("p_group", type_=String)
    if sqlite:
        each = func.json_each(bindparam("p_ids", type_=String)).table_valued(
            "key", "value"
        )
        source = (
            select(
                tenant,
                group,
                each.c.value,
                each.c.key + bindparam("p_base", type_=BigInteger),
            )
            .select_from(each)
            # A WHERE clause is what SQLite needs to read INSERT ... SELECT
            # ... ON CONFLICT unambiguously.
            .where(users.c.tenant == tenant, users.c.id == each.c.value)
        )
        columns = ["tenant", "group_id", "user_id", "seq"]
    else:
        each = (
            func.unnest(bindparam("p_ids", type_=postgresql.ARRAY(String)))
            .table_valued("value", with_ordinality="ordinal")
            .render_derived("wanted")
        )
        source = (
            select(tenant, group, each.c.value)
            .select_from(each)
            .where(users.c.tenant == tenant, users.c.id == each.c.value)
            .order_by(each.c.ordinal)
        )
        columns = ["tenant", "group_id", "user_id"]
    statement: Executable = (
        _insert(members, sqlite)
        .from_select(columns, source)
        .on_conflict_do_nothing()
        .returning(members.c.user_id)
    )
    return statement


@fixed
def unlink(sqlite: bool, keep: bool) -> Executable:
    """Delete the memberships of ``p_ids`` (``keep``: of everyone but them)."""
    listed = in_ids(members.c.user_id, sqlite)
    return (
        delete(members)
        .where(
            members.c.tenant == bindparam(TENANT),
            members.c.group_id == bindparam("p_group"),
            not_(listed) if keep else listed,
        )
        .returning(members.c.user_id, members.c.seq)
    )


@fixed
def unlink_all() -> Executable:
    return (
        delete(members)
        .where(
            members.c.tenant == bindparam(TENANT),
            members.c.group_id == bindparam("p_group"),
        )
        .returning(members.c.user_id, members.c.seq)
    )


@fixed
def count_total() -> Select[Any]:
    counts = schema.counts
    return select(counts.c.total).where(
        counts.c.tenant == bindparam(TENANT),
        counts.c.resource_type == bindparam("p_type"),
    )


@fixed
def add_to_count(sqlite: bool) -> Executable:
    """Add ``p_delta`` to a tenant's count of managed resources of a type."""
    counts = schema.counts
    insert = _insert(counts, sqlite).values(
        tenant=bindparam(TENANT),
        resource_type=bindparam("p_type"),
        total=bindparam("p_delta", type_=BigInteger),
    )
    statement: Executable = insert.on_conflict_do_update(
        index_elements=[counts.c.tenant, counts.c.resource_type],
        set_={"total": counts.c.total + insert.excluded.total},
    )
    return statement


@fixed
def deep_page_start(resource_type: str) -> Any:
    """The ``seq`` of the row at ``p_offset`` in the default order, read from
    the (tenant, managed, seq) index alone: a deep page then costs a walk of
    that index, not the fetch of every row before it."""
    target = table(resource_type)
    return (
        select(target.c.seq)
        .where(target.c.tenant == bindparam(TENANT), schema.managed(target))
        .order_by(target.c.seq)
        .offset(bindparam("p_offset"))
        .limit(1)
        .scalar_subquery()
    )


def _equal(target: Any, column: str) -> list[ColumnElement[bool]]:
    """A tenant's SCIM rows whose ``column`` equals ``p_value``, written as
    the filter translation writes ``eq`` on a string column."""
    compared = target.c[column]
    return [
        target.c.tenant == bindparam(TENANT),
        schema.managed(target),
        compared.is_not(None),
        compared == bindparam("p_value"),
    ]


@fixed
def search_equal(resource_type: str, column: str, selective: bool) -> Select[Any]:
    """A page of the rows whose ``column`` equals ``p_value`` in the default
    order (``p_count`` rows after ``p_offset``); ``selective``: sorted from
    the rows found rather than read along the order's index, as the general
    search does for an equality on a key."""
    target = table(resource_type)
    order = target.c.seq + literal_column("0") if selective else target.c.seq
    return (
        select(*resource_columns(target))
        .where(*_equal(target, column))
        .order_by(order)
        .limit(bindparam("p_count"))
        .offset(bindparam("p_offset"))
    )


@fixed
def count_equal(resource_type: str, column: str) -> Select[Any]:
    """How many rows :func:`search_equal` pages through."""
    target = table(resource_type)
    return select(func.count()).select_from(target).where(*_equal(target, column))


@fixed
def search_equal_with_groups(column: str, selective: bool) -> CompoundSelect[Any]:
    """:func:`search_equal` on users, with the groups of the page's users in
    the same statement: ``part`` 0 rows are the page's users in its order,
    ``part`` 1 rows their groups (``member_id`` names the user), in the order
    :func:`groups_of_users` gives. An IdP's match query then costs one
    statement, as a read by id does (:func:`user_with_groups`)."""
    page = search_equal("User", column, selective).cte("page")
    user_rows = select(
        literal_column("0").label("part"),
        page.c.seq.label("position"),
        *(page.c[c.name] for c in resource_columns(users)),
        null().label("member_id"),
    )
    group_rows = _memberships(
        members.c.user_id.in_(select(page.c.id)),
        literal_column("1").label("part"),
        members.c.seq.label("position"),
        *resource_columns(groups),
        members.c.user_id.label("member_id"),
    )
    return union_all(user_rows, group_rows).order_by(
        literal_column("part"), literal_column("position")
    )
