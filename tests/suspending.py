"""An async storage for tests: the memory storage behind coroutines that really suspend.

Every call first yields to the event loop (``asyncio.sleep(0)``), so a code
path that forgot an ``await``, or that drives a handler without a loop, fails
here instead of passing by accident.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from tomorro_scim.storage import StorageSession
from tomorro_scim.storage import TokenRecord
from tomorro_scim.storage.memory import MemoryStorage


def _suspending(call: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def suspend_then_call(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return call(*args, **kwargs)

    return suspend_then_call


class SuspendingSession:
    def __init__(self, session: StorageSession) -> None:
        self._session = session
        self.tenant = session.tenant

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        return _suspending(getattr(self._session, name))


class _Transaction:
    def __init__(self, transaction: AbstractContextManager[StorageSession]) -> None:
        self._transaction = transaction

    async def __aenter__(self) -> SuspendingSession:
        await asyncio.sleep(0)
        return SuspendingSession(self._transaction.__enter__())

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        await asyncio.sleep(0)
        return self._transaction.__exit__(kind, error, trace)


class SuspendingStorage:
    """An :class:`~tomorro_scim.storage.asynchronous.AsyncStorage` over a memory storage."""

    keyset_paging = True

    def __init__(self, inner: MemoryStorage | None = None) -> None:
        self.inner = inner or MemoryStorage()

    def session(self, tenant: str) -> _Transaction:
        return _Transaction(self.inner.session(tenant))

    async def save_token(self, record: TokenRecord) -> None:
        await asyncio.sleep(0)
        self.inner.save_token(record)

    async def find_token(self, token_id: str) -> TokenRecord | None:
        await asyncio.sleep(0)
        return self.inner.find_token(token_id)

    async def list_tokens(self, tenant: str) -> list[TokenRecord]:
        await asyncio.sleep(0)
        return self.inner.list_tokens(tenant)

    async def revoke_token(self, token_id: str) -> bool:
        await asyncio.sleep(0)
        return self.inner.revoke_token(token_id)

    async def cursor_secret(self) -> bytes:
        await asyncio.sleep(0)
        return b"s" * 32
