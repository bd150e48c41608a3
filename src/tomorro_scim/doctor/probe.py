"""One running step: send requests, record them, and judge the answers.

:class:`Probe` is what a step function receives. It sends requests through
the :class:`~tomorro_scim.doctor.client.Endpoint`, records each one as an
:class:`~tomorro_scim.doctor.report.Exchange`, and offers the checks that most
steps share (status, media type, ListResponse and Error envelopes), each of
which adds a :class:`~tomorro_scim.doctor.report.Finding` when it fails.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .client import SCIM_JSON
from .client import Answer
from .client import Endpoint
from .client import TransportError
from .report import BODY_EXCERPT
from .report import Exchange
from .report import Finding
from .report import Severity
from .report import StepResult

__all__ = [
    "ERROR_URN",
    "LIST_URN",
    "PATCH_URN",
    "NoConnection",
    "Probe",
    "State",
    "lookup",
]

LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def lookup(document: Any, *path: str) -> Any:
    """``document[a][b]…`` with attribute names matched case-insensitively
    (RFC 7643 §2.1); ``None`` where anything is missing."""
    for name in path:
        if not isinstance(document, Mapping):
            return None
        folded = name.lower()
        document = next(
            (
                value
                for key, value in document.items()
                if isinstance(key, str) and key.lower() == folded
            ),
            None,
        )
    return document


class State:
    """What the steps made and learnt, shared between steps.

    ``created`` maps each throw-away resource's path (``/Users/{id}``) to
    ``True`` once the doctor has seen it deleted.
    """

    def __init__(self, tag: str, domain: str = "example.com") -> None:
        self.tag = tag
        self.domain = domain
        self.user_name = self.email(tag)
        self.group_name = f"tomorro-scim-check-{tag}"
        self.user_id: str | None = None
        self.external_id: str | None = None
        self.second_user_id: str | None = None
        self.group_id: str | None = None
        self.members_added = False
        self.created: dict[str, bool] = {}
        self.answered = False
        """Whether any HTTP answer came back yet (else a transport error aborts)."""
        self.stop: str | None = None
        """Why every later step is skipped (the token was refused)."""

    def email(self, local: str) -> str:
        """A throw-away address: ``tomorro-scim-check-<local>@<domain>``."""
        return f"tomorro-scim-check-{local}@{self.domain}"

    @staticmethod
    def path(kind: str, resource_id: object) -> str:
        """``/{kind}/{id}``, the id percent-encoded: an id the server hands out
        can never point the check at another path (``../``, ``?``, ``#``)."""
        return f"/{kind}/{quote(str(resource_id), safe='')}"

    def made(self, path: str) -> None:
        """Record a throw-away resource the server created."""
        self.created.setdefault(path, False)

    def gone(self, path: str) -> None:
        """Record that a throw-away resource is deleted."""
        if path in self.created:
            self.created[path] = True


class NoConnection(Exception):
    """The very first request got no HTTP answer: nothing can be checked."""


def _excerpt(answer: Answer) -> str:
    text = answer.body.decode("utf-8", "replace")
    return text if len(text) <= BODY_EXCERPT else text[:BODY_EXCERPT] + "…"


class Probe:
    """The context of one step: its result, the endpoint and the shared state."""

    def __init__(self, endpoint: Endpoint, state: State, result: StepResult) -> None:
        self.endpoint = endpoint
        self.state = state
        self.result = result
        self.written: Exchange | None = None
        """The step's last write (POST, PUT, PATCH, DELETE): what a failed
        read-back blames."""
        self._media_reported = False

    # -- findings -------------------------------------------------------------

    def fail(self, message: str, source: str, exchange: Exchange | None = None) -> None:
        """Record something that would break Entra ID or Okta."""
        self.result.findings.append(
            Finding(Severity.FAIL, message, source, self._last(exchange))
        )

    def warn(self, message: str, source: str, exchange: Exchange | None = None) -> None:
        """Record a deviation the live clients survive."""
        self.result.findings.append(
            Finding(Severity.WARN, message, source, self._last(exchange))
        )

    def _last(self, exchange: Exchange | None) -> Exchange | None:
        if exchange is not None:
            return exchange
        return self.result.exchanges[-1] if self.result.exchanges else None

    # -- requests -------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        token: str | bool | None = True,
        private: bool = False,
        media: Severity | None = Severity.FAIL,
    ) -> Answer | None:
        """Send one request below the base URL and record it.

        Returns ``None`` (after recording a failure) when no answer came.
        ``private`` keeps the response body out of the report, for listings
        that may show other people's records. ``media`` is how a response
        body that is not ``application/scim+json`` is judged (``None``: not
        at all).
        """
        url = self.endpoint.url(path, query)
        try:
            answer = self.endpoint.request(method, url, body, token=token)
        except TransportError as error:
            exchange = Exchange(method, url, body, error=str(error))
            self.result.exchanges.append(exchange)
            if not self.state.answered:
                raise NoConnection(str(error)) from error
            self.fail(
                f"{method} got no answer ({error}). Entra and Okta count a "
                "request without an answer as a failed operation and retry it "
                "later; many in a row put Entra's job in quarantine.",
                "MS-TUT",
            )
            return None
        self.state.answered = True
        exchange = Exchange(
            method,
            url,
            body,
            answer.status,
            answer.header("content-type"),
            None if private else _excerpt(answer),
            round(answer.seconds, 4),
            redacted=private,
        )
        self.result.exchanges.append(exchange)
        if method != "GET":
            self.written = exchange
        if media is not None and answer.body and answer.media_type != SCIM_JSON:
            self._wrong_media(answer, media)
        return answer

    def _wrong_media(self, answer: Answer, severity: Severity) -> None:
        if self._media_reported:
            return
        self._media_reported = True
        shown = answer.header("content-type") or "no Content-Type"
        message = (
            f"The answer came as {shown}, not {SCIM_JSON}. Microsoft requires "
            f"{SCIM_JSON} on every response, errors included, and its validator "
            "stops at the first plain JSON answer."
        )
        if severity is Severity.FAIL:
            self.fail(message, "MS-TUT; RFC 7644 §3.1")
        else:
            self.warn(message, "MS-TUT; RFC 7644 §3.1")

    # -- shared checks --------------------------------------------------------

    def expect(
        self, answer: Answer | None, statuses: Collection[int], why: str, source: str
    ) -> bool:
        """Fail unless the answer's status is one of ``statuses``."""
        if answer is None:
            return False
        if answer.status in statuses:
            return True
        wanted = " or ".join(str(status) for status in sorted(statuses))
        self.fail(
            f"Expected {wanted}, got {answer.status}{self._detail(answer)}. {why}",
            source,
        )
        return False

    @staticmethod
    def _detail(answer: Answer) -> str:
        detail = lookup(answer.json(), "detail")
        if isinstance(detail, str) and detail:
            return f' ("{detail[:200]}")'
        return ""

    def document(self, answer: Answer, why: str, source: str) -> dict[str, Any] | None:
        """The answer's JSON object, or a failure when it has none."""
        document = answer.json()
        if isinstance(document, dict):
            return document
        shown = "an empty body" if not answer.body else "a body that is not JSON"
        self.fail(f"The {answer.status} answer has {shown}. {why}", source)
        return None

    def list_response(
        self, answer: Answer | None, why: str, source: str
    ) -> list[dict[str, Any]] | None:
        """Check a ListResponse (200, envelope, integer counts); its Resources."""
        if not self.expect(answer, {200}, why, source):
            return None
        assert answer is not None
        document = self.document(answer, why, source)
        if document is None:
            return None
        schemas = lookup(document, "schemas")
        if not isinstance(schemas, list) or LIST_URN not in schemas:
            self.warn(
                f"The ListResponse does not list {LIST_URN} in 'schemas'.",
                "RFC 7644 §3.4.2",
            )
        for name in ("totalResults", "startIndex", "itemsPerPage"):
            value = lookup(document, name)
            if value is None and name != "totalResults":
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail(
                    f"'{name}' is {json.dumps(value)}, not a JSON integer. Okta "
                    "reads these numbers to page through users and groups; a "
                    "missing or non-integer value breaks its import.",
                    "OKTA; RFC 7644 §3.4.2",
                )
                return None
        resources = lookup(document, "Resources")
        if resources is None:
            resources = []
        if not isinstance(resources, list) or not all(
            isinstance(item, dict) for item in resources
        ):
            self.fail("'Resources' is not a list of objects.", "RFC 7644 §3.4.2; OKTA")
            return None
        total = lookup(document, "totalResults")
        if isinstance(total, int) and total < len(resources):
            self.fail(
                f"'totalResults' is {total} but {len(resources)} resources came "
                "back: 'totalResults' counts every match.",
                "RFC 7644 §3.4.2",
            )
        return list(resources)

    def error_body(self, answer: Answer, status: int, *, detail: bool = False) -> None:
        """Warn when an error answer is not a SCIM Error with a string status."""
        document = answer.json()
        if not isinstance(document, dict):
            self.warn(
                f"The {status} answer has no SCIM Error body. Entra's provisioning "
                "logs and Okta's task list show the Error 'detail' to the admin; "
                "without it they only see a status code.",
                "RFC 7644 §3.12",
            )
            return
        schemas = lookup(document, "schemas")
        if not isinstance(schemas, list) or ERROR_URN not in schemas:
            self.warn(
                f"The {status} body does not list {ERROR_URN} in 'schemas'.",
                "RFC 7644 §3.12; OKTA-SPEC",
            )
        value = lookup(document, "status")
        if value != str(status):
            self.warn(
                f"The Error 'status' is {json.dumps(value)}; RFC 7644 §3.12 makes "
                f'it the string "{status}". Okta\'s examples use numbers, so both '
                "forms circulate, but strict clients expect the string.",
                "RFC 7644 §3.12",
            )
        if detail and not lookup(document, "detail"):
            self.warn(
                f"The {status} Error has no 'detail'; Okta's conformance suite "
                "requires one.",
                "OKTA-SPEC",
            )
