"""Tenants and bearer tokens: issued once, stored hashed, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import attrs
import pytest

from tomorro_scim import auth
from tomorro_scim.auth import BearerTokenAuthenticator
from tomorro_scim.auth import TokenManager
from tomorro_scim.auth import parse_token
from tomorro_scim.errors import Unauthorized
from tomorro_scim.http import ScimRequest
from tomorro_scim.storage.memory import MemoryStorage

CHOSEN = "a-secret-the-admin-chose-0123456789"


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def manager(storage: MemoryStorage) -> TokenManager:
    return TokenManager(storage)


def request(authorization: str | None) -> ScimRequest:
    headers = {} if authorization is None else {"Authorization": authorization}
    return ScimRequest("GET", "/Users", headers=headers)


# -- issuing, listing, revoking -----------------------------------------------


def test_issued_token_has_the_documented_shape(manager: TokenManager) -> None:
    issued = manager.issue("acme", "Entra")
    parts = parse_token(issued.token)
    assert parts is not None
    token_id, secret = parts
    assert issued.token.startswith("tscim_")
    assert issued.record.token_id == token_id
    assert issued.record.tenant == "acme"
    assert issued.record.label == "Entra"
    assert issued.record.revoked is False
    assert len(secret) >= 40  # 256 random bits, url-safe base64


def test_only_a_hash_is_stored(manager: TokenManager, storage: MemoryStorage) -> None:
    issued = manager.issue("acme")
    _, secret = parse_token(issued.token) or ("", "")
    record = storage.find_token(issued.record.token_id)
    assert record is not None
    assert record.secret_hash == hashlib.sha256(secret.encode()).digest()
    for value in (repr(record), *map(str, attrs.astuple(record))):
        assert secret not in value
        assert issued.token not in value
    assert issued.token not in repr(issued)


def test_each_token_is_new(manager: TokenManager) -> None:
    tokens = {manager.issue("acme").token for _ in range(20)}
    assert len(tokens) == 20


def test_list_and_revoke(manager: TokenManager) -> None:
    first = manager.issue("acme", "old")
    second = manager.issue("acme", "new")
    manager.issue("globex")
    assert {t.token_id for t in manager.tokens("acme")} == {
        first.record.token_id,
        second.record.token_id,
    }
    assert manager.revoke(first.record.token_id) is True
    assert manager.revoke("no-such-id") is False
    revoked = {t.token_id: t.revoked for t in manager.tokens("acme")}
    assert revoked == {first.record.token_id: True, second.record.token_id: False}


def test_a_tenant_is_required(manager: TokenManager) -> None:
    with pytest.raises(ValueError, match="tenant"):
        manager.issue("")


@pytest.mark.parametrize("token", ["short", "x" * 19, "has a space in it 0123456789"])
def test_a_chosen_token_must_be_long_and_without_spaces(
    manager: TokenManager, token: str
) -> None:
    with pytest.raises(ValueError, match="20"):
        manager.issue("acme", token=token)


def test_a_chosen_token_authenticates(
    manager: TokenManager, storage: MemoryStorage
) -> None:
    issued = manager.issue("acme", token=CHOSEN)
    assert issued.token == CHOSEN
    assert issued.record.token_id.startswith("h")
    assert CHOSEN not in repr(issued.record)
    assert BearerTokenAuthenticator(storage)(request(f"Bearer {CHOSEN}")) == "acme"


def test_a_chosen_token_of_our_own_format_keeps_its_id(
    manager: TokenManager, storage: MemoryStorage
) -> None:
    token = "tscim_0011223344556677_" + "s" * 30
    issued = manager.issue("acme", token=token)
    assert issued.record.token_id == "0011223344556677"
    assert BearerTokenAuthenticator(storage)(request(f"Bearer {token}")) == "acme"


def test_the_same_chosen_token_twice_is_refused(manager: TokenManager) -> None:
    manager.issue("acme", token=CHOSEN)
    with pytest.raises(ValueError, match="already exists"):
        manager.issue("globex", token=CHOSEN)


@pytest.mark.parametrize(
    ("token", "parts"),
    [
        ("tscim_abc_def", ("abc", "def")),
        ("tscim_abc_def_ghi", ("abc", "def_ghi")),
        ("tscim__def", None),
        ("tscim_abc_", None),
        ("tscim_abc", None),
        ("other_abc_def", None),
        ("", None),
    ],
)
def test_parse_token(token: str, parts: tuple[str, str] | None) -> None:
    assert parse_token(token) == parts


# -- authenticating ------------------------------------------------------------


@pytest.fixture
def issued(manager: TokenManager) -> str:
    return manager.issue("acme").token


@pytest.fixture
def authenticate(storage: MemoryStorage) -> BearerTokenAuthenticator:
    return BearerTokenAuthenticator(storage)


def test_a_valid_token_names_its_tenant(
    authenticate: BearerTokenAuthenticator, issued: str
) -> None:
    assert authenticate(request(f"Bearer {issued}")) == "acme"
    assert authenticate(request(f"bearer   {issued}  ")) == "acme"
    assert authenticate(request(f"BEARER {issued}")) == "acme"


def test_tokens_of_different_tenants(
    manager: TokenManager, authenticate: BearerTokenAuthenticator
) -> None:
    acme = manager.issue("acme").token
    globex = manager.issue("globex").token
    assert authenticate(request(f"Bearer {acme}")) == "acme"
    assert authenticate(request(f"Bearer {globex}")) == "globex"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer   ",
        "Basic dXNlcjpwYXNz",
        "Token tscim_a_b",
    ],
)
def test_missing_or_wrong_scheme_is_401(
    authenticate: BearerTokenAuthenticator, header: str | None
) -> None:
    with pytest.raises(Unauthorized) as caught:
        authenticate(request(header))
    assert caught.value.status == 401


def test_unknown_id_is_401(authenticate: BearerTokenAuthenticator, issued: str) -> None:
    with pytest.raises(Unauthorized):
        authenticate(request("Bearer tscim_0000000000000000_" + "x" * 43))
    with pytest.raises(Unauthorized):
        authenticate(request("Bearer some-random-token-nobody-issued"))


def test_wrong_secret_is_401(
    authenticate: BearerTokenAuthenticator, issued: str
) -> None:
    token_id, secret = parse_token(issued) or ("", "")
    with pytest.raises(Unauthorized):
        authenticate(request(f"Bearer tscim_{token_id}_{secret[:-1]}X"))
    with pytest.raises(Unauthorized):
        authenticate(request(f"Bearer {issued.upper()}"))


def test_revoked_token_is_401(
    authenticate: BearerTokenAuthenticator, manager: TokenManager, issued: str
) -> None:
    token_id, _ = parse_token(issued) or ("", "")
    assert manager.revoke(token_id)
    with pytest.raises(Unauthorized, match="revoked"):
        authenticate(request(f"Bearer {issued}"))


def test_errors_never_echo_the_token(
    authenticate: BearerTokenAuthenticator, issued: str
) -> None:
    for header in (f"Bearer {issued}x", f"Basic {issued}"):
        with pytest.raises(Unauthorized) as caught:
            authenticate(request(header))
        assert issued not in caught.value.detail


def test_comparison_is_constant_time(
    authenticate: BearerTokenAuthenticator,
    issued: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DESIGN rule 7. The comparison also runs for an unknown id, so a missing
    id and a wrong secret take the same path."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert authenticate(request(f"Bearer {issued}")) == "acme"
    assert len(calls) == 1
    with pytest.raises(Unauthorized):
        authenticate(request(f"Bearer {issued}x"))
    assert len(calls) == 2
    with pytest.raises(Unauthorized):
        authenticate(request("Bearer tscim_0000000000000000_" + "x" * 43))
    assert len(calls) == 3
    assert all(len(a) == len(b) == 32 for a, b in calls)


def test_ensure_reuses_a_configured_token_and_refuses_clashes() -> None:
    """A server restarted with its configured token keeps it (cli ``serve``)."""
    storage = MemoryStorage()
    manager = TokenManager(storage)
    token = "configured-secret-token-0123456789"
    record, created = manager.ensure("acme", token)
    assert created
    again, created_again = manager.ensure("acme", token)
    assert not created_again
    assert again == record
    with pytest.raises(ValueError, match="another tenant"):
        manager.ensure("globex", token)
    manager.revoke(record.token_id)
    with pytest.raises(ValueError, match="revoked"):
        manager.ensure("acme", token)
