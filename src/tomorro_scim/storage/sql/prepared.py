"""The fixed statements, compiled once and run on the driver's cursor.

Every request runs a handful of statements whose shape never changes (the
token lookup, a user by id, the writes of :mod:`.statements`). Through
:meth:`sqlalchemy.engine.Connection.execute`, each costs several times what
SQLite takes to run it: measured in process, about 15 µs of SQLAlchemy's own
work (execution context, cache key, result wrapping, events) against 2.5 µs
in the driver, several times per request. So a statement built once
(:func:`fixed`) is compiled once per dialect and parameter set by SQLAlchemy
itself, with its public API (:meth:`~sqlalchemy.sql.expression.ClauseElement.compile`,
``positiontup``, :meth:`~sqlalchemy.sql.compiler.SQLCompiler.construct_params`,
and each type's ``bind_processor``/``result_processor``), and then run
straight on the DBAPI cursor of the connection's transaction.

What SQLAlchemy would add, this keeps: the parameters and the rows go
through the column types' processors (booleans, the UTC instants), the
schema a storage maps its tables to is rendered in, and a driver's error is
raised as SQLAlchemy's (:class:`~sqlalchemy.exc.IntegrityError` and the
rest), so callers catch what they caught before. And where somebody watches
the statements (a ``before_cursor_execute`` or ``after_cursor_execute``
listener on the engine, as SQL logging and tracing use, or ``echo``), every
statement goes through SQLAlchemy as before, so they see each one.

Searches, whose statements are built per call, still go through SQLAlchemy.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from functools import cache
from functools import wraps
from typing import Any
from typing import Final
from typing import ParamSpec
from typing import TypeVar
from typing import cast

from sqlalchemy import Connection
from sqlalchemy import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import NoResultFound
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.expression import Executable

__all__ = ["Rows", "fixed", "is_fixed", "run"]

P = ParamSpec("P")
S = TypeVar("S")

_FIXED: Final[dict[int, Any]] = {}
"""The statements :func:`fixed` built, by ``id`` (each kept alive here)."""

_SCHEMA_MAP: Final = "schema_translate_map"


def fixed(build: Callable[P, S]) -> Callable[P, S]:
    """Cache ``build`` (as :func:`functools.cache`) and mark what it builds
    as a fixed statement, which :func:`run` runs on the driver's cursor."""

    @wraps(build)
    def built(*args: P.args, **kwargs: P.kwargs) -> S:
        statement = build(*args, **kwargs)
        _FIXED[id(statement)] = statement
        return statement

    return cast("Callable[P, S]", cache(built))


def is_fixed(statement: object) -> bool:
    """Whether ``statement`` was built by a :func:`fixed` function."""
    return _FIXED.get(id(statement)) is statement


class Rows:
    """The rows of a statement, in the part of :class:`~sqlalchemy.engine.Result`'s
    interface the sessions use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise NoResultFound(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]


class _Compiled:
    """One statement compiled for one dialect and parameter set."""

    __slots__ = ("binds", "defaults", "names", "positional", "results", "row", "sql")

    def __init__(
        self,
        statement: Any,
        dialect: Dialect,
        mapping: Mapping[Any, Any] | None,
        keys: Sequence[str],
    ) -> None:
        dml = isinstance(statement, UpdateBase)
        compiled = statement.compile(
            dialect=dialect,
            column_keys=list(keys) if dml else None,
            schema_translate_map=mapping,
            render_schema_translate=bool(mapping),
        )
        self.sql: str = compiled.string
        order = compiled.positiontup
        self.positional = order is not None
        self.names: tuple[str, ...] = tuple(
            order if order is not None else dict.fromkeys(compiled.bind_names.values())
        )
        self.defaults: dict[str, Any] = {}
        self.binds: dict[str, Callable[[Any], Any]] = {}
        for name in self.names:
            bind = compiled.binds[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.binds[name] = processor
            if not bind.required:
                self.defaults[name] = bind.effective_value
        columns = statement.exported_columns if dml else statement.selected_columns
        self.results: list[tuple[int, Callable[[Any], Any]]] = []
        for index, column in enumerate(columns):
            processor = column.type.dialect_impl(dialect).result_processor(
                dialect, None
            )
            if processor is not None:
                self.results.append((index, processor))
        self.row: Any = namedtuple(  # type: ignore[misc]
            "Row", list(columns.keys()), rename=True
        )

    def parameters(self, given: Mapping[str, Any]) -> Any:
        values = []
        for name in self.names:
            value = given[name] if name in given else self.defaults[name]
            processor = self.binds.get(name)
            values.append(
                processor(value)
                if processor is not None and value is not None
                else value
            )
        return (
            tuple(values)
            if self.positional
            else dict(zip(self.names, values, strict=True))
        )

    def rows(self, fetched: Sequence[Any]) -> list[Any]:
        make = self.row._make
        if not self.results:
            return [make(row) for row in fetched]
        made = []
        for raw in fetched:
            row = list(raw)
            for index, processor in self.results:
                row[index] = processor(row[index])
            made.append(make(row))
        return made


_COMPILED: Final[dict[tuple[Any, ...], _Compiled]] = {}


def _compiled(
    statement: Executable, connection: Connection, given: Mapping[str, Any]
) -> _Compiled:
    """``statement`` compiled for ``connection`` and the keys of ``given``
    (in their order: a call site passes its keys in one order, and another
    order only costs one more entry)."""
    dialect = connection.dialect
    mapping = connection.get_execution_options().get(_SCHEMA_MAP)
    key = (
        id(statement),
        dialect.name,
        dialect.driver,
        tuple(sorted(mapping.items(), key=repr)) if mapping else None,
        *given,
    )
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = _Compiled(statement, dialect, mapping, sorted(given))
    return found


def _watched(connection: Connection) -> bool:
    """Whether SQLAlchemy would show the statements to somebody."""
    dispatch = connection.dispatch
    return bool(
        dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
        or connection.engine.echo
    )


def run(
    connection: Connection,
    statement: Executable,
    parameters: dict[str, Any] | Sequence[dict[str, Any]],
) -> Rows:
    """Run a :func:`fixed` statement on ``connection``'s DBAPI cursor, in
    its transaction; a list of parameter sets runs it once for each. (Through
    :meth:`~sqlalchemy.engine.Connection.execute` while the statements are
    watched.)"""
    if _watched(connection):
        return connection.execute(statement, parameters)  # type: ignore[return-value]
    sets = [parameters] if isinstance(parameters, dict) else parameters
    many = sets is parameters
    if not sets:
        return Rows([], 0)
    compiled = _compiled(statement, connection, sets[0])
    values = [compiled.parameters(given) for given in sets]
    raw = connection.connection.dbapi_connection
    assert raw is not None  # set while the connection is checked out
    dialect = connection.dialect
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(compiled.sql, values)
        else:
            cursor.execute(compiled.sql, values[0])
        fetched = cursor.fetchall() if cursor.description is not None else []
        return Rows(compiled.rows(fetched), cursor.rowcount)
    except dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(
            compiled.sql,
            values if many else values[0],
            error,
            dialect.loaded_dbapi.Error,
            dialect=dialect,
        ) from error
    finally:
        cursor.close()
