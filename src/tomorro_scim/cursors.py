"""RFC 9865 cursors: opaque, signed, expiring positions in a search's order.

Where each behaviour comes from:

* RFC 9865 §2 (Table 1): ``cursor`` empty or absent asks for the first page;
  a cursor holds only characters of RFC 3986 §2.3's unreserved set. Ours are
  base64url without padding and a ``.``: ``A-Z a-z 0-9``, ``-``, ``_`` and ``.``.
* RFC 9865 §2 (Table 2): ``nextCursor`` is in every page but the last;
  ``previousCursor`` is OPTIONAL and not issued here.
* RFC 9865 §2 ("the client MUST query ... with all query parameters and values
  being identical ... with the exception of the cursor"): a cursor is bound to
  the tenant, the resource type, the filter and the sort it was issued for;
  used with others it is ``400 invalidCursor`` (§2.1, Table 3).
* RFC 9865 §2.1 (Table 3): a cursor that is garbled, tampered with, or not
  one this server issued is ``400 invalidCursor``; one older than
  ``cursorTimeout`` is ``400 expiredCursor``.
* RFC 9865 §4: ``cursorTimeout`` is the minimum number of seconds a cursor
  stays valid; the service advertises the timeout it enforces.
* RFC 9865 §5 (Security Considerations): possession of a cursor grants
  nothing. Every page is searched in the authenticated tenant only, and a
  cursor carries no data the client could not see (a sort value of the last
  resource it was given, and a sequence number); the server keeps no state
  per cursor, so cursors cost nothing to issue (§5.3, Availability).

The format: ``base64url(payload) "." base64url(HMAC-SHA256(key, payload))``,
where the payload is compact JSON ``{"v": 1, "f": <fingerprint>, "t":
<issued at, Unix seconds>, "k": [<sort value>, <tiebreak>]}``. The
fingerprint is a SHA-256 prefix of the tenant, resource type, filter text,
``sortBy`` and ``sortOrder``. The HMAC key is derived from a secret: the
``cursor_secret`` setting, else the storage's ``cursor_secret()`` (shared by
every process on the same database for :class:`~.storage.sql.SqlStorage`),
else a random one per service (one process only).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .errors import ExpiredCursor
from .errors import InvalidCursor
from .storage import Keyset

__all__ = ["CursorCodec", "cursor_fingerprint"]

_VERSION = 1


def cursor_fingerprint(
    tenant: str,
    resource_type: str,
    filter_text: str,
    sort_by: str | None,
    descending: bool,
) -> str:
    """What a cursor is bound to: the query parameters that shape the order."""
    material = json.dumps(
        [tenant, resource_type, filter_text, (sort_by or "").lower(), descending],
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return datetime.fromisoformat(value["dt"])
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise ValueError("not a sort value")


class CursorCodec:
    """Issues and checks cursors with one key and one timeout.

    :param secret: the shared secret the signing key is derived from.
    :param timeout: seconds a cursor stays valid (RFC 9865 §4 ``cursorTimeout``).
    :param clock: the current Unix time, in seconds.
    """

    def __init__(self, secret: bytes, timeout: int, clock: Callable[[], float]) -> None:
        self._key = hmac.new(secret, b"tomorro-scim cursor v1", "sha256").digest()
        self.timeout = timeout
        self._clock = clock

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, "sha256").digest()

    def encode(self, fingerprint: str, position: Keyset) -> str:
        """A ``nextCursor`` for the page after ``position``."""
        payload = json.dumps(
            {
                "v": _VERSION,
                "f": fingerprint,
                "t": int(self._clock()),
                "k": [_encode_value(position.value), position.tiebreak],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, cursor: str, fingerprint: str) -> Keyset:
        """The position a cursor resumes after.

        :raises InvalidCursor: garbled, tampered with, or issued for another query.
        :raises ExpiredCursor: issued longer than ``timeout`` seconds ago.
        """
        invalid = InvalidCursor(
            "the cursor is not one this server issued for this query; send an "
            "empty cursor for the first page, then each page's nextCursor"
        )
        # No length limit of its own: a cursor carries a sort value as long
        # as the stored one, and the request's size limits already bound it
        # (max_body_bytes, the server's URL limit). Only the HMAC is computed
        # before the signature holds, a linear and cheap step.
        body, dot, signature = cursor.partition(".")
        if not dot:
            raise invalid
        try:
            payload = _unb64(body)
            mac = _unb64(signature)
        except (binascii.Error, ValueError):
            raise invalid from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise invalid
        # Signed by us from here on: the structure is ours.
        try:
            data = json.loads(payload)
            issued = int(data["t"])
            value, tiebreak = data["k"]
            position = Keyset(_decode_value(value), tiebreak)
            matches = data["v"] == _VERSION and data["f"] == fingerprint
        except (ValueError, KeyError, TypeError):
            raise invalid from None
        if not matches:
            raise invalid
        if self._clock() - issued > self.timeout:
            raise ExpiredCursor(
                f"the cursor is older than {self.timeout} seconds (cursorTimeout); "
                "start again with an empty cursor"
            )
        return position
