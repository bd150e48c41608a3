"""The async storage contract, and the bridge that lets one set of handlers serve both.

An async backend (SQLAlchemy's asyncio extension, asyncpg, an async ORM)
implements :class:`AsyncStorage`: the same methods as
:class:`~tomorro_scim.storage.Storage` and
:class:`~tomorro_scim.storage.StorageSession`, with the same meaning, written
as coroutines, and an ``async with`` session.

The service's handlers are written once, against this async contract. A
synchronous backend is seen through :class:`SyncStorageBridge`, whose
coroutines call the backend directly and never suspend; :func:`run_sync`
then runs a handler to completion in one step, without an event loop. So the
synchronous entry point and the async one run the same lines of protocol
code; only who drives them differs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any
from typing import ParamSpec
from typing import Protocol
from typing import TypeVar
from typing import cast
from typing import runtime_checkable

from . import MemberRef
from . import SearchQuery
from . import SearchResult
from . import Storage
from . import StorageSession
from . import StoredResource
from . import TokenRecord

__all__ = [
    "AsyncStorage",
    "AsyncStorageSession",
    "AwaitedSession",
    "SyncStorageBridge",
    "as_async_storage",
    "event_loop_face",
    "is_async_storage",
    "run_sync",
]

P = ParamSpec("P")
T = TypeVar("T")


@runtime_checkable
class AsyncStorageSession(Protocol):
    """One tenant's transaction, awaited: see :class:`~tomorro_scim.storage.StorageSession`."""

    tenant: str

    async def get(
        self, resource_type: str, resource_id: str, *, include_members: bool = True
    ) -> StoredResource | None: ...

    async def search(self, resource_type: str, query: SearchQuery) -> SearchResult: ...

    async def find_user_by_user_name(self, user_name: str) -> StoredResource | None: ...

    async def create(
        self, resource_type: str, document: dict[str, Any], *, role: str | None = None
    ) -> StoredResource: ...

    async def replace(
        self,
        resource_type: str,
        resource_id: str,
        document: dict[str, Any],
        *,
        expected_version: int | None = None,
        role: str | None = None,
        adopt: bool = False,
    ) -> StoredResource: ...

    async def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> bool: ...

    async def add_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]: ...

    async def remove_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]: ...

    async def replace_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> tuple[list[str], list[str]]: ...

    async def members(self, group_id: str) -> list[MemberRef]: ...

    async def user_groups(self, user_id: str) -> list[StoredResource]: ...

    async def existing_user_ids(self, ids: Iterable[str]) -> set[str]: ...

    async def set_role(self, user_id: str, role: str) -> None: ...


@runtime_checkable
class AsyncStorage(Protocol):
    """An async backend: see :class:`~tomorro_scim.storage.Storage`.

    The service treats a storage as async when its ``find_token`` is a
    coroutine function (``async def``), see :func:`is_async_storage`.

    ``session(tenant)`` returns an async context manager that commits when
    the block ends normally and rolls back when it raises. The optional
    ``keyset_paging`` attribute and ``cursor_secret()`` (here a coroutine)
    mean what they mean for a synchronous backend.
    """

    def session(self, tenant: str) -> AbstractAsyncContextManager[AsyncStorageSession]:
        """A transaction on ``tenant``'s data."""
        ...

    async def save_token(self, record: TokenRecord) -> None: ...

    async def find_token(self, token_id: str) -> TokenRecord | None: ...

    async def list_tokens(self, tenant: str) -> list[TokenRecord]: ...

    async def revoke_token(self, token_id: str) -> bool: ...


def is_async_storage(storage: object) -> bool:
    """Whether ``storage`` is an async backend (its token lookup is a coroutine)."""
    return inspect.iscoroutinefunction(getattr(storage, "find_token", None))


