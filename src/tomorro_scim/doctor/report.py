"""What the doctor found: steps, the requests they sent, and plain-words findings.

A :class:`Finding` is a *failure* when Entra ID or Okta would break on it
(provisioning stops, users stay active, members are lost), and a *warning*
when the live clients cope but a standard or a vendor's conformance suite
does not. Only failures make the check fail.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import attrs

__all__ = [
    "SOURCES",
    "CheckReport",
    "Exchange",
    "Finding",
    "Outcome",
    "Severity",
    "StepResult",
]

SOURCES: dict[str, str] = {
    "MS-TUT": "https://learn.microsoft.com/en-us/entra/identity/app-provisioning/"
    "use-scim-to-provision-users-and-groups",
    "MS-KI": "https://learn.microsoft.com/en-us/entra/identity/app-provisioning/"
    "application-provisioning-config-problem-scim-compatibility",
    "MS-HPW": "https://learn.microsoft.com/en-us/entra/identity/app-provisioning/"
    "how-provisioning-works",
    "OKTA": "https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20",
    "OKTA-SPEC": "https://developer.okta.com/docs/guides/"
    "scim-provisioning-integration-prepare/main/",
    "RFC 7643": "https://datatracker.ietf.org/doc/html/rfc7643",
    "RFC 7644": "https://datatracker.ietf.org/doc/html/rfc7644",
}
"""The public documents findings cite, by the key used in ``Finding.source``."""

BODY_EXCERPT = 400
"""Characters of each response body kept in the report."""


class Severity(enum.Enum):
    """How bad a finding is."""

    FAIL = "fail"
    """Entra ID or Okta would break."""
    WARN = "warn"
    """The live clients cope; a standard or a conformance suite does not."""


class Outcome(enum.Enum):
    """How a step ended."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@attrs.frozen
class Exchange:
    """One request the doctor sent and what came back.

    ``status`` is ``None`` when no HTTP answer came (then ``error`` says why).
    Bodies of listings that may hold other people's records are not kept
    (``response`` is ``None`` and ``redacted`` is true).
    """

    method: str
    url: str
    request: Any = None
    status: int | None = None
    content_type: str | None = None
    response: str | None = None
    seconds: float = 0.0
    error: str | None = None
    redacted: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


@attrs.frozen
class Finding:
    """One problem: what is wrong, what it breaks and why, and the source."""

    severity: Severity
    message: str
    source: str
    """Keys of :data:`SOURCES`, RFC sections or ``owner/repo#N`` references."""
    exchange: Exchange | None = attrs.field(default=None, eq=False)
    """The request whose answer showed the problem."""


@attrs.define
class StepResult:
    """One step of the check."""

    key: str
    title: str
    clients: str
    """Who sends these requests: ``Entra``, ``Okta``, ``Entra, Okta``."""
    findings: list[Finding] = attrs.field(factory=list)
    exchanges: list[Exchange] = attrs.field(factory=list)
    skipped: str | None = None
    """Why the step did not run, if it did not."""
    note: str | None = None
    """Something worth knowing that is not a problem."""

    @property
    def outcome(self) -> Outcome:
        """Skip, else the worst finding's severity, else pass."""
        if self.skipped is not None:
            return Outcome.SKIP
        severities = {finding.severity for finding in self.findings}
        if Severity.FAIL in severities:
            return Outcome.FAIL
        if Severity.WARN in severities:
            return Outcome.WARN
        return Outcome.PASS

    def _index(self, exchange: Exchange | None) -> int | None:
        for index, candidate in enumerate(self.exchanges):
            if candidate is exchange:
                return index
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; a finding's ``exchange`` indexes ``exchanges``."""
        return {
            "key": self.key,
            "title": self.title,
            "clients": self.clients,
            "outcome": self.outcome.value,
            "skipped": self.skipped,
            "note": self.note,
            "findings": [
                {
                    "severity": finding.severity.value,
                    "message": finding.message,
                    "source": finding.source,
                    "exchange": self._index(finding.exchange),
                }
                for finding in self.findings
            ],
            "exchanges": [exchange.to_json() for exchange in self.exchanges],
        }


@attrs.define
class CheckReport:
    """Everything one check found.

    ``aborted`` is set when the check could not go on (no connection, a
    redirect to another host): the server was not fully checked.
    """

    url: str
    steps: list[StepResult] = attrs.field(factory=list)
    aborted: str | None = None
    left_behind: list[str] = attrs.field(factory=list)
    """Paths of throw-away resources the doctor could not delete."""

    def count(self, outcome: Outcome) -> int:
        """How many steps ended with ``outcome``."""
        return sum(1 for step in self.steps if step.outcome is outcome)

    @property
    def exit_code(self) -> int:
        """2 when the check could not run, 1 when something would break, else 0."""
        if self.aborted is not None:
            return 2
        return 1 if self.count(Outcome.FAIL) else 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``--json``)."""
        return {
            "url": self.url,
            "exit_code": self.exit_code,
            "aborted": self.aborted,
            "summary": {outcome.value: self.count(outcome) for outcome in Outcome},
            "left_behind": self.left_behind,
            "steps": [step.to_json() for step in self.steps],
            "sources": SOURCES,
        }

    def dumps(self) -> str:
        """The report as indented JSON text."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)
