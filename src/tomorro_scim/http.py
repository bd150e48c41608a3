"""The request and response values the sans-I/O service speaks, and media types.

An adapter builds a :class:`ScimRequest` from its framework's request, hands it
to :meth:`tomorro_scim.service.ScimService.handle`, and writes the returned
:class:`ScimResponse` back. Neither value knows about sockets or frameworks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import attrs

__all__ = [
    "ACCEPTED_MEDIA_TYPES",
    "SCIM_MEDIA_TYPE",
    "ScimRequest",
    "ScimResponse",
    "json_response",
]

SCIM_MEDIA_TYPE = "application/scim+json"
"""RFC 7644 §3.1: the media type of every response, errors included."""

ACCEPTED_MEDIA_TYPES = frozenset({SCIM_MEDIA_TYPE, "application/json", "text/json"})
"""Request bodies are read as SCIM JSON under any of these (IDP-DIALECTS §4.2:
Okta's examples are labelled ``text/json``)."""


def _lower_keys(headers: Mapping[str, str]) -> Mapping[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _upper(method: str) -> str:
    return method.upper()


def _without_trailing_slash(url: str) -> str:
    return url.rstrip("/")


@attrs.frozen
class ScimRequest:
    """One HTTP request, relative to the SCIM root.

    ``path`` is what follows the SCIM base URL (``/Users/2819c223``), ``query``
    the raw query string, ``headers`` a mapping whose names are folded to
    lower case on construction, and ``base_url`` the absolute URL of the SCIM
    root as the client reached it (``https://app.example.com/scim/v2``), used
    for ``meta.location`` and the ``Location`` header.
    """

    method: str = attrs.field(converter=_upper)
    path: str
    query: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_keys)
    body: bytes = b""
    base_url: str = attrs.field(default="", converter=_without_trailing_slash)
    declared_length: int = 0
    """The ``Content-Length`` the client announced; an adapter that refuses to
    read an oversized body leaves ``body`` empty and sets this instead."""

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header's value, by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def query_params(self) -> dict[str, str]:
        """The query parameters, the last of a repeated name winning.

        ``+`` decodes to a space, as the Microsoft validator encodes filters
        (``filter=userName+eq+"x"``) while Okta sends ``%20``; both work.
        """
        return dict(parse_qsl(self.query, keep_blank_values=True))


@attrs.frozen
class ScimResponse:
    """One HTTP response: a status, headers (name, value pairs) and body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header's value, by case-insensitive name."""
        folded = name.lower()
        for key, value in self.headers:
            if key.lower() == folded:
                return value
        return None

    def json(self) -> Any:
        """The body decoded as JSON (``None`` for an empty body)."""
        return json.loads(self.body) if self.body else None


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False
)
"""Compact, UTF-8 as is. Bodies are trees of JSON values (parsed, or built
here), never cyclic: a cycle would end in ``RecursionError``, a 500, instead
of the ``ValueError`` the circularity check spends a dict of ids on."""


def json_response(
    body: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> ScimResponse:
    """A response carrying ``body`` as SCIM JSON (non-ASCII kept as UTF-8)."""
    return ScimResponse(
        status,
        (("Content-Type", SCIM_MEDIA_TYPE), *headers),
        _ENCODER.encode(body).encode(),
    )
