"""Searching: a filter, a sort and a page, in SQL where the columns allow.

:class:`SessionBase` holds what every statement of a session needs (the
connection, the tenant, parameters for lists of ids) and the search itself;
:class:`~.session.SqlSession` adds the reads and writes of single resources.

A search runs one of three ways:

* the unfiltered default order (``_list``): the total from ``scim_counts``,
  the page from the ``(tenant, managed, seq)`` index however deep;
* a filter translated exactly, sorted by a column or not at all
  (``_search_in_sql``): counted, sorted and paged in SQL;
* anything else (``_search_in_python``): SQL narrows with what it can
  translate, the compiled predicate decides on each row left, and a sort
  without a column is done in Python, as the memory backend does it.

A ``keyset`` search (RFC 9865 cursors) takes its page by position: the
first two ways add ``WHERE`` "after (sort value, seq)" to the page's
statement and fetch one row more than the page to learn whether more follow,
so the unfiltered default order reads ``seq > :after`` from the ``(tenant,
managed, seq)`` index — the 20,000th page costs what the first does. The
third way still reads every match (``totalResults`` is exact) and keeps the
rows after the position.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from typing import Final

import attrs
from sqlalchemy import ColumnElement
from sqlalchemy import Connection
from sqlalchemy import Row
from sqlalchemy import Select
from sqlalchemy import Table
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import literal_column
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import true

from ...query import keyset_follows
from ...query import keyset_page
from ...query import page_of
from ...query import sort_key
from ...query import sort_value
from ...schemas import AttributeSchema
from .. import GROUP
from .. import USER
from .. import Keyset
from .. import SearchQuery
from .. import SearchResult
from .. import StoredResource
from . import schema
from . import statements
from .filters import Equality
from .filters import Translation
from .filters import equality
from .filters import translate
from .prepared import is_fixed
from .prepared import run
from .schema import members

__all__ = ["Read", "SessionBase"]

_CHUNK: Final = 500
"""Rows fetched at a time when the filter is finished in Python."""

_table = statements.table
_resource_columns = statements.resource_columns


def stored_resource(resource_type: str, row: Row[Any]) -> StoredResource:
    """The StoredResource of a row read with :func:`.statements.resource_columns`."""
    return StoredResource(
        id=row.id,
        resource_type=resource_type,
        document=schema.decode_document(row.document, row.last_modified),
        version=row.version,
        managed=row.managed,
        role=row.role,
    )


_stored = stored_resource


def _sort_column(resource_type: str, attribute: AttributeSchema) -> Any:
    """The column a sort reads, or ``None`` to sort in Python."""
    sorts = schema.USER_SORTS if resource_type == USER else schema.GROUP_SORTS
    return sorts.get(attribute)


def _after(
    column: Any, seq: Any, after: Keyset, descending: bool
) -> ColumnElement[bool]:
    """Rows after ``after`` in the search order: ``column`` ascending with
    NULLs last or descending with NULLs first (``None`` for the default
    order), ties by ``seq`` ascending. The redundant ``column >= v`` (``<=``)
    gives the planner an index range to start from."""
    tiebreak = int(after.tiebreak)
    if column is None:
        return seq > tiebreak  # type: ignore[no-any-return]
    value = after.value
    if value is None:
        tie = and_(column.is_(None), seq > tiebreak)
        return or_(tie, column.is_not(None)) if descending else tie
    if descending:
        return and_(column <= value, or_(column < value, seq > tiebreak))
    return or_(
        and_(column >= value, or_(column > value, seq > tiebreak)), column.is_(None)
    )


def _keyset_result(
    resource_type: str,
    query: SearchQuery,
    rows: Sequence[Row[Any]],
) -> tuple[list[StoredResource], Keyset | None, bool]:
    """The page of ``rows`` (fetched one beyond it), its last position, and more."""
    more = len(rows) > query.count
    resources = [_stored(resource_type, row) for row in rows[: query.count]]
    last = None
    if resources:
        value = sort_value(query.sort_by)(resources[-1].document)
        last = Keyset(value, rows[len(resources) - 1].seq)
    return resources, last, more


@attrs.frozen
class Read:
    """What a transaction knows of a resource it read or wrote, for a later
    write of it to skip statements whose outcome that already decides.

    A user read by id keeps its ``row`` and derives the rest only when a
    write asks (most reads are never followed by one)."""

    name_key: str | None
    """The folded userName (displayName) the row holds."""
    written_emails: list[dict[str, Any]] | None = None
    """A written user's ``scim_emails`` rows (:func:`.schema.email_rows`)."""
    written_columns: dict[str, Any] | None = None
    """A written user's :data:`.statements.USER_COMPARED` columns."""
    row: Any = None
    """The row a user was read from (:func:`.statements.user_with_groups`)."""

    def emails(self, tenant: str, user_id: str) -> list[dict[str, Any]] | None:
        """The user's ``scim_emails`` rows, if known."""
        if self.row is None:
            return self.written_emails
        document = schema.decode_document(self.row.document, self.row.last_modified)
        return schema.email_rows(tenant, user_id, document)

    def columns(self) -> dict[str, Any] | None:
        """The user's :data:`.statements.USER_COMPARED` columns, if known."""
        if self.row is None:
            return self.written_columns
        return {name: getattr(self.row, name) for name in statements.USER_COMPARED}