def event_loop_face(storage: object) -> AsyncStorage | None:
    """A synchronous storage's face for an event loop, if it offers one.

    A storage may define ``on_event_loop()``, returning an
    :class:`AsyncStorage` over the same data that serves a loop better than
    worker threads would (or ``None`` where threads serve it better):
    :class:`~tomorro_scim.storage.sql.SqlStorage` does, on SQLite.
    """
    make = getattr(storage, "on_event_loop", None)
    if not callable(make):
        return None
    face = make()
    if face is not None and not is_async_storage(face):
        raise TypeError(f"{type(storage).__name__}.on_event_loop() is not async")
    return cast("AsyncStorage | None", face)


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, without an event loop.

    Everything awaited on the synchronous path is a :class:`SyncStorageBridge`
    call, which returns at once; a coroutine that does suspend was given
    something truly asynchronous and is refused.
    """
    try:
        coroutine.send(None)
    except StopIteration as finished:
        result: T = finished.value
        return result
    coroutine.close()
    raise RuntimeError(
        "an async storage or authenticator is awaited by ScimService.handle_async "
        "and AsyncTokenManager, not by handle() or TokenManager"
    )


class AwaitedSession:
    """A synchronous session seen as an :class:`AsyncStorageSession`.

    Every method goes through :meth:`call`, which here calls the session
    directly and never suspends (the bridge :func:`run_sync` relies on). A
    subclass that runs the calls elsewhere overrides only :meth:`call`: the
    async SQL storage runs them on its connection's greenlet bridge.
    """

    __slots__ = ("session", "tenant")

    def __init__(self, session: StorageSession) -> None:
        self.session = session
        self.tenant = session.tenant

    async def call(
        self, method: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run one of the session's methods; the result is awaited."""
        return method(*args, **kwargs)

    async def get(
        self, resource_type: str, resource_id: str, *, include_members: bool = True
    ) -> StoredResource | None:
        return await self.call(
            self.session.get,
            resource_type,
            resource_id,
            include_members=include_members,
        )

    async def search(self, resource_type: str, query: SearchQuery) -> SearchResult:
        return await self.call(self.session.search, resource_type, query)

    async def find_user_by_user_name(self, user_name: str) -> StoredResource | None:
        return await self.call(self.session.find_user_by_user_name, user_name)

    async def create(
        self, resource_type: str, document: dict[str, Any], *, role: str | None = None
    ) -> StoredResource:
        return await self.call(self.session.create, resource_type, document, role=role)

    async def replace(
        self,
        resource_type: str,
        resource_id: str,
        document: dict[str, Any],
        *,
        expected_version: int | None = None,
        role: str | None = None,
        adopt: bool = False,
    ) -> StoredResource:
        return await self.call(
            self.session.replace,
            resource_type,
            resource_id,
            document,
            expected_version=expected_version,
            role=role,
            adopt=adopt,
        )

    async def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> bool:
        return await self.call(
            self.session.delete,
            resource_type,
            resource_id,
            expected_version=expected_version,
        )

    async def add_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        return await self.call(
            self.session.add_members, group_id, member_ids, modified=modified
        )

    async def remove_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        return await self.call(
            self.session.remove_members, group_id, member_ids, modified=modified
        )

    async def replace_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> tuple[list[str], list[str]]:
        return await self.call(
            self.session.replace_members, group_id, member_ids, modified=modified
        )

    async def members(self, group_id: str) -> list[MemberRef]:
        return await self.call(self.session.members, group_id)

    async def user_groups(self, user_id: str) -> list[StoredResource]:
        return await self.call(self.session.user_groups, user_id)

    async def existing_user_ids(self, ids: Iterable[str]) -> set[str]:
        return await self.call(self.session.existing_user_ids, ids)

    async def set_role(self, user_id: str, role: str) -> None:
        await self.call(self.session.set_role, user_id, role)


class _TransactionBridge(AbstractAsyncContextManager[AsyncStorageSession]):
    """A synchronous session's ``with`` block, entered with ``async with``."""

    __slots__ = ("_transaction",)

    def __init__(self, transaction: AbstractContextManager[StorageSession]) -> None:
        self._transaction = transaction

    async def __aenter__(self) -> AsyncStorageSession:
        return AwaitedSession(self._transaction.__enter__())

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        return self._transaction.__exit__(kind, error, trace)


class SyncStorageBridge:
    """A synchronous :class:`~tomorro_scim.storage.Storage` seen as an :class:`AsyncStorage`.

    Its coroutines call the backend directly and never suspend, so code
    written against :class:`AsyncStorage` runs on a synchronous backend
    through :func:`run_sync`, with no event loop and no thread.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def session(self, tenant: str) -> AbstractAsyncContextManager[AsyncStorageSession]:
        return _TransactionBridge(self.storage.session(tenant))

    async def save_token(self, record: TokenRecord) -> None:
        self.storage.save_token(record)

    async def find_token(self, token_id: str) -> TokenRecord | None:
        return self.storage.find_token(token_id)

    async def list_tokens(self, tenant: str) -> list[TokenRecord]:
        return self.storage.list_tokens(tenant)

    async def revoke_token(self, token_id: str) -> bool:
        return self.storage.revoke_token(token_id)


def as_async_storage(storage: Storage | AsyncStorage) -> AsyncStorage:
    """``storage`` itself when it is async, else a :class:`SyncStorageBridge` over it."""
    if is_async_storage(storage):
        return storage  # type: ignore[return-value]
    return SyncStorageBridge(storage)  # type: ignore[arg-type]
