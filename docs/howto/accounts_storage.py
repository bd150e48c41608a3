"""A storage backend over a host app's own tables, for the backend how-to guide.

The app already has an ``accounts`` table (its users) and a ``teams`` table
(its groups). SCIM gets a few columns in each: whether SCIM manages the row,
the SCIM document, and its version. The app keeps reading its own columns
(``email``, ``first_name``, ``last_name``, ``is_active``, ``role``), which this
backend keeps in step with the document on every write.

It uses only the standard library's ``sqlite3`` and passes the storage
contract kit (``tomorro_scim.testing``). Searches filter, sort and page in
Python over the tenant's rows, which is fine for thousands of users per
tenant; see ``SqlStorage`` for a backend that does it in SQL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tomorro_scim.errors import NotFound
from tomorro_scim.errors import PreconditionFailed
from tomorro_scim.errors import Uniqueness
from tomorro_scim.filter import comparison_key
from tomorro_scim.query import keyset_page
from tomorro_scim.query import page_of
from tomorro_scim.query import sort_key
from tomorro_scim.query import sort_value
from tomorro_scim.schemas import default_registry
from tomorro_scim.storage import MemberRef
from tomorro_scim.storage import SearchQuery
from tomorro_scim.storage import SearchResult
from tomorro_scim.storage import StorageSession
from tomorro_scim.storage import StoredResource
from tomorro_scim.storage import TokenRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- the default order
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    email TEXT NOT NULL,                    -- the login: SCIM userName
    email_key TEXT NOT NULL,                -- email as SCIM compares it
    first_name TEXT,
    last_name TEXT,
    is_active INTEGER NOT NULL DEFAULT 1,
    role TEXT,
    scim_managed INTEGER NOT NULL DEFAULT 0,
    scim_document TEXT NOT NULL,
    scim_version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (tenant, id),
    UNIQUE (tenant, email_key)              -- logins are unique, SCIM or not
);
CREATE TABLE IF NOT EXISTS teams (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    scim_managed INTEGER NOT NULL DEFAULT 0,
    scim_document TEXT NOT NULL,
    scim_version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (tenant, id)
);
-- Only the IdP's groups compete for names: a team the app made is not SCIM's.
CREATE UNIQUE INDEX IF NOT EXISTS teams_scim_name
    ON teams (tenant, name_key) WHERE scim_managed = 1;
CREATE TABLE IF NOT EXISTS team_members (
    tenant TEXT NOT NULL,
    team_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    position INTEGER NOT NULL,              -- members keep the order added
    PRIMARY KEY (tenant, team_id, account_id)
);
CREATE INDEX IF NOT EXISTS team_members_by_account
    ON team_members (tenant, account_id);
CREATE TABLE IF NOT EXISTS scim_tokens (
    token_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    created TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    revoked INTEGER NOT NULL DEFAULT 0
);
"""

USER = "User"
GROUP = "Group"
_TABLE = {USER: "accounts", GROUP: "teams"}  # table names are constants, never input
_USER_NAME = default_registry().get(USER).require("userName")
_DISPLAY_NAME = default_registry().get(GROUP).require("displayName")


def _user_columns(document: dict[str, Any]) -> dict[str, Any]:
    """The app's own columns, read from a SCIM user document."""
    name = document.get("name") or {}
    return {
        "email": document["userName"],
        "email_key": comparison_key(_USER_NAME, document["userName"]),
        "first_name": name.get("givenName"),
        "last_name": name.get("familyName"),
        # Deactivation is not deletion: the row stays, the app blocks the login.
        "is_active": document.get("active", True) is not False,
    }


def _team_columns(document: dict[str, Any]) -> dict[str, Any]:
    name = document["displayName"]
    return {"name": name, "name_key": comparison_key(_DISPLAY_NAME, name)}


