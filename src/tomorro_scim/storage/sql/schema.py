"""The tables of the SQL backend, and the columns computed from a document.

A resource is stored as its JSON document plus the columns filters and sorts
read, computed in Python when it is written: strings in their comparison form
(:func:`tomorro_scim.filter.comparison_key`, so NFC and, unless caseExact,
lower-cased), booleans as booleans, dateTimes as UTC instants. Comparing the
stored form with a literal folded the same way is what makes a
case-insensitive ``userName eq`` an index lookup on SQLite and on PostgreSQL
alike, with exactly the Python engine's semantics (SQL ``lower()`` folds
differently from Python's, and not at all on SQLite outside ASCII).

Every primary key and index starts with the tenant (DESIGN rule 8), so the
tables can be distributed by tenant without a schema change. The two global
tables are the exception by nature: bearer tokens are looked up by token id
before the tenant is known (a reference table under Citus), and the schema
version describes the database.

String columns that are compared or sorted use the ``"C"`` collation on
PostgreSQL, so ordering and ranges follow code points as Python's do (SQLite's
default ``BINARY`` collation already does).
"""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Final

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import ColumnElement
from sqlalchemy import DateTime
from sqlalchemy import Dialect
from sqlalchemy import ForeignKeyConstraint
from sqlalchemy import Identity
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import MetaData
from sqlalchemy import PrimaryKeyConstraint
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import TypeDecorator
from sqlalchemy import true
from sqlalchemy.types import TypeEngine

from ...errors import InvalidValue
from ...filter import comparison_key
from ...query import sort_key
from ...schemas import GROUP as GROUP_TYPE
from ...schemas import USER as USER_TYPE
from ...schemas import AttributeSchema
from ...schemas import AttributeType

__all__ = [
    "SCHEMA_VERSION",
    "counts",
    "emails",
    "group_columns",
    "groups",
    "managed",
    "members",
    "metadata",
    "schema_version",
    "secrets",
    "sequences",
    "tokens",
    "user_columns",
    "users",
]

SCHEMA_VERSION: Final = 2
"""The version of the tables this code reads and writes.

2: ``scim_secrets`` (the key RFC 9865 cursors are signed with)."""


