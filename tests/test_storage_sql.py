"""The SQL backend on SQLite and PostgreSQL: the storage contract kit, plus
what only it promises (schema versions, SQLite settings, durability).

PostgreSQL tests need ``TOMORRO_SCIM_TEST_POSTGRES_URL`` (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and skip without it;
each run keeps its tables in a schema of its own, dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy import update

from tomorro_scim.storage import USER
from tomorro_scim.storage import SearchQuery
from tomorro_scim.storage import Storage
from tomorro_scim.storage.sql import SCHEMA_VERSION
from tomorro_scim.storage.sql import SchemaVersionError
from tomorro_scim.storage.sql import SqlStorage
from tomorro_scim.storage.sql import migrations
from tomorro_scim.storage.sql import schema
from tomorro_scim.storage.sql import upgrade_database
from tomorro_scim.testing import StorageContract
from tomorro_scim.testing import user_document

POSTGRES_URL = os.environ.get("TOMORRO_SCIM_TEST_POSTGRES_URL", "")

requires_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="set TOMORRO_SCIM_TEST_POSTGRES_URL to run on PostgreSQL"
)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL schema of this test run's own, dropped afterwards."""
    name = f"scim_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(POSTGRES_URL)
    try:
        yield name
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


def postgres_storage(name: str) -> SqlStorage:
    return SqlStorage(POSTGRES_URL, schema=name)


def each_sql_backend(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStorage]:
    """One storage on a fresh SQLite file or PostgreSQL schema, closed (and the
    schema dropped) afterwards; PostgreSQL skips when its URL is unset.

    The body of a module-scoped fixture parametrised over both databases.
    """
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp(backend) / "scim.db"
        storage = SqlStorage(f"sqlite:///{path}")
        yield storage
        storage.close()
        return
    if not POSTGRES_URL:
        pytest.skip("set TOMORRO_SCIM_TEST_POSTGRES_URL to run on PostgreSQL")
    with postgres_schema() as name:
        storage = postgres_storage(name)
        yield storage
        storage.close()


class TestSqliteStorage(StorageContract):
    """A fresh database file per test."""

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path

    def make_storage(self) -> Storage:
        return SqlStorage(f"sqlite:///{self.directory / 'scim.db'}")

    def close_storage(self, storage: Storage) -> None:
        assert isinstance(storage, SqlStorage)
        storage.close()


class TestSqliteMemoryStorage(StorageContract):
    """``sqlite://``: one in-memory database shared by the sessions."""

    def make_storage(self) -> Storage:
        return SqlStorage("sqlite://")


@requires_postgres
class TestPostgresStorage(StorageContract):
    """One schema for the whole class: the kit's tenants keep tests apart."""

    @pytest.fixture(autouse=True)
    def _shared(self, postgres: SqlStorage) -> None:
        self.shared = postgres

    def make_storage(self) -> Storage:
        return self.shared


@pytest.fixture(scope="module")
def postgres() -> Iterator[SqlStorage]:
    if not POSTGRES_URL:
        pytest.skip("set TOMORRO_SCIM_TEST_POSTGRES_URL to run on PostgreSQL")
    with postgres_schema() as name:
        storage = postgres_storage(name)
        yield storage
        storage.close()


# -- schema versions -----------------------------------------------------------


def test_a_new_database_is_created_at_the_current_version(tmp_path: Path) -> None:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'new.db'}")
    assert storage.found_version == 0
    assert storage.schema_version == SCHEMA_VERSION
    storage.close()
    again = SqlStorage(f"sqlite:///{tmp_path / 'new.db'}")
    assert again.found_version == SCHEMA_VERSION
    again.close()


def test_create_false_refuses_an_empty_database(tmp_path: Path) -> None:
    with pytest.raises(SchemaVersionError, match="db upgrade"):
        SqlStorage(f"sqlite:///{tmp_path / 'empty.db'}", create=False)


def _set_version(storage: SqlStorage, version: int) -> None:
    with storage.engine.begin() as connection:
        connection.execute(update(schema.schema_version).values(version=version))


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    storage = SqlStorage(url)
    _set_version(storage, SCHEMA_VERSION + 1)
    storage.close()
    with pytest.raises(SchemaVersionError, match="newer"):
        SqlStorage(url)
    with pytest.raises(SchemaVersionError, match="newer"):
        upgrade_database(url)


