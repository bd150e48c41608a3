"""The storage contract kit: prove that a backend keeps every promise of the protocol.

Every backend — the memory one, the SQL one on SQLite and on PostgreSQL, and
the one a host app writes for its own tables — runs these same tests (DESIGN
rule 6). They use nothing but the :class:`~tomorro_scim.storage.Storage` and
:class:`~tomorro_scim.storage.StorageSession` protocols, so a backend that
passes them works under :class:`~tomorro_scim.service.ScimService`.

Subclass :class:`StorageContract` in a test module and say how to make your
storage::

    # tests/test_my_storage.py
    from tomorro_scim.testing import StorageContract

    from myapp.scim import MyStorage


    class TestMyStorage(StorageContract):
        def make_storage(self):
            return MyStorage(database_url="sqlite://")

        # Optional: how the host app makes users and groups of its own,
        # which SCIM must not see until it adopts them.
        def add_unmanaged_user(self, storage, tenant, document):
            storage.insert_app_user(tenant, document)

        def add_unmanaged_group(self, storage, tenant, document):
            storage.insert_app_group(tenant, document)

Run ``pytest``: the inherited ``test_*`` methods are collected for your class.
Pytest does not collect :class:`StorageContract` itself, since its name does
not start with ``Test``. For assertion messages that show the values compared,
have pytest rewrite the kit's asserts, in your ``conftest.py``::

    import pytest

    pytest.register_assert_rewrite("tomorro_scim.testing")

The kit needs pytest (a development dependency, not one of the library's);
its tests take a few seconds on an in-memory or SQLite backend.

The hooks:

* :meth:`StorageContract.make_storage` (required): a storage to test. A fresh
  one per test is simplest; a shared one (one PostgreSQL database) works too,
  because every test uses tenant names and token ids of its own.
* :meth:`StorageContract.close_storage`: called after each test (default: nothing).
* :meth:`StorageContract.add_unmanaged_user` and
  :meth:`StorageContract.add_unmanaged_group`: store a resource the host app
  made, not SCIM. By default they call the storage's ``add_app_user`` /
  ``add_app_group`` (as :class:`~tomorro_scim.storage.memory.MemoryStorage`
  has), and the tests that need them are skipped when there are none.

**An async backend** (an
:class:`~tomorro_scim.storage.asynchronous.AsyncStorage`) runs the same tests
through :class:`AsyncStorageContract`: subclass it and define
:meth:`~AsyncStorageContract.make_async_storage` (and, to release it,
``async def close_async_storage(self, storage)``)::

    from tomorro_scim.testing import AsyncStorageContract


    class TestMyAsyncStorage(AsyncStorageContract):
        def make_async_storage(self):
            return MyAsyncStorage(database_url="sqlite+aiosqlite://")

        async def close_async_storage(self, storage):
            await storage.close()

Each test gets a fresh event loop in a thread of its own; the storage is
made, used and closed on it (an async engine serves one loop), and the tests
see it through :func:`blocking_view`, which runs each coroutine to completion
there while the test waits. Nothing is copied: the tests are the synchronous
ones, and what they prove holds for the async backend. Its other coroutine
methods (``add_app_user``, say) are awaited the same way, so the default
:meth:`~StorageContract.add_unmanaged_user` works for it too.
:func:`blocking_view` serves other tests as well, given a ``run`` that waits
on the loop the storage already serves (an ASGI test client's, say).

The documents the tests write are built by :func:`user_document` and
:func:`group_document`, in the canonical JSON form the service hands a
storage: ``id`` set, ``meta`` without ``version``, no group ``members``.

What the kit holds a backend to, beyond the protocol's docstrings:

* Strings compare as the filter engine compares them
  (:func:`tomorro_scim.filter.comparison_key`): ``userName`` and group
  ``displayName`` uniqueness, filters and sorting fold case and Unicode
  composition (NFC); ``externalId`` and ``id`` are case-exact. ``dateTime``
  values compare as instants whatever their offset or precision.
* Search results agree with the compiled filter's predicate, sorted values
  missing last ascending and first descending (RFC 7644 §3.4.2.3).
* A membership write returns exactly the ids it changed, moves the group's
  version only when something changed, and raises
  :class:`~tomorro_scim.errors.NotFound` for an id that names no managed
  group of the tenant. Members keep the order they were added in. Deleting a
  user takes it out of its groups and moves their versions.
* ``replace`` raises :class:`~tomorro_scim.errors.NotFound` for a resource it
  cannot see and keeps the stored role when given ``role=None``.
* Leaving a session by an exception undoes every write made in it, member
  order and the default search order included.
* A backend with ``keyset_paging = True`` pages by position (RFC 9865
  cursors) in exactly the order of paging by index, each resource once,
  with ties and missing sort values, filters finished in SQL or in Python,
  and positions that survive writes made between pages.
"""

from __future__ import annotations

from ._base import group_document
from ._base import user_document
from ._blocking import AsyncStorageHooks
from ._blocking import BlockingStorage
from ._blocking import EventLoopThread
from ._blocking import blocking_view
from ._consistency import ConsistencyContract
from ._cursor import CursorContract
from ._isolation import IsolationContract
from ._membership import MembershipContract
from ._resources import ResourceContract
from ._search import SearchContract

__all__ = [
    "AsyncStorageContract",
    "BlockingStorage",
    "EventLoopThread",
    "StorageContract",
    "blocking_view",
    "group_document",
    "user_document",
]


class StorageContract(
    ResourceContract,
    IsolationContract,
    ConsistencyContract,
    SearchContract,
    CursorContract,
    MembershipContract,
):
    """The storage contract as pytest tests; subclass it as ``Test<YourBackend>``.

    Override :meth:`make_storage` (required), and :meth:`close_storage`,
    :meth:`add_unmanaged_user` and :meth:`add_unmanaged_group` as needed.
    """


class AsyncStorageContract(AsyncStorageHooks, StorageContract):
    """The storage contract for an async backend; subclass it as ``Test<YourBackend>``.

    Override :meth:`make_async_storage` (required) and
    :meth:`close_async_storage`, and :meth:`add_unmanaged_user` and
    :meth:`add_unmanaged_group` as needed (their ``storage`` is then the
    :class:`BlockingStorage` view).
    """