def _key() -> TypeEngine[str]:
    return String().with_variant(String(collation="C"), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware instant, stored in UTC.

    PostgreSQL keeps it as ``timestamptz``; SQLite as SQLAlchemy's fixed-width
    ``YYYY-MM-DD HH:MM:SS.ffffff`` text in UTC, which orders chronologically.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


metadata = MetaData()


def _resource_head() -> list[Column[Any]]:
    """The leading columns users and groups share (fresh objects per table)."""
    return [
        Column("tenant", _key(), nullable=False),
        Column("id", _key(), nullable=False),
        # The stable default order: a monotonic number per insert (an identity
        # on PostgreSQL, a per-tenant counter on SQLite).
        Column("seq", BigInteger, Identity(), nullable=False),
        Column("version", Integer, nullable=False),
        Column("managed", Boolean, nullable=False),
        Column("role", String),
        Column("document", Text, nullable=False),
        # meta.lastModified as sent, kept out of ``document`` so a membership
        # change can set it without rewriting the document.
        Column("last_modified", String),
    ]


def _resource_tail() -> list[Column[Any]]:
    """The timestamp columns users and groups share."""
    return [Column("created_at", UtcDateTime()), Column("modified_at", UtcDateTime())]


users = Table(
    "scim_users",
    metadata,
    *_resource_head(),
    Column("user_name", String),
    Column("user_name_key", _key()),
    Column("display_name", String),
    Column("display_name_key", _key()),
    Column("external_id", _key()),
    Column("user_type_key", _key()),
    Column("active", Boolean),
    Column("given_name_key", _key()),
    Column("family_name_key", _key()),
    Column("email_key", _key()),
    *_resource_tail(),
    PrimaryKeyConstraint("tenant", "id", name="scim_users_pk"),
)
# The default order, and index-only counts and deep offsets of SCIM's users.
Index("scim_users_order", users.c.tenant, users.c.managed, users.c.seq)
Index("scim_users_user_name", users.c.tenant, users.c.user_name_key, unique=True)
Index("scim_users_external_id", users.c.tenant, users.c.external_id)
Index("scim_users_display_name", users.c.tenant, users.c.display_name_key)
Index("scim_users_family_name", users.c.tenant, users.c.family_name_key)
Index("scim_users_modified", users.c.tenant, users.c.modified_at)

groups = Table(
    "scim_groups",
    metadata,
    *_resource_head(),
    Column("display_name", String),
    Column("display_name_key", _key()),
    Column("external_id", _key()),
    *_resource_tail(),
    PrimaryKeyConstraint("tenant", "id", name="scim_groups_pk"),
)
Index("scim_groups_order", groups.c.tenant, groups.c.managed, groups.c.seq)
# Unique among SCIM's groups only: a group the host app made is invisible to
# SCIM and must not block the IdP's group of the same name. The condition is
# written as the searches write it, so SQLite sees that the index applies.
Index(
    "scim_groups_display_name",
    groups.c.tenant,
    groups.c.display_name_key,
    unique=True,
    sqlite_where=groups.c.managed == true(),
    postgresql_where=groups.c.managed == true(),
)
Index("scim_groups_external_id", groups.c.tenant, groups.c.external_id)

members = Table(
    "scim_group_members",
    metadata,
    Column("tenant", _key(), nullable=False),
    Column("group_id", _key(), nullable=False),
    Column("user_id", _key(), nullable=False),
    # Members keep the order they were added in.
    Column("seq", BigInteger, Identity(), nullable=False),
    PrimaryKeyConstraint("tenant", "group_id", "user_id", name="scim_group_members_pk"),
    ForeignKeyConstraint(
        ["tenant", "group_id"],
        ["scim_groups.tenant", "scim_groups.id"],
        ondelete="CASCADE",
        name="scim_group_members_group_fk",
    ),
    ForeignKeyConstraint(
        ["tenant", "user_id"],
        ["scim_users.tenant", "scim_users.id"],
        ondelete="CASCADE",
        name="scim_group_members_user_fk",
    ),
)
Index("scim_group_members_order", members.c.tenant, members.c.group_id, members.c.seq)
Index(
    "scim_group_members_by_user",
    members.c.tenant,
    members.c.user_id,
    members.c.group_id,
)

emails = Table(
    "scim_emails",
    metadata,
    Column("tenant", _key(), nullable=False),
    Column("user_id", _key(), nullable=False),
    Column("position", Integer, nullable=False),
    Column("value_key", _key()),
    Column("type_key", _key()),
    Column("is_primary", Boolean),
    PrimaryKeyConstraint("tenant", "user_id", "position", name="scim_emails_pk"),
    ForeignKeyConstraint(
        ["tenant", "user_id"],
        ["scim_users.tenant", "scim_users.id"],
        ondelete="CASCADE",
        name="scim_emails_user_fk",
    ),
)
Index("scim_emails_value", emails.c.tenant, emails.c.value_key)

tokens = Table(
    "scim_tokens",
    metadata,
    Column("token_id", _key(), primary_key=True),
    Column("tenant", _key(), nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("created", String, nullable=False),
    Column("label", String, nullable=False),
    Column("revoked", Boolean, nullable=False),
)
Index("scim_tokens_tenant", tokens.c.tenant, tokens.c.token_id)

counts = Table(
    "scim_counts",
    metadata,
    Column("tenant", _key(), nullable=False),
    Column("resource_type", String, nullable=False),
    Column("total", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "resource_type", name="scim_counts_pk"),
)
"""How many managed users and groups a tenant has: the ``totalResults`` of
an unfiltered list, which would otherwise count every row of every page
(Okta's import pages through all users, each page asking for the total)."""

sequences = Table(
    "scim_sequences",
    metadata,
    Column("tenant", _key(), nullable=False),
    Column("name", String, nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "name", name="scim_sequences_pk"),
)
"""Per-tenant counters for ``seq`` on SQLite, which has no sequences."""

secrets = Table(
    "scim_secrets",
    metadata,
    Column("name", String, primary_key=True),
    Column("value", LargeBinary, nullable=False),
)
"""Random secrets every process on the database shares, made on first use:
``cursor`` signs RFC 9865 cursors, so a cursor one process issued is
accepted by the others behind the same load balancer."""

schema_version = Table(
    "scim_schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)


def managed(table: Table) -> ColumnElement[bool]:
    """SCIM's rows: written ``managed = true`` so that indexes on ``managed``
    (and the partial one on group names) serve it on both databases."""
    return table.c.managed == true()


# -- the attributes that have columns ----------------------------------------

USER_NAME: Final = USER_TYPE.require("userName")
GROUP_NAME: Final = GROUP_TYPE.require("displayName")
EMAILS: Final = USER_TYPE.require("emails")
MEMBERS: Final = GROUP_TYPE.require("members")
_USER_LAST_MODIFIED: Final = USER_TYPE.require("meta.lastModified")
GROUP_LAST_MODIFIED: Final = GROUP_TYPE.require("meta.lastModified")


def _mapped(
    resource_type: Any, table: Table, pairs: dict[str, str]
) -> dict[AttributeSchema, Column[Any]]:
    return {resource_type.require(path): table.c[name] for path, name in pairs.items()}


USER_COLUMNS: Final = _mapped(
    USER_TYPE,
    users,
    {
        "externalId": "external_id",
        "userName": "user_name_key",
        "displayName": "display_name_key",
        "userType": "user_type_key",
        "active": "active",
        "name.givenName": "given_name_key",
        "name.familyName": "family_name_key",
        "meta.created": "created_at",
        "meta.lastModified": "modified_at",
    },
)
"""Attributes filters and sorts read from a column, by the schema object."""

GROUP_COLUMNS: Final = _mapped(
    GROUP_TYPE,
    groups,
    {
        "externalId": "external_id",
        "displayName": "display_name_key",
        "meta.created": "created_at",
        "meta.lastModified": "modified_at",
    },
)

USER_SORT_ONLY: Final = {
    # A multi-valued attribute sorts by its primary (or first) value
    # (query.sort_key); the column holds that value, so it serves sorting
    # only, never filtering, which looks at every value.
    EMAILS: users.c.email_key,
    USER_TYPE.require("emails.value"): users.c.email_key,
}

EMAIL_COLUMNS: Final = {
    USER_TYPE.require("emails.value"): emails.c.value_key,
    USER_TYPE.require("emails.type"): emails.c.type_key,
    USER_TYPE.require("emails.primary"): emails.c.is_primary,
}

USER_ID: Final = USER_TYPE.require("id")
GROUP_ID: Final = GROUP_TYPE.require("id")

USER_SORTS: Final = {**USER_COLUMNS, **USER_SORT_ONLY, USER_ID: users.c.id}
"""Attributes a user search sorts by in SQL; others sort in Python."""

GROUP_SORTS: Final = {**GROUP_COLUMNS, GROUP_ID: groups.c.id}


# -- values ------------------------------------------------------------------


def storable(value: str) -> bool:
    """Whether a string can be bound: PostgreSQL refuses NUL in text, and
    neither driver can encode a lone surrogate (JSON escapes can make one)."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _checked(value: Any, what: str) -> Any:
    if isinstance(value, str) and not storable(value):
        raise InvalidValue(
            f"{what} holds a NUL character or an unpaired surrogate, which "
            "cannot be stored"
        )
    return value


def _sorted_value(attribute: AttributeSchema, document: dict[str, Any]) -> Any:
    """The comparison form of ``attribute``'s value, or ``None``.

    It is exactly what :func:`tomorro_scim.query.sort_key` orders by, which
    for a single-valued attribute is also what the filter engine compares.
    """
    missing, value = sort_key(attribute)(document)
    return None if missing else value


def _element_value(attribute: AttributeSchema, value: Any) -> Any:
    """The comparison form of one element's sub-attribute value, or ``None``
    when it is missing or not of the attribute's type."""
    if attribute.type is AttributeType.boolean:
        return value if isinstance(value, bool) else None
    return comparison_key(attribute, value) if isinstance(value, str) else None


def _raw(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) else None


def _columns(
    mapping: dict[AttributeSchema, Column[Any]], document: dict[str, Any]
) -> dict[str, Any]:
    return {
        column.name: _checked(_sorted_value(attribute, document), attribute.path)
        for attribute, column in mapping.items()
    }


def user_columns(document: dict[str, Any]) -> dict[str, Any]:
    """The filter and sort columns of a user document."""
    values = _columns(USER_COLUMNS, document)
    values["email_key"] = _checked(_sorted_value(EMAILS, document), "emails")
    values["user_name"] = _checked(_raw(document, "userName"), "userName")
    values["display_name"] = _checked(_raw(document, "displayName"), "displayName")
    return values


def group_columns(document: dict[str, Any]) -> dict[str, Any]:
    """The filter and sort columns of a group document."""
    values = _columns(GROUP_COLUMNS, document)
    values["display_name"] = _checked(_raw(document, "displayName"), "displayName")
    return values


def email_rows(tenant: str, user_id: str, document: dict[str, Any]) -> list[Any]:
    """One row per element of ``emails`` that is an object, as the filter
    engine sees them (it skips any other element)."""
    items = document.get("emails")
    if not isinstance(items, list):
        return []
    rows = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        row: dict[str, Any] = {
            "tenant": tenant,
            "user_id": user_id,
            "position": position,
        }
        for attribute, column in EMAIL_COLUMNS.items():
            row[column.name] = _checked(
                _element_value(attribute, item.get(attribute.name)), attribute.path
            )
        rows.append(row)
    return rows


def last_modified_instant(resource_type: str, value: str) -> datetime | None:
    """The ``modified_at`` column for a ``meta.lastModified`` string."""
    attribute = _USER_LAST_MODIFIED if resource_type == "User" else GROUP_LAST_MODIFIED
    return _sorted_value(attribute, {"meta": {"lastModified": value}})  # type: ignore[no-any-return]


# Documents are trees of JSON values: no cycle to look for.
_UTF8 = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False
)
_ESCAPED = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def encode_document(document: dict[str, Any]) -> tuple[str, str | None]:
    """The stored JSON text and the ``last_modified`` column of a document.

    ``meta.lastModified`` moves to its own column when it is a string, so a
    membership change sets it with one column update. Non-ASCII text is kept
    as is unless the document holds something UTF-8 cannot encode (an
    unpaired surrogate), which then travels as a JSON escape.
    """
    last_modified: str | None = None
    meta = document.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("lastModified"), str):
        last_modified = _checked(meta["lastModified"], "meta.lastModified")
        document = {
            **document,
            "meta": {k: v for k, v in meta.items() if k != "lastModified"},
        }
    text = _UTF8.encode(document)
    if not storable(text):
        # JSON escapes NUL itself; only surrogates get here.
        text = _ESCAPED.encode(document)
    return text, last_modified


def decode_document(text: str, last_modified: str | None) -> dict[str, Any]:
    """The document :func:`encode_document` stored."""
    document: dict[str, Any] = json.loads(text)
    if last_modified is not None:
        meta = document.get("meta")
        document["meta"] = {
            **(meta if isinstance(meta, dict) else {}),
            "lastModified": last_modified,
        }
    return document