class AccountsSession:
    """One tenant's transaction: a :class:`~tomorro_scim.storage.StorageSession`."""

    def __init__(self, tenant: str, db: sqlite3.Connection) -> None:
        self.tenant = tenant
        self._db = db

    # -- reading ------------------------------------------------------------

    def _row(
        self, resource_type: str, resource_id: str, *, managed_only: bool = True
    ) -> sqlite3.Row | None:
        table = _TABLE[resource_type]
        row: sqlite3.Row | None = self._db.execute(
            f"SELECT * FROM {table} WHERE tenant = ? AND id = ?",
            (self.tenant, resource_id),
        ).fetchone()
        if row is None or (managed_only and not row["scim_managed"]):
            return None
        return row

    def _member_ids(self, group_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT account_id FROM team_members WHERE tenant = ? AND team_id = ?"
            " ORDER BY position",
            (self.tenant, group_id),
        )
        return [row["account_id"] for row in rows]

    def _stored(
        self, resource_type: str, row: sqlite3.Row, include_members: bool
    ) -> StoredResource:
        document = json.loads(row["scim_document"])
        if resource_type == GROUP and include_members:
            document["members"] = [{"value": m} for m in self._member_ids(row["id"])]
        return StoredResource(
            id=row["id"],
            resource_type=resource_type,
            document=document,
            version=row["scim_version"],
            managed=bool(row["scim_managed"]),
            role=row["role"] if resource_type == USER else None,
        )

    def get(
        self, resource_type: str, resource_id: str, *, include_members: bool = True
    ) -> StoredResource | None:
        row = self._row(resource_type, resource_id)
        return (
            None if row is None else self._stored(resource_type, row, include_members)
        )

    def search(self, resource_type: str, query: SearchQuery) -> SearchResult:
        table = _TABLE[resource_type]
        rows = self._db.execute(
            f"SELECT * FROM {table} WHERE tenant = ? AND scim_managed = 1 ORDER BY seq",
            (self.tenant,),
        ).fetchall()
        # Evaluate the filter on documents with members when it names them.
        with_members = resource_type == GROUP and (
            query.filter is not None and query.filter.references("members")
        )
        matched = []
        for row in rows:
            document = self._stored(resource_type, row, with_members).document
            if query.filter is None or query.filter(document):
                matched.append((row, document))
        if query.sort_by is not None:
            key = sort_key(query.sort_by)
            # A stable sort: ties stay in the default order, both directions.
            matched.sort(key=lambda item: key(item[1]), reverse=query.descending)
        last, more = None, False
        if query.keyset:  # RFC 9865 cursors: the page after a position
            value_of = sort_value(query.sort_by)
            page, last, more = keyset_page(
                matched,
                lambda item: value_of(item[1]),
                lambda item: item[0]["seq"],
                query.after,
                query.descending,
                query.count,
            )
        else:
            page = page_of(matched, query.start_index, query.count)
        return SearchResult(
            total=len(matched),
            resources=[
                self._stored(resource_type, row, query.include_members)
                for row, _ in page
            ],
            last=last,
            more=more,
        )

    def find_user_by_user_name(self, user_name: str) -> StoredResource | None:
        row = self._db.execute(
            "SELECT * FROM accounts WHERE tenant = ? AND email_key = ?",
            (self.tenant, comparison_key(_USER_NAME, user_name)),
        ).fetchone()
        return None if row is None else self._stored(USER, row, False)

    def members(self, group_id: str) -> list[MemberRef]:
        if self._row(GROUP, group_id) is None:
            return []
        refs = []
        for member_id in self._member_ids(group_id):
            user = self._row(USER, member_id)
            document = json.loads(user["scim_document"]) if user else {}
            display = document.get("displayName") or document.get("userName")
            refs.append(MemberRef(value=member_id, display=display))
        return refs

    def user_groups(self, user_id: str) -> list[StoredResource]:
        rows = self._db.execute(
            "SELECT teams.* FROM team_members JOIN teams"
            " ON teams.tenant = team_members.tenant AND teams.id = team_members.team_id"
            " WHERE team_members.tenant = ? AND team_members.account_id = ?"
            " AND teams.scim_managed = 1 ORDER BY teams.seq",
            (self.tenant, user_id),
        )
        return [self._stored(GROUP, row, False) for row in rows]

    def existing_user_ids(self, ids: Iterable[str]) -> set[str]:
        return {i for i in set(ids) if self._row(USER, i) is not None}

    # -- writing --------------------------------------------------------------

    def insert(
        self,
        resource_type: str,
        document: dict[str, Any],
        *,
        role: str | None,
        managed: bool,
    ) -> StoredResource:
        """Insert a row; the app's own sign-up path calls it with ``managed=False``."""
        if resource_type == USER:
            columns = {**_user_columns(document), "role": role}
        else:
            columns = _team_columns(document)
        columns.update(
            tenant=self.tenant,
            id=document["id"],
            scim_managed=managed,
            scim_document=json.dumps(document),
        )
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        try:
            self._db.execute(
                f"INSERT INTO {_TABLE[resource_type]} ({names}) VALUES ({marks})",
                tuple(columns.values()),
            )
        except sqlite3.IntegrityError:
            raise self._taken(resource_type) from None
        stored = self._row(resource_type, document["id"], managed_only=False)
        assert stored is not None
        return self._stored(resource_type, stored, False)

    @staticmethod
    def _taken(resource_type: str) -> Uniqueness:
        what = "userName" if resource_type == USER else "displayName"
        return Uniqueness(f"{what} is already taken")

    def create(
        self, resource_type: str, document: dict[str, Any], *, role: str | None = None
    ) -> StoredResource:
        return self.insert(resource_type, document, role=role, managed=True)

    def replace(
        self,
        resource_type: str,
        resource_id: str,
        document: dict[str, Any],
        *,
        expected_version: int | None = None,
        role: str | None = None,
        adopt: bool = False,
    ) -> StoredResource:
        row = self._row(resource_type, resource_id, managed_only=not adopt)
        if row is None:
            raise NotFound(f"{resource_type} {resource_id} not found")
        self._check_version(row, expected_version)
        if resource_type == USER:
            columns = _user_columns(document)
            if role is not None:  # None keeps the stored role
                columns["role"] = role
        else:
            columns = _team_columns(document)
        columns.update(
            scim_managed=True,
            scim_document=json.dumps(document),
            scim_version=row["scim_version"] + 1,
        )
        assignments = ", ".join(f"{name} = ?" for name in columns)
        try:
            self._db.execute(
                f"UPDATE {_TABLE[resource_type]} SET {assignments}"
                " WHERE tenant = ? AND id = ?",
                (*columns.values(), self.tenant, resource_id),
            )
        except sqlite3.IntegrityError:
            raise self._taken(resource_type) from None
        stored = self.get(resource_type, resource_id, include_members=False)
        assert stored is not None
        return stored

    @staticmethod
    def _check_version(row: sqlite3.Row, expected: int | None) -> None:
        if expected is not None and row["scim_version"] != expected:
            raise PreconditionFailed("the resource has changed since it was read")

    def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> bool:
        row = self._row(resource_type, resource_id)
        if row is None:
            return False
        self._check_version(row, expected_version)
        if resource_type == USER:
            # Every group the user leaves gets a new version.
            for group in self.user_groups(resource_id):
                self._touch(group.id, None)
            self._db.execute(
                "DELETE FROM team_members WHERE tenant = ? AND account_id = ?",
                (self.tenant, resource_id),
            )
        else:
            self._db.execute(
                "DELETE FROM team_members WHERE tenant = ? AND team_id = ?",
                (self.tenant, resource_id),
            )
        self._db.execute(
            f"DELETE FROM {_TABLE[resource_type]} WHERE tenant = ? AND id = ?",
            (self.tenant, resource_id),
        )
        return True

    def _touch(self, group_id: str, modified: str | None) -> None:
        """Move a group's version (and ``meta.lastModified``) after a membership change."""
        row = self._row(GROUP, group_id)
        assert row is not None
        document = json.loads(row["scim_document"])
        if modified is not None:
            document["meta"] = {**document.get("meta", {}), "lastModified": modified}
        self._db.execute(
            "UPDATE teams SET scim_version = scim_version + 1, scim_document = ?"
            " WHERE tenant = ? AND id = ?",
            (json.dumps(document), self.tenant, group_id),
        )

    def _require_group(self, group_id: str) -> None:
        if self._row(GROUP, group_id) is None:
            raise NotFound(f"Group {group_id} not found")

    def add_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        self._require_group(group_id)
        current = set(self._member_ids(group_id))
        added = [i for i in dict.fromkeys(member_ids) if i not in current]
        for member_id in added:
            self._db.execute(
                "INSERT INTO team_members (tenant, team_id, account_id, position)"
                " VALUES (?, ?, ?, (SELECT COALESCE(MAX(position), 0) + 1"
                " FROM team_members WHERE tenant = ? AND team_id = ?))",
                (self.tenant, group_id, member_id, self.tenant, group_id),
            )
        if added:
            self._touch(group_id, modified)
        return added

    def remove_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        self._require_group(group_id)
        current = set(self._member_ids(group_id))
        removed = [i for i in dict.fromkeys(member_ids) if i in current]
        for member_id in removed:
            self._db.execute(
                "DELETE FROM team_members"
                " WHERE tenant = ? AND team_id = ? AND account_id = ?",
                (self.tenant, group_id, member_id),
            )
        if removed:
            self._touch(group_id, modified)
        return removed

    def replace_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> tuple[list[str], list[str]]:
        wanted = list(dict.fromkeys(member_ids))
        keep = set(wanted)
        gone = [i for i in self._member_ids(group_id) if i not in keep]
        removed = self.remove_members(group_id, gone, modified=modified)
        added = self.add_members(group_id, wanted, modified=modified)
        return added, removed

    def set_role(self, user_id: str, role: str) -> None:
        self._db.execute(
            "UPDATE accounts SET role = ? WHERE tenant = ? AND id = ? AND scim_managed = 1",
            (role, self.tenant, user_id),
        )