def test_an_older_database_needs_an_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'older.db'}"
    SqlStorage(url).close()
    # Pretend this code is one version ahead, with a step adding a column.
    steps: list[int] = []

    def step(connection: Connection) -> None:
        steps.append(1)
        connection.execute(text("ALTER TABLE scim_users ADD COLUMN extra TEXT"))

    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(migrations.STEPS, SCHEMA_VERSION + 1, step)
    with pytest.raises(SchemaVersionError, match="older"):
        SqlStorage(url)
    assert upgrade_database(url) == (SCHEMA_VERSION, SCHEMA_VERSION + 1)
    assert steps == [1]
    storage = SqlStorage(url)
    assert storage.schema_version == SCHEMA_VERSION + 1
    storage.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'wal.db'}", sqlite_busy_timeout=2)
    with storage.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2000
    storage.close()


def test_data_survives_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'durable.db'}"
    storage = SqlStorage(url)
    with storage.session("t") as session:
        created = session.create(USER, user_document("alice"), role="Admin")
    storage.close()
    reopened = SqlStorage(url)
    with reopened.session("t") as session:
        found = session.find_user_by_user_name("ALICE")
        assert found is not None
        assert found.id == created.id
        assert found.role == "Admin"
        assert session.search(USER, SearchQuery()).total == 1
    reopened.close()


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        SqlStorage("mysql+pymysql://nobody@localhost/none")


_KILLED_WRITER = """
import os, signal, sys
from tomorro_scim.storage import USER
from tomorro_scim.storage.sql import SqlStorage
from tomorro_scim.testing import user_document
storage = SqlStorage(sys.argv[1])
with storage.session("t") as session:
    session.create(USER, user_document("committed"))
session = storage.session("t")
open_session = session.__enter__()
open_session.create(USER, user_document("uncommitted"))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_kill_9_keeps_what_was_committed(tmp_path: Path) -> None:
    """A process killed without closing anything: the committed user is
    there, the one of the open transaction is not."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'killed.db'}"
    process = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, url], check=False, timeout=60
    )
    assert process.returncode == -9
    storage = SqlStorage(url)
    with storage.session("t") as session:
        assert session.find_user_by_user_name("committed") is not None
        assert session.find_user_by_user_name("uncommitted") is None
    storage.close()


def test_an_unfiltered_total_counts_the_sessions_own_writes(tmp_path: Path) -> None:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'count.db'}")
    with storage.session("t") as session:
        first = session.create(USER, user_document("alice"))
        session.create(USER, user_document("bob"))
        assert session.search(USER, SearchQuery(count=0)).total == 2
        session.delete(USER, first.id)
        assert session.search(USER, SearchQuery()).total == 1
    with storage.session("t") as session:
        assert session.search(USER, SearchQuery(count=0)).total == 1
    storage.close()


# -- the command line ------------------------------------------------------------


def test_db_upgrade_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tomorro_scim import cli

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert cli.main(["db", "upgrade", "--database", url]) == 0
    assert "created the SCIM tables" in capsys.readouterr().out
    assert cli.main(["db", "upgrade", "--database", url]) == 0
    assert "up to date" in capsys.readouterr().out
    storage = SqlStorage(url)
    _set_version(storage, SCHEMA_VERSION + 1)
    storage.close()
    assert cli.main(["db", "upgrade", "--database", url]) == 1
    assert "newer" in capsys.readouterr().err
    assert cli.main(["db", "upgrade", "--database", "mysql://x/y"]) == 1


def test_serve_opens_sql_databases_and_refuses_unknown_versions(
    tmp_path: Path,
) -> None:
    from tomorro_scim import cli

    url = f"sqlite:///{tmp_path / 'serve.db'}"
    storage = cli._open_storage(url)
    assert isinstance(storage, SqlStorage)
    _set_version(storage, SCHEMA_VERSION + 1)
    storage.close()
    with pytest.raises(SystemExit, match="newer"):
        cli._open_storage(url)
    with pytest.raises(SystemExit, match="SQLite or PostgreSQL"):
        cli._open_storage("mysql://db/scim")
