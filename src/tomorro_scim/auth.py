"""Tenants and bearer tokens.

A token is ``tscim_<id>_<secret>``: the id is a public lookup key, the secret
is 256 random bits of which only a SHA-256 hash is stored. Authenticating looks
the record up by id — never by scanning hashes — and compares the hash in
constant time. A fast hash is enough because the secret is random, not a
password; there is nothing to brute-force.

A host app with its own scheme (an Entra-issued JWT, an API gateway that has
already authenticated) passes any callable that takes a
:class:`~tomorro_scim.http.ScimRequest` and returns the tenant name, raising
:class:`~tomorro_scim.errors.Unauthorized` when it cannot.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import cast

import attrs

from .errors import Unauthorized
from .http import ScimRequest
from .storage import Storage
from .storage import TokenRecord
from .storage.asynchronous import AsyncStorage
from .storage.asynchronous import as_async_storage
from .storage.asynchronous import is_async_storage
from .storage.asynchronous import run_sync

__all__ = [
    "AsyncTokenManager",
    "Authenticator",
    "BearerTokenAuthenticator",
    "IssuedToken",
    "TokenManager",
    "parse_token",
]

Authenticator = Callable[[ScimRequest], str | Awaitable[str]]
"""Returns the tenant the request acts for, or raises ``Unauthorized``.

It may return an awaitable of the tenant instead; only
:meth:`~tomorro_scim.service.ScimService.handle_async` can wait for one that
really suspends."""

_PREFIX = "tscim"


@attrs.frozen
class IssuedToken:
    """A newly issued token. ``token`` is shown once and never stored."""

    token: str = attrs.field(repr=False)
    record: TokenRecord


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_token(token: str) -> tuple[str, str] | None:
    """Split a token into (id, secret), or ``None`` if it is not one of ours."""
    prefix, sep, rest = token.partition("_")
    token_id, sep2, secret = rest.partition("_")
    if prefix != _PREFIX or not sep or not sep2 or not token_id or not secret:
        return None
    return token_id, secret


def _split(token: str) -> tuple[str, str]:
    """(lookup id, secret) of any token.

    A token of another format (one an admin chose) has no id part; the start
    of its own SHA-256 serves as one, which is still a lookup, never a scan.
    """
    parts = parse_token(token)
    if parts is not None:
        return parts
    return "h" + hashlib.sha256(token.encode()).hexdigest()[:16], token


class AsyncTokenManager:
    """Issue, list and revoke a tenant's tokens, awaited (for an async storage).

    The logic of :class:`TokenManager`, which runs this on a synchronous storage.
    """

    def __init__(self, storage: Storage | AsyncStorage) -> None:
        self._storage = as_async_storage(storage)

    async def issue(
        self, tenant: str, label: str = "", *, token: str | None = None
    ) -> IssuedToken:
        """Issue a token for ``tenant``; keep ``IssuedToken.token``, it is not stored.

        ``token`` lets a deployment choose the secret (a value from its
        secret manager, or the one already pasted into Entra); it must be at
        least 20 characters long.
        """
        if not tenant:
            raise ValueError("a tenant name is required")
        if token is None:
            token_id = secrets.token_hex(8)
            secret = secrets.token_urlsafe(32)
            token = f"{_PREFIX}_{token_id}_{secret}"
        else:
            if len(token) < 20 or any(c.isspace() for c in token):
                raise ValueError("a chosen token needs 20+ characters and no spaces")
            token_id, secret = _split(token)
        if await self._storage.find_token(token_id) is not None:
            raise ValueError(f"a token with id {token_id!r} already exists")
        record = TokenRecord(
            token_id=token_id,
            tenant=tenant,
            secret_hash=_hash(secret),
            created=datetime.now(UTC).isoformat(),
            label=label,
        )
        await self._storage.save_token(record)
        return IssuedToken(token=token, record=record)

    async def ensure(
        self, tenant: str, token: str, label: str = ""
    ) -> tuple[TokenRecord, bool]:
        """Make sure ``token`` authenticates ``tenant``; ``(record, created)``.

        A server restarted with the same configured token finds it stored
        already and keeps it; a token stored for another tenant, or revoked,
        is refused with ``ValueError``.
        """
        token_id, secret = _split(token)
        record = await self._storage.find_token(token_id)
        if record is None:
            return (await self.issue(tenant, label, token=token)).record, True
        if not hmac.compare_digest(record.secret_hash, _hash(secret)):
            raise ValueError(f"a different token with id {token_id!r} already exists")
        if record.tenant != tenant:
            raise ValueError("that token already belongs to another tenant")
        if record.revoked:
            raise ValueError("that token has been revoked")
        return record, False

    async def tokens(self, tenant: str) -> list[TokenRecord]:
        return await self._storage.list_tokens(tenant)

    async def revoke(self, token_id: str) -> bool:
        return await self._storage.revoke_token(token_id)


class TokenManager:
    """Issue, list and revoke a tenant's tokens (what a "SCIM settings" screen does).

    For a synchronous storage; :class:`AsyncTokenManager` awaits an async one.
    """

    def __init__(self, storage: Storage) -> None:
        self._manager = AsyncTokenManager(storage)

    def issue(
        self, tenant: str, label: str = "", *, token: str | None = None
    ) -> IssuedToken:
        """See :meth:`AsyncTokenManager.issue`."""
        return run_sync(self._manager.issue(tenant, label, token=token))

    def ensure(
        self, tenant: str, token: str, label: str = ""
    ) -> tuple[TokenRecord, bool]:
        """See :meth:`AsyncTokenManager.ensure`."""
        return run_sync(self._manager.ensure(tenant, token, label))

    def tokens(self, tenant: str) -> list[TokenRecord]:
        """The tenant's tokens, revoked ones included."""
        return run_sync(self._manager.tokens(tenant))

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by id; ``False`` if there is none."""
        return run_sync(self._manager.revoke(token_id))


class BearerTokenAuthenticator:
    """Authenticates ``Authorization: Bearer tscim_…`` against the storage's tokens.

    Several live tokens per tenant are allowed, so a rotation issues the new
    token, updates the IdP, then revokes the old one without downtime.
    """

    def __init__(self, storage: Storage | AsyncStorage) -> None:
        self._storage = storage
        self._async_storage = as_async_storage(storage)
        self._is_async = is_async_storage(storage)

    def __call__(self, request: ScimRequest) -> str | Awaitable[str]:
        """The tenant of a synchronous storage's token; an awaitable of it for an async one."""
        header = request.header("authorization")
        if not header:
            raise Unauthorized("the Authorization header is missing")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthorized("a Bearer token is required")
        token_id, secret = _split(credentials.strip())
        if self._is_async:
            return self._verify_later(self._async_storage, token_id, secret)
        return _verify(cast(Storage, self._storage).find_token(token_id), secret)

    @staticmethod
    async def _verify_later(storage: AsyncStorage, token_id: str, secret: str) -> str:
        return _verify(await storage.find_token(token_id), secret)


def _verify(record: TokenRecord | None, secret: str) -> str:
    """The tenant ``record`` grants to ``secret``, or ``Unauthorized``."""
    # The comparison runs even without a record so a missing id and a
    # wrong secret take the same time.
    expected = record.secret_hash if record is not None else b"\0" * 32
    presented = _hash(secret)
    if not hmac.compare_digest(expected, presented) or record is None:
        raise Unauthorized("the token is not valid")
    if record.revoked:
        raise Unauthorized("the token has been revoked")
    return record.tenant