class SessionBase:
    """A tenant's transaction: its connection, parameters, and searches."""

    def __init__(self, tenant: str, connection: Connection) -> None:
        self.tenant = tenant
        self._connection = connection
        self._sqlite = connection.dialect.name == "sqlite"
        self._counted: dict[str, int] = {}
        """Managed resources created (+) and deleted (-) by this transaction."""
        self._listed_users: frozenset[str] = frozenset()
        """The users of the last page searched, whose groups load together."""
        self._listed_groups: dict[str, list[StoredResource]] | None = None
        self._page_groups: dict[str, list[StoredResource]] | None = None
        """The groups of a page's users, when the search read them with it."""
        self._groups_of: dict[str, list[StoredResource]] = {}
        """Users' groups as this transaction knows them (read with the user,
        or none for a user it created), until a write may change them."""
        self._read: dict[tuple[str, str], Read] = {}
        """What this transaction read or wrote of single resources."""

    # -- statements ---------------------------------------------------------

    def _execute(self, statement: Any, **parameters: Any) -> Any:
        """Run a statement for this tenant (``p_tenant`` is set)."""
        return self._run(statement, {statements.TENANT: self.tenant, **parameters})

    def _run(self, statement: Any, parameters: Any) -> Any:
        """Run a statement with its parameters (a list of sets: once for
        each): a fixed one on the driver's cursor (:mod:`.prepared`), a
        search through SQLAlchemy."""
        if is_fixed(statement):
            return run(self._connection, statement, parameters)
        return self._connection.execute(statement, parameters)

    def _ids(self, ids: Sequence[str]) -> Any:
        """The ``p_ids`` parameter of :func:`.statements.in_ids`."""
        return json.dumps(list(ids)) if self._sqlite else list(ids)

    def _member_values(self, group_ids: Sequence[str]) -> dict[str, list[Any]]:
        """``{"value": id}`` lists of several groups' members, in one query."""
        found: dict[str, list[Any]] = {}
        if not group_ids:
            return found
        rows = self._execute(
            statements.member_values(self._sqlite), p_ids=self._ids(group_ids)
        )
        for group_id, user_id in rows:
            found.setdefault(group_id, []).append({"value": user_id})
        return found

    # -- search -------------------------------------------------------------

    def search(self, resource_type: str, query: SearchQuery) -> SearchResult:
        self._page_groups = None
        result = self._search(resource_type, query)
        if resource_type == USER:
            self._listed_users = frozenset(r.id for r in result.resources)
            # Read with the page, or on the first ask (session.user_groups).
            self._listed_groups, self._page_groups = self._page_groups, None
        return result

    def _search(self, resource_type: str, query: SearchQuery) -> SearchResult:
        table = _table(resource_type)
        compiled = query.filter
        if (
            compiled is not None
            and query.sort_by is None
            and not query.keyset
            and query.count > 0
            and (found := equality(compiled, resource_type)) is not None
        ):
            return self._search_equal(resource_type, query, found)
        translation = (
            translate(compiled, resource_type, self._sqlite)
            if compiled is not None
            else Translation(true(), exact=True)
        )
        where = and_(
            table.c.tenant == self.tenant,
            schema.managed(table),
            translation.condition,
        )
        column = (
            _sort_column(resource_type, query.sort_by)
            if query.sort_by is not None
            else None
        )
        order: list[Any] = [table.c.seq]
        if column is not None:
            ranked = (
                column.desc().nulls_first()
                if query.descending
                else column.asc().nulls_last()
            )
            # Ties keep the default order, both ways (Python's stable sort).
            order = [ranked, table.c.seq]
        elif translation.selective:
            # An equality on an indexed key (userName, externalId, ...) finds
            # a row or two: sorting them beats walking the default order's
            # index, which SQLite, without statistics, would otherwise pick.
            order = [table.c.seq + literal_column("0")]
        if not translation.exact or (query.sort_by is not None and column is None):
            return self._search_in_python(
                resource_type, query, where, order, sort_in_sql=column is not None
            )
        if compiled is None and query.sort_by is None:
            return self._list(resource_type, query)
        if query.keyset:
            return self._keyset_in_sql(resource_type, query, where, order, column)
        return self._search_in_sql(resource_type, query, where, order)

    def _count_rows(self, table: Table, where: ColumnElement[bool]) -> int:
        total: int = self._execute(
            select(func.count()).select_from(table).where(where)
        ).scalar_one()
        return total

    def _list(self, resource_type: str, query: SearchQuery) -> SearchResult:
        """The unfiltered default order: the total from the tenant's count, and
        the page from the (tenant, managed, seq) index, however deep."""
        stored = self._execute(statements.count_total(), p_type=resource_type).scalar()
        # The count row moves at commit; this transaction's own creates and
        # deletes are not in it yet.
        total = (stored or 0) + self._counted.get(resource_type, 0)
        if query.count <= 0:
            return SearchResult(total=total, resources=[])
        table = _table(resource_type)
        page = select(*_resource_columns(table)).where(
            table.c.tenant == bindparam(statements.TENANT), schema.managed(table)
        )
        if query.keyset:
            if query.after is not None:
                page = page.where(table.c.seq > bindparam("p_after"))
            rows = self._execute(
                page.order_by(table.c.seq).limit(bindparam("p_count")),
                p_after=int(query.after.tiebreak) if query.after is not None else 0,
                p_count=query.count + 1,
            ).all()
            resources, last, more = _keyset_result(resource_type, query, rows)
            self._attach_members(resource_type, query, resources)
            return SearchResult(total=total, resources=resources, last=last, more=more)
        offset = max(0, query.start_index - 1)
        if offset:
            page = page.where(table.c.seq >= statements.deep_page_start(resource_type))
        rows = self._execute(
            page.order_by(table.c.seq).limit(bindparam("p_count")),
            p_offset=offset,
            p_count=query.count,
        ).all()
        resources = [_stored(resource_type, row) for row in rows]
        self._attach_members(resource_type, query, resources)
        return SearchResult(total=total, resources=resources)

    def _search_in_sql(
        self,
        resource_type: str,
        query: SearchQuery,
        where: ColumnElement[bool],
        order: list[Any],
    ) -> SearchResult:
        table = _table(resource_type)
        if query.count <= 0:
            return SearchResult(total=self._count_rows(table, where), resources=[])
        offset = max(0, query.start_index - 1)
        rows = self._execute(
            select(*_resource_columns(table))
            .where(where)
            .order_by(*order)
            .limit(query.count)
            .offset(offset)
        ).all()
        if 0 < len(rows) < query.count or (offset == 0 and not rows):
            total = offset + len(rows)  # the page reached the end
        else:
            total = self._count_rows(table, where)
        resources = [_stored(resource_type, row) for row in rows]
        self._attach_members(resource_type, query, resources)
        return SearchResult(total=total, resources=resources)

    def _search_equal(
        self, resource_type: str, query: SearchQuery, found: Equality
    ) -> SearchResult:
        """:meth:`_search_in_sql` for one ``eq`` on a column, with statements
        built once: an IdP's match query costs what a read by id does."""
        offset = max(0, query.start_index - 1)
        if resource_type == USER:
            rows = self._users_equal(found, query.count, offset)
        else:
            rows = self._execute(
                statements.search_equal(resource_type, found.column, found.selective),
                p_value=found.value,
                p_count=query.count,
                p_offset=offset,
            ).all()
        if 0 < len(rows) < query.count or (offset == 0 and not rows):
            total = offset + len(rows)  # the page reached the end
        else:
            total = self._execute(
                statements.count_equal(resource_type, found.column),
                p_value=found.value,
            ).scalar_one()
        resources = [_stored(resource_type, row) for row in rows]
        self._attach_members(resource_type, query, resources)
        return SearchResult(total=total, resources=resources)

    def _keyset_in_sql(
        self,
        resource_type: str,
        query: SearchQuery,
        where: ColumnElement[bool],
        order: list[Any],
        column: Any,
    ) -> SearchResult:
        """A filter translated exactly, paged by position in SQL."""
        table = _table(resource_type)
        if query.count <= 0:
            return SearchResult(total=self._count_rows(table, where), resources=[])
        page = where
        if query.after is not None:
            page = and_(
                where, _after(column, table.c.seq, query.after, query.descending)
            )
        rows = self._execute(
            select(*_resource_columns(table))
            .where(page)
            .order_by(*order)
            .limit(query.count + 1)
        ).all()
        if query.after is None and len(rows) <= query.count:
            total = len(rows)  # the first page holds every match
        else:
            total = self._count_rows(table, where)
        resources, last, more = _keyset_result(resource_type, query, rows)
        self._attach_members(resource_type, query, resources)
        return SearchResult(total=total, resources=resources, last=last, more=more)

    def _users_equal(self, found: Equality, count: int, offset: int) -> list[Any]:
        """The page of users :meth:`_search_equal` asks for; their groups,
        read in the same statement, wait in ``_page_groups``."""
        rows = self._execute(
            statements.search_equal_with_groups(found.column, found.selective),
            p_value=found.value,
            p_count=count,
            p_offset=offset,
        ).all()
        users = [row for row in rows if row.part == 0]
        groups: dict[str, list[StoredResource]] = {row.id: [] for row in users}
        for row in rows[len(users) :]:
            groups[row.member_id].append(_stored(GROUP, row))
        self._page_groups = groups
        return users

    def _attach_members(
        self,
        resource_type: str,
        query: SearchQuery,
        resources: Sequence[StoredResource],
    ) -> None:
        if resource_type != GROUP or not query.include_members or not resources:
            return
        loaded = self._member_values([r.id for r in resources])
        for resource in resources:
            resource.document["members"] = loaded.get(resource.id, [])

    def _search_in_python(
        self,
        resource_type: str,
        query: SearchQuery,
        where: ColumnElement[bool],
        order: list[Any],
        *,
        sort_in_sql: bool,
    ) -> SearchResult:
        """Narrow in SQL, then run the compiled predicate on each row left.

        Only the page is kept unless the sort has no column, in which case the
        matches are sorted here as the memory backend sorts them (a stable
        sort of the default order).
        """
        table = _table(resource_type)
        compiled = query.filter
        predicate = compiled.predicate if compiled is not None else None
        # The predicate sees members only when it reads them, as in memory.
        with_members = (
            resource_type == GROUP
            and compiled is not None
            and compiled.references("members")
        )
        loaded = self._narrowed_members(table, where) if with_members else {}
        statement: Select[Any] = (
            select(*_resource_columns(table)).where(where).order_by(*order)
        )
        keep_all = query.sort_by is not None and not sort_in_sql
        begin = max(0, query.start_index - 1)
        end = begin + max(0, query.count)
        matched = 0
        kept: list[tuple[Row[Any], dict[str, Any]]] = []
        value_of = sort_value(query.sort_by)
        after = query.after
        keyset = query.keyset and not keep_all
        following = 0
        """Matches after the position, in a keyset search in SQL's order."""
        result = self._connection.execution_options(yield_per=_CHUNK).execute(statement)
        for row in result:
            document = schema.decode_document(row.document, row.last_modified)
            if with_members:
                document["members"] = loaded.get(row.id, [])
            if predicate is not None and not predicate(document):
                continue
            matched += 1
            if keyset:
                if (
                    following
                    or after is None
                    or keyset_follows(
                        value_of(document), row.seq, after, query.descending
                    )
                ):
                    if following < query.count:
                        kept.append((row, document))
                    following += 1
            elif keep_all or begin <= matched - 1 < end:
                kept.append((row, document))
        last: Keyset | None = None
        more = False
        if keyset and kept:
            row, document = kept[-1]
            last = Keyset(value_of(document), row.seq)
            more = following > len(kept)
        if keep_all:
            assert query.sort_by is not None
            key = sort_key(query.sort_by)
            kept.sort(key=lambda item: key(item[1]), reverse=query.descending)
            if query.keyset:
                page, last, more = keyset_page(
                    kept,
                    lambda item: value_of(item[1]),
                    lambda item: item[0].seq,
                    after,
                    query.descending,
                    query.count,
                )
                kept = list(page)
            else:
                kept = list(page_of(kept, query.start_index, query.count))
        resources = []
        for row, document in kept:
            stored = _stored(resource_type, row)
            if with_members and query.include_members:
                stored.document["members"] = document["members"]
            resources.append(stored)
        if not with_members:
            self._attach_members(resource_type, query, resources)
        return SearchResult(total=matched, resources=resources, last=last, more=more)

    def _narrowed_members(
        self, table: Table, where: ColumnElement[bool]
    ) -> dict[str, list[Any]]:
        """The members of every group the narrowed search reads, in one query."""
        rows = self._execute(
            select(members.c.group_id, members.c.user_id)
            .select_from(
                members.join(
                    table,
                    and_(
                        table.c.tenant == members.c.tenant,
                        table.c.id == members.c.group_id,
                    ),
                )
            )
            .where(where)
            .order_by(members.c.seq)
        )
        found: dict[str, list[Any]] = {}
        for group_id, user_id in rows:
            found.setdefault(group_id, []).append({"value": user_id})
        return found
