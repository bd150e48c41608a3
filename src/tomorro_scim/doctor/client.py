"""The doctor's HTTP client: standard library only, and bound to one origin.

Every request goes to the scheme, host and port of the URL the user gave,
under its path. A redirect is followed only for ``GET`` and only when it stays
on that origin (at most :data:`MAX_REDIRECTS` hops); a redirect anywhere else
raises :class:`RedirectRefused` before a byte is sent there. Proxies from the
environment are not used, for the same reason.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from typing import Any
from urllib.parse import SplitResult
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import attrs

from ..http import ScimResponse

__all__ = [
    "MAX_BODY",
    "MAX_REDIRECTS",
    "Answer",
    "Endpoint",
    "RedirectRefused",
    "TransportError",
]

MAX_REDIRECTS = 3
MAX_BODY = 8 * 1024 * 1024
"""Bytes of an answer read at most; a larger answer counts as no answer."""
SCIM_JSON = "application/scim+json"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class TransportError(Exception):
    """No HTTP answer at all: refused connection, DNS, TLS, timeout."""


class RedirectRefused(Exception):
    """The server redirected to another scheme, host or port."""


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    scheme = parts.scheme.lower()
    return (
        scheme,
        (parts.hostname or "").lower(),
        parts.port or _DEFAULT_PORTS.get(scheme, 0),
    )


@attrs.frozen
class Answer(ScimResponse):
    """What came back for one request, and how long it took."""

    seconds: float = 0.0

    @property
    def media_type(self) -> str:
        """The ``Content-Type`` without parameters, lower-cased ('' if none)."""
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is empty or not JSON (any server
        may answer anything)."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Endpoint:
    """A SCIM base URL and its bearer token.

    :param url: the Tenant URL, ``http(s)://host[:port]/path``. A query
        string (``?aadOptscim062020``) is dropped: the flag tells Entra which
        PATCH dialect to send, and the doctor sends both.
    :raises ValueError: for a URL that is not absolute http(s).
    """

    def __init__(self, url: str, token: str | None, *, timeout: float) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http:// or https:// URL: {url!r}")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError(f"bad port in {url!r}") from None
        if parts.username or parts.password:
            raise ValueError("put the token in --token, not in the URL")
        self.parts = parts
        self.base = parts._replace(query="", fragment="").geturl().rstrip("/")
        self.dropped_query = parts.query
        self.origin = _origin(parts)
        self.token = token
        self.timeout = timeout
        self.user_agent = "tomorro-scim-check"

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        """The absolute URL of ``path`` (``/Users``) below the base."""
        tail = f"?{urlencode(query)}" if query else ""
        return f"{self.base}{path}{tail}"

    def _connection(self, parts: SplitResult) -> http.client.HTTPConnection:
        host = parts.hostname or ""
        if parts.scheme.lower() == "https":
            return http.client.HTTPSConnection(
                host,
                parts.port,
                timeout=self.timeout,
                context=ssl.create_default_context(),
            )
        return http.client.HTTPConnection(host, parts.port, timeout=self.timeout)

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        token: str | bool | None = True,
    ) -> Answer:
        """Send one request and read the whole answer.

        ``token=True`` sends the endpoint's token, ``None``/``False`` sends no
        ``Authorization`` header, and a string sends that string instead.

        :raises TransportError: when no HTTP answer came back.
        :raises RedirectRefused: on a redirect off the endpoint's origin.
        """
        headers = {"Accept": SCIM_JSON, "User-Agent": self.user_agent}
        bearer = self.token if token is True else token or None
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        payload: bytes | None = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = SCIM_JSON
        started = time.perf_counter()
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if _origin(parts) != self.origin:
                raise RedirectRefused(
                    f"{method} was redirected to {parts.scheme}://{parts.netloc}, "
                    f"which is not {self.parts.scheme}://{self.parts.netloc}; the "
                    "check only talks to the URL it is given"
                )
            target = parts.path or "/"
            if parts.query:
                target += f"?{parts.query}"
            connection = self._connection(parts)
            try:
                connection.request(method, target, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read(MAX_BODY + 1)
                if len(data) > MAX_BODY:
                    raise TransportError(f"the answer is larger than {MAX_BODY} bytes")
                answer = Answer(
                    response.status,
                    tuple(response.getheaders()),
                    data,
                    time.perf_counter() - started,
                )
            except (OSError, http.client.HTTPException) as error:
                raise TransportError(
                    f"{type(error).__name__}: {error}" if str(error) else repr(error)
                ) from error
            finally:
                connection.close()
            location = answer.header("location")
            if (
                answer.status not in (301, 302, 303, 307, 308)
                or location is None
                or method != "GET"
            ):
                return answer
            url = urljoin(url, location)
        return answer
