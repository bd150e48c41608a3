"""An async storage seen through the synchronous protocol, for the contract kit.

:func:`blocking_view` wraps an
:class:`~tomorro_scim.storage.asynchronous.AsyncStorage` so that every call
runs its coroutine to completion and returns the result; the kit's tests,
written once against :class:`~tomorro_scim.storage.Storage`, then run on it
unchanged (:class:`AsyncStorageContract`). The coroutines run on one event
loop in a thread of the view's own, the one the storage serves for its whole
life (an async engine belongs to one loop), while the test waits.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any
from typing import Protocol
from typing import TypeVar

from ..storage import MemberRef
from ..storage import SearchQuery
from ..storage import SearchResult
from ..storage import Storage
from ..storage import StorageSession
from ..storage import StoredResource
from ..storage import TokenRecord
from ..storage.asynchronous import AsyncStorage
from ..storage.asynchronous import AsyncStorageSession
from ._base import ContractBase

__all__ = [
    "AsyncStorageHooks",
    "BlockingStorage",
    "EventLoopThread",
    "Runner",
    "blocking_view",
]

T = TypeVar("T")


class Runner(Protocol):
    """Runs a coroutine to completion from a thread without a running loop."""

    def __call__(self, coroutine: Coroutine[Any, Any, T], /) -> T: ...


class EventLoopThread:
    """An event loop running in a daemon thread; :meth:`run` waits for a
    coroutine on it from any other thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name="tomorro-scim-event-loop", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and return its result (or raise its error)."""
        if threading.get_ident() == self._thread.ident:
            coroutine.close()
            raise RuntimeError("a blocking view cannot wait on its own event loop")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        """Stop the loop and its thread, then close the loop."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


class _BlockingSession:
    """An :class:`~tomorro_scim.storage.asynchronous.AsyncStorageSession`
    seen as a :class:`~tomorro_scim.storage.StorageSession`."""

    def __init__(self, session: AsyncStorageSession, run: Runner) -> None:
        self._session = session
        self._run = run
        self.tenant = session.tenant

    def get(
        self, resource_type: str, resource_id: str, *, include_members: bool = True
    ) -> StoredResource | None:
        return self._run(
            self._session.get(
                resource_type, resource_id, include_members=include_members
            )
        )

    def search(self, resource_type: str, query: SearchQuery) -> SearchResult:
        return self._run(self._session.search(resource_type, query))

    def find_user_by_user_name(self, user_name: str) -> StoredResource | None:
        return self._run(self._session.find_user_by_user_name(user_name))

    def create(
        self, resource_type: str, document: dict[str, Any], *, role: str | None = None
    ) -> StoredResource:
        return self._run(self._session.create(resource_type, document, role=role))

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
        return self._run(
            self._session.replace(
                resource_type,
                resource_id,
                document,
                expected_version=expected_version,
                role=role,
                adopt=adopt,
            )
        )

    def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> bool:
        return self._run(
            self._session.delete(
                resource_type, resource_id, expected_version=expected_version
            )
        )

    def add_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        return self._run(
            self._session.add_members(group_id, member_ids, modified=modified)
        )

    def remove_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> list[str]:
        return self._run(
            self._session.remove_members(group_id, member_ids, modified=modified)
        )

    def replace_members(
        self, group_id: str, member_ids: Iterable[str], *, modified: str | None = None
    ) -> tuple[list[str], list[str]]:
        return self._run(
            self._session.replace_members(group_id, member_ids, modified=modified)
        )

    def members(self, group_id: str) -> list[MemberRef]:
        return self._run(self._session.members(group_id))

    def user_groups(self, user_id: str) -> list[StoredResource]:
        return self._run(self._session.user_groups(user_id))

    def existing_user_ids(self, ids: Iterable[str]) -> set[str]:
        return self._run(self._session.existing_user_ids(ids))

    def set_role(self, user_id: str, role: str) -> None:
        self._run(self._session.set_role(user_id, role))