class AccountsStorage:
    """A :class:`~tomorro_scim.storage.Storage` on the app's SQLite database."""

    keyset_paging = True
    """``search`` honours ``SearchQuery.keyset``, so the service serves cursors."""

    def __init__(self, path: str) -> None:
        # One connection, one transaction at a time: enough for a guide. A
        # production backend takes a connection from the app's pool instead.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._db.executescript(SCHEMA)

    @contextmanager
    def session(self, tenant: str) -> Iterator[StorageSession]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield AccountsSession(tenant, self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- tokens (autocommit: each call is its own transaction) ---------------

    def save_token(self, record: TokenRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO scim_tokens VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.token_id,
                    record.tenant,
                    record.secret_hash,
                    record.created,
                    record.label,
                    record.revoked,
                ),
            )

    def find_token(self, token_id: str) -> TokenRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM scim_tokens WHERE token_id = ?", (token_id,)
            ).fetchone()
        return None if row is None else _token(row)

    def list_tokens(self, tenant: str) -> list[TokenRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM scim_tokens WHERE tenant = ? ORDER BY created, token_id",
                (tenant,),
            ).fetchall()
        return [_token(row) for row in rows]

    def revoke_token(self, token_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE scim_tokens SET revoked = 1 WHERE token_id = ?", (token_id,)
            )
        return cursor.rowcount > 0

    # -- the app's own writes --------------------------------------------------

    def add_app_user(self, tenant: str, document: dict[str, Any]) -> StoredResource:
        """A user the app made itself (sign-up): invisible to SCIM until adopted."""
        with self.session(tenant) as session:
            assert isinstance(session, AccountsSession)
            return session.insert(USER, document, role=None, managed=False)

    def add_app_group(self, tenant: str, document: dict[str, Any]) -> StoredResource:
        """A team the app made itself: never visible to SCIM."""
        with self.session(tenant) as session:
            assert isinstance(session, AccountsSession)
            return session.insert(GROUP, document, role=None, managed=False)


def _token(row: sqlite3.Row) -> TokenRecord:
    return TokenRecord(
        token_id=row["token_id"],
        tenant=row["tenant"],
        secret_hash=bytes(row["secret_hash"]),
        created=row["created"],
        label=row["label"],
        revoked=bool(row["revoked"]),
    )
