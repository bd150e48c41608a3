"""One tenant's transaction on the SQL backend: the StorageSession protocol.

Every statement is scoped by ``tenant`` in its WHERE clause (or its inserted
values). Writes are single statements that check what they depend on in the
database itself, so two app processes sharing one PostgreSQL cannot lose each
other's work:

* uniqueness is the unique indexes' job; an insert that loses a race does
  nothing (``ON CONFLICT DO NOTHING``) and is reported as
  :class:`~tomorro_scim.errors.Uniqueness`, never as a database error;
* ``expected_version`` is compared in the ``UPDATE``/``DELETE`` itself
  (compare-and-swap), so a lost race is
  :class:`~tomorro_scim.errors.PreconditionFailed`, not a lost write;
* membership changes insert and delete rows of ``scim_group_members`` and bump
  the group's version with ``version = version + 1``; the member list is
  never read to be written back.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from ...errors import InvalidValue
from ...errors import NotFound
from ...errors import PreconditionFailed
from ...errors import Uniqueness
from ...filter import comparison_key
from .. import GROUP
from .. import USER
from .. import MemberRef
from .. import StoredResource
from . import schema
from . import statements
from .schema import members
from .schema import storable
from .search import Read
from .search import SessionBase
from .search import stored_resource as _stored

__all__ = ["SqlSession"]


def _unique_ids(ids: Iterable[str]) -> list[str]:
    """Distinct ids in their order; ids no row can hold are left out."""
    return [i for i in dict.fromkeys(ids) if isinstance(i, str) and storable(i)]


class SqlSession(SessionBase):
    """The StorageSession of :class:`~tomorro_scim.storage.sql.SqlStorage`."""

    # -- helpers ------------------------------------------------------------

    def _count(self, resource_type: str, delta: int) -> None:
        self._counted[resource_type] = self._counted.get(resource_type, 0) + delta

    def finish(self) -> None:
        """Record the transaction's changes to the tenant's counts.

        Called last, just before the commit, so the count row (one per tenant
        and type, which concurrent creates all update) is locked for as short
        a time as possible, and after every other lock the transaction takes:
        no two transactions can wait on each other through it.
        """
        for resource_type, delta in sorted(self._counted.items()):
            if delta:
                self._execute(
                    statements.add_to_count(self._sqlite),
                    p_type=resource_type,
                    p_delta=delta,
                )
        self._counted.clear()

    def _next_seq(self, name: str, count: int) -> int:
        """The first of ``count`` new numbers of a per-tenant counter (SQLite).

        Sessions on SQLite begin with ``BEGIN IMMEDIATE``, so the counter and
        the rows numbered with it are written under one lock.
        """
        last: int = self._execute(
            statements.next_seq(), p_name=name, p_count=count
        ).scalar_one()
        return last - count + 1

    def _current(
        self,
        resource_type: str,
        resource_id: str,
        expected_version: int | None,
        adopt: bool,
        *,
        lock: bool = False,
    ) -> Row[Any]:
        """The row a write applies to, or the error a client gets instead."""
        row = self._execute(
            statements.current(resource_type, lock), p_id=resource_id
        ).first()
        if row is None or (not row.managed and not adopt):
            raise NotFound(f"{resource_type} {resource_id[:100]!r} not found")
        if expected_version is not None and row.version != expected_version:
            raise PreconditionFailed(
                f"the resource is at version {row.version}, not {expected_version}"
            )
        return row  # type: ignore[no-any-return]

    @staticmethod
    def _taken(resource_type: str, document: dict[str, Any]) -> Uniqueness:
        if resource_type == USER:
            return Uniqueness(
                f"userName {document.get('userName')!r} is already taken in this tenant"
            )
        return Uniqueness(
            f"displayName {document.get('displayName')!r} is already taken "
            "by another group in this tenant"
        )

    def _columns(self, resource_type: str, document: dict[str, Any]) -> dict[str, Any]:
        text, last_modified = schema.encode_document(document)
        computed = (
            schema.user_columns(document)
            if resource_type == USER
            else schema.group_columns(document)
        )
        return {"document": text, "last_modified": last_modified, **computed}

    def _write_emails(
        self,
        resource_id: str,
        document: dict[str, Any],
        *,
        new: bool,
        had: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Write a user's ``scim_emails`` rows and return them.

        ``new``: the user has none yet. ``had``: the rows it has, when this
        transaction knows them: the same rows again are not rewritten (most
        PATCHes leave the emails alone).
        """
        rows = schema.email_rows(self.tenant, resource_id, document)
        if had is not None and rows == had:
            return rows
        if not new and (had is None or had):
            self._execute(statements.delete_emails(), p_id=resource_id)
        if rows:
            self._run(statements.insert_emails(), rows)
        return rows

    def _remember(
        self,
        resource_type: str,
        resource_id: str,
        values: dict[str, Any],
        email_rows: list[dict[str, Any]] | None,
    ) -> None:
        """Record what a write left in the row (see :class:`.search.Read`)."""
        if resource_type == USER:
            kept = {name: values[name] for name in statements.USER_COMPARED}
            self._read[USER, resource_id] = Read(
                values["user_name_key"], email_rows, kept
            )
        else:
            self._read[GROUP, resource_id] = Read(values["display_name_key"])

    # -- reads --------------------------------------------------------------

    def get(
        self, resource_type: str, resource_id: str, *, include_members: bool = True
    ) -> StoredResource | None:
        if not storable(resource_id):
            return None
        if resource_type == USER:
            return self._get_user(resource_id)
        row = self._execute(statements.group_by_id(), p_id=resource_id).first()
        if row is None:
            return None
        stored = _stored(resource_type, row)
        self._read[GROUP, resource_id] = Read(row.name_key)
        if include_members:
            loaded = self._member_values([resource_id])
            stored.document["members"] = loaded.get(resource_id, [])
        return stored

    def _get_user(self, user_id: str) -> StoredResource | None:
        """The user and, in the same statement, its groups: whoever reads a
        user by id renders it (``groups``) or writes it (roles may follow
        groups), so reading them apart would cost a second round trip."""
        rows = self._execute(statements.user_with_groups(), p_id=user_id).all()
        if not rows or rows[0].part != 0:
            return None
        user = rows[0]
        stored = _stored(USER, user)
        self._groups_of[user_id] = [_stored(GROUP, row) for row in rows[1:]]
        self._read[USER, user_id] = Read(user.name_key, row=user)
        return stored

    def find_user_by_user_name(self, user_name: str) -> StoredResource | None:
        key = comparison_key(schema.USER_NAME, user_name)
        if not isinstance(key, str) or not storable(key):
            return None
        row = self._execute(statements.user_by_name(), p_key=key).first()
        return None if row is None else _stored(USER, row)

    def members(self, group_id: str) -> list[MemberRef]:
        if not storable(group_id):
            return []
        rows = self._execute(statements.member_refs(), p_group=group_id)
        return [
            MemberRef(value=user_id, display=display_name or user_name)
            for user_id, display_name, user_name in rows
        ]

    def user_groups(self, user_id: str) -> list[StoredResource]:
        if not storable(user_id):
            return []
        known = self._groups_of.get(user_id)
        if known is not None:
            return list(known)
        if user_id in self._listed_users:
            # Rendering a page of users asks for each one's groups: one query
            # for the page instead of one per user.
            if self._listed_groups is None:
                self._listed_groups = {u: [] for u in self._listed_users}
                rows = self._execute(
                    statements.groups_of_users(self._sqlite),
                    p_ids=self._ids(list(self._listed_users)),
                )
                for row in rows:
                    self._listed_groups[row.member_id].append(_stored(GROUP, row))
            return list(self._listed_groups[user_id])
        rows = self._execute(statements.groups_of_user(), p_id=user_id)
        return [_stored(GROUP, row) for row in rows]

    def _written(self, *, groups: bool = True) -> None:
        """Forget what reads prepared for a page: a write may change it;
        with ``groups``, also the users' groups (memberships, a group's
        name or version may have moved)."""
        self._listed_users = frozenset()
        self._listed_groups = None
        if groups:
            self._groups_of.clear()

    def existing_user_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = _unique_ids(ids)
        if not wanted:
            return set()
        rows = self._execute(
            statements.existing_users(self._sqlite), p_ids=self._ids(wanted)
        )
        return {row.id for row in rows}

    # -- writes -------------------------------------------------------------

    def insert(
        self,
        resource_type: str,
        document: dict[str, Any],
        *,
        role: str | None,
        managed: bool,
    ) -> StoredResource:
        """Store a new resource, managed or not (the host app's own)."""
        # A new resource is in no group and has no members: nobody's groups move.
        self._written(groups=False)
        resource_id = str(document["id"])
        if not storable(resource_id):
            raise InvalidValue("the id holds a character that cannot be stored")
        values = self._columns(resource_type, document)
        values.update(
            tenant=self.tenant,
            id=resource_id,
            version=1,
            managed=managed,
            role=role,
        )
        if self._sqlite:
            values["seq"] = self._next_seq(statements.table(resource_type).name, 1)
        inserted = self._run(
            statements.insert_resource(resource_type, self._sqlite), values
        ).first()
        if inserted is None:
            # ON CONFLICT DO NOTHING: the id or the name is taken, perhaps by
            # a transaction that committed while this one waited for it.
            taken = self._execute(
                statements.exists_by_id(resource_type), p_id=resource_id
            ).first()
            if taken is not None:
                raise Uniqueness(f"id {resource_id!r} is already taken")
            raise self._taken(resource_type, document)
        rows = None
        if resource_type == USER:
            # The membership rows name existing users: a new one has none.
            self._groups_of[resource_id] = []
            rows = self._write_emails(resource_id, document, new=True)
        self._remember(resource_type, resource_id, values, rows)
        if managed:
            self._count(resource_type, 1)
        return StoredResource(
            id=resource_id,
            resource_type=resource_type,
            document=document,
            version=1,
            managed=managed,
            role=role,
        )

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
        if not storable(resource_id):
            raise NotFound(f"{resource_type} {resource_id[:100]!r} not found")
        known = self._read.pop((resource_type, resource_id), None)
        # A user's new document moves nobody's groups; a group's may (its
        # name, its version).
        self._written(groups=resource_type != USER)
        values = self._columns(resource_type, document)
        key = values["user_name_key" if resource_type == USER else "display_name_key"]
        # The row this transaction read holds the name already: the unique
        # index says no other does, so there is no clash to look for.
        if key is not None and (known is None or known.name_key != key):
            clash = self._execute(
                statements.name_clash(resource_type), p_key=key, p_id=resource_id
            ).first()
            if clash is not None:
                # A missing resource or a stale version is the answer first,
                # as in the memory backend.
                self._current(resource_type, resource_id, expected_version, adopt)
                raise self._taken(resource_type, document)
        adopted = False
        if adopt:
            # Adoption is rare (a POST meeting a user of the host app): read
            # whether it happens, for the count of SCIM's users.
            current = self._current(resource_type, resource_id, expected_version, True)
            adopted = not current.managed
        written = values
        kept = known.columns() if self._sqlite and known is not None else None
        if kept is not None:
            # Only columns whose value moves are set. On SQLite this
            # transaction has held the write lock since before it read the
            # row, so the row still holds what it read; on PostgreSQL another
            # transaction may have changed it since, and every column is set
            # so that the row stays the image of the document written.
            values = {
                name: value
                for name, value in values.items()
                if name not in kept or kept[name] != value
            }
        if role is not None:
            values["role"] = role
        values[statements.ID] = resource_id
        if expected_version is not None:
            values["p_version"] = expected_version
        statement = statements.update_resource(
            resource_type, adopt, expected_version is not None
        )
        try:
            row = self._execute(statement, **values).first()
        except IntegrityError:
            # Another transaction took the name after the check above.
            raise self._taken(resource_type, document) from None
        if row is None:
            self._current(resource_type, resource_id, expected_version, adopt)
            raise NotFound(  # pragma: no cover - _current raised already
                f"{resource_type} {resource_id[:100]!r} not found"
            )
        rows = None
        if resource_type == USER:
            had = known.emails(self.tenant, resource_id) if known else None
            rows = self._write_emails(resource_id, document, new=False, had=had)
        self._remember(resource_type, resource_id, written, rows)
        if adopted:
            self._count(resource_type, 1)
        return StoredResource(
            id=resource_id,
            resource_type=resource_type,
            document=document,
            version=row.version,
            managed=True,
            role=row.role,
        )

    def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> bool:
        if not storable(resource_id):
            return False
        self._read.pop((resource_type, resource_id), None)
        self._written()
        try:
            # Locked, so the version checked is the version deleted.
            self._current(
                resource_type, resource_id, expected_version, False, lock=True
            )
        except NotFound:
            return False
        if resource_type == USER:
            # Its groups lose a member: their versions move, as for any
            # membership change (the rows go with the user, by cascade).
            self._execute(statements.touch_groups_of_user(), p_id=resource_id)
        self._execute(statements.delete_resource(resource_type), p_id=resource_id)
        self._count(resource_type, -1)
        return True

    # -- membership ---------------------------------------------------------

    def _require_group(self, group_id: str) -> None:
        self._written()
        found = (
            storable(group_id)
            and self._execute(statements.managed_group(), p_id=group_id).first()
        )
        if not found:
            raise NotFound(f"Group {group_id[:100]!r} not found")

    def _touch(self, group_id: str, modified: str | None) -> None:
        """A membership change moves the group's version (its ETag) and,
        given ``modified``, its ``meta.lastModified``: two columns, so
        concurrent changes and a rename never overwrite each other."""
        values: dict[str, Any] = {}
        if modified is not None and storable(modified):
            values["last_modified"] = modified
            values["modified_at"] = schema.last_modified_instant(GROUP, modified)
        self._execute(statements.touch_group(), p_id=group_id, **values)

    def _link(self, group_id: str, wanted: Sequence[str]) -> set[str]:
        """Insert the memberships; returns the user ids inserted."""
        parameters: dict[str, Any] = {"p_group": group_id, "p_ids": self._ids(wanted)}
        if self._sqlite:
            parameters["p_base"] = self._next_seq(members.name, len(wanted))
        rows = self._execute(statements.link(self._sqlite), **parameters)
        return {row.user_id for row in rows}

    def add_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        self._require_group(group_id)
        wanted = _unique_ids(member_ids)
        if not wanted:
            return []
        inserted = self._link(group_id, wanted)
        added = [i for i in wanted if i in inserted]
        if added:
            self._touch(group_id, modified)
        return added

    def remove_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        self._require_group(group_id)
        wanted = _unique_ids(member_ids)
        if not wanted:
            return []
        rows = self._execute(
            statements.unlink(self._sqlite, keep=False),
            p_group=group_id,
            p_ids=self._ids(wanted),
        )
        gone = {row.user_id for row in rows}
        removed = [i for i in wanted if i in gone]
        if removed:
            self._touch(group_id, modified)
        return removed

    def replace_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> tuple[list[str], list[str]]:
        self._require_group(group_id)
        wanted = _unique_ids(member_ids)
        if wanted:
            gone = self._execute(
                statements.unlink(self._sqlite, keep=True),
                p_group=group_id,
                p_ids=self._ids(wanted),
            ).all()
        else:
            gone = self._execute(statements.unlink_all(), p_group=group_id).all()
        removed = [row.user_id for row in sorted(gone, key=lambda row: row.seq)]
        inserted = self._link(group_id, wanted) if wanted else set()
        added = [i for i in wanted if i in inserted]
        if added or removed:
            self._touch(group_id, modified)
        return added, removed

    def set_role(self, user_id: str, role: str) -> None:
        if storable(user_id):
            self._execute(statements.set_role(), p_id=user_id, role=role)