class _BlockingTransaction(AbstractContextManager[StorageSession]):
    """An async session's ``async with`` block, entered with ``with``.

    The async context manager is made on the loop too, in case making it
    needs one."""

    def __init__(self, storage: AsyncStorage, tenant: str, run: Runner) -> None:
        self._storage = storage
        self._tenant = tenant
        self._run = run
        self._transaction: AbstractAsyncContextManager[AsyncStorageSession] | None = (
            None
        )

    async def _enter(self) -> AsyncStorageSession:
        self._transaction = self._storage.session(self._tenant)
        return await self._transaction.__aenter__()

    def __enter__(self) -> StorageSession:
        return _BlockingSession(self._run(self._enter()), self._run)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        assert self._transaction is not None
        return self._run(self._transaction.__aexit__(kind, error, trace))


class BlockingStorage:
    """An :class:`~tomorro_scim.storage.asynchronous.AsyncStorage` seen as a
    synchronous :class:`~tomorro_scim.storage.Storage`: see :func:`blocking_view`.

    Attributes the protocol does not name are the async storage's own
    (``keyset_paging``, say); its other coroutine methods
    (``add_app_user``, ``cursor_secret``, …) are run to completion too.
    """

    def __init__(
        self,
        storage: AsyncStorage,
        run: Runner | None = None,
        *,
        loop: EventLoopThread | None = None,
    ) -> None:
        self.storage = storage
        """The async storage seen."""
        self._loop: EventLoopThread | None = None
        if run is None:
            self._loop = loop or EventLoopThread()
            run = self._loop.run
        self.run: Runner = run
        """Runs a coroutine on the storage's loop and waits for its result."""

    def __getattr__(self, name: str) -> Any:
        if name in ("storage", "run", "_loop"):  # not set yet
            raise AttributeError(name)
        found = getattr(self.storage, name)
        if not inspect.iscoroutinefunction(found):
            return found

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self.run(found(*args, **kwargs))

        return blocking

    def session(self, tenant: str) -> AbstractContextManager[StorageSession]:
        return _BlockingTransaction(self.storage, tenant, self.run)

    def save_token(self, record: TokenRecord) -> None:
        self.run(self.storage.save_token(record))

    def find_token(self, token_id: str) -> TokenRecord | None:
        return self.run(self.storage.find_token(token_id))

    def list_tokens(self, tenant: str) -> list[TokenRecord]:
        return self.run(self.storage.list_tokens(tenant))

    def revoke_token(self, token_id: str) -> bool:
        return self.run(self.storage.revoke_token(token_id))

    def close(self) -> None:
        """Stop the view's own event loop, if it has one (close the storage first)."""
        if self._loop is not None:
            self._loop.close()


def blocking_view(storage: AsyncStorage, run: Runner | None = None) -> BlockingStorage:
    """``storage`` seen through the synchronous protocol.

    Each call runs the storage's coroutine to completion with ``run``: by
    default on an event loop in a thread of the view's own, which
    :meth:`BlockingStorage.close` stops. Pass ``run`` to wait on a loop the
    storage already serves instead (an ASGI test client's, say). Call the
    view from a thread that is not running that loop.
    """
    return BlockingStorage(storage, run)


class AsyncStorageHooks(ContractBase):
    """The kit's hooks for an async backend (see
    :class:`~tomorro_scim.testing.AsyncStorageContract`): the storage is made,
    used and closed on one event loop, and the tests see it through
    :class:`BlockingStorage`."""

    def make_async_storage(self) -> AsyncStorage:
        """Return the async storage to test (required); called on its event loop."""
        raise NotImplementedError(
            f"{type(self).__name__} must define make_async_storage() "
            "returning an AsyncStorage"
        )

    async def close_async_storage(self, storage: AsyncStorage) -> None:
        """Release what :meth:`make_async_storage` opened, on its event loop."""

    def make_storage(self) -> Storage:
        loop = EventLoopThread()
        try:
            storage = loop.run(self._made())
        except BaseException:
            loop.close()
            raise
        return BlockingStorage(storage, loop=loop)

    async def _made(self) -> AsyncStorage:
        return self.make_async_storage()

    def close_storage(self, storage: Storage) -> None:
        assert isinstance(storage, BlockingStorage)
        try:
            storage.run(self.close_async_storage(storage.storage))
        finally:
            storage.close()
