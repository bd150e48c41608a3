"""The read-only steps that run before anything is created.

Discovery, authentication, Entra's *Test connection* probes and Okta's
connector test. Listings that may show other people's records are sent with
``private=True``: their bodies are checked but never kept in the report.
"""

from __future__ import annotations

from .common import eq
from .common import random_id
from .probe import Probe
from .probe import lookup
from .report import Severity

__all__ = [
    "authentication",
    "discovery",
    "group_lookup",
    "okta_paging",
    "test_connection",
]


def discovery(probe: Probe) -> None:
    """``/ServiceProviderConfig``, ``/Schemas`` and ``/ResourceTypes`` answer."""
    for path, listing in (
        ("/ServiceProviderConfig", False),
        ("/Schemas", True),
        ("/ResourceTypes", True),
    ):
        answer = probe.send("GET", path, media=Severity.WARN)
        if answer is None:
            continue
        if answer.status != 200:
            probe.warn(
                f"GET {path} answered {answer.status}. Entra and Okta do not read "
                "it for custom apps, but SCIM clients and validators use it to "
                "learn what the server supports.",
                "RFC 7644 §4; MS-TUT",
            )
            continue
        document = answer.json()
        if listing:
            if not isinstance(lookup(document, "Resources"), list):
                probe.warn(f"GET {path} is not a ListResponse.", "RFC 7644 §4")
        elif not isinstance(document, dict):
            probe.warn(f"GET {path} is not a JSON object.", "RFC 7643 §5")
        elif lookup(document, "patch", "supported") is not True:
            probe.warn(
                "ServiceProviderConfig does not say patch.supported: true. Entra "
                "provisions groups only to endpoints that support PATCH.",
                "MS-TUT; RFC 7643 §5",
            )


def authentication(probe: Probe) -> None:
    """No token, and a wrong token, both get 401 with a SCIM Error."""
    wrong = f"tomorro-scim-check-wrong-{probe.state.tag}"
    for label, token in (("without a token", None), ("with a wrong token", wrong)):
        answer = probe.send(
            "GET",
            "/Users",
            query={"count": "1"},
            token=token,
            private=True,
            media=Severity.WARN,
        )
        if answer is None:
            continue
        if 200 <= answer.status < 300:
            probe.fail(
                f"GET /Users {label} answered {answer.status}: anyone who can "
                "reach this URL can read, create and delete users. Okta's "
                "conformance suite requires 401 here.",
                "RFC 7644 §2; OKTA-SPEC",
            )
        elif answer.status != 401:
            probe.warn(
                f"GET /Users {label} answered {answer.status}, not 401.",
                "RFC 7644 §3.12; OKTA-SPEC",
            )
        else:
            probe.error_body(answer, 401, detail=True)


def test_connection(probe: Probe) -> None:
    """Entra's Test connection: a filter that matches nothing is 200 + an empty list."""
    for attribute in ("userName", "externalId"):
        answer = probe.send(
            "GET", "/Users", query={"filter": eq(attribute, random_id())}
        )
        if answer is not None and answer.status in (401, 403):
            probe.fail(
                f"The server refused the token ({answer.status}). Entra's Test "
                "connection reports this as invalid credentials. Check the "
                "token: nothing else can be checked without it.",
                "MS-TUT",
            )
            probe.state.stop = f"the server refused the token ({answer.status})"
            return
        why = (
            f"Entra's Test connection sends GET /Users?filter={attribute} eq \"<a "
            'random GUID>" and accepts only 200 with an empty ListResponse; Entra '
            "sends the same query before creating every user, so any other "
            "answer stops provisioning."
        )
        if attribute == "externalId":
            why += (
                " Entra matches on externalId when that is the matching "
                "attribute, and since January 2026 some tenants do by default "
                "(OctopusDeploy/Issues#9841)."
            )
        if answer is not None and answer.status == 404:
            probe.result.note = (
                "a 404 on /Users often means the URL is not the SCIM base URL "
                "(the one ending in /scim/v2 or similar)"
            )
        resources = probe.list_response(answer, why, "MS-TUT; jelhub/scimgateway#18")
        if resources:
            probe.fail(
                f"A filter on a random {attribute} matched {len(resources)} "
                "resource(s): the server ignores or widens the filter, so Entra "
                "would match, and overwrite, the wrong user.",
                "RFC 7644 §3.4.2.2; eneo-ai/eneo#443",
            )


def group_lookup(probe: Probe) -> None:
    """Entra's group lookup by displayName: also 200 + an empty list."""
    query = {"excludedAttributes": "members", "filter": eq("displayName", random_id())}
    answer = probe.send("GET", "/Groups", query=query)
    resources = probe.list_response(
        answer,
        "Entra looks groups up by displayName before creating them and during "
        "Test connection; a 501 here made Entra report invalid credentials.",
        "MS-TUT; https://stackoverflow.com/q/42662303",
    )
    if resources:
        probe.fail(
            "A filter on a random displayName matched groups: the filter is "
            "ignored or widened, so Entra would update the wrong group.",
            "RFC 7644 §3.4.2.2",
        )


def okta_paging(probe: Probe) -> None:
    """Okta's connector test, import paging and user match: integer counts."""
    why = (
        "Okta's connector test sends this request when the admin saves the app, "
        "and its imports page through users and groups the same way."
    )
    for path, count in (("/Users", 2), ("/Groups", 100)):
        query = {"startIndex": "1", "count": str(count)}
        answer = probe.send("GET", path, query=query, private=True)
        resources = probe.list_response(answer, why, "OKTA")
        if resources is None or answer is None:
            continue
        if len(resources) > count:
            probe.fail(
                f"count={count} returned {len(resources)} resources. 'count' is "
                "an upper bound; otherwise Okta's paging skips or repeats records.",
                "RFC 7644 §3.4.2.4; OKTA",
            )
        start = lookup(answer.json(), "startIndex")
        if start is not None and start != 1:
            probe.fail(
                f"startIndex=1 came back as startIndex {start!r}; Okta pages by "
                "startIndex and would skip records.",
                "RFC 7644 §3.4.2.4; OKTA",
            )
    query = {
        "filter": eq("userName", probe.state.email(random_id())),
        "startIndex": "1",
        "count": "100",
    }
    answer = probe.send("GET", "/Users", query=query)
    resources = probe.list_response(
        answer,
        "Okta looks a user up this way before creating it, and wants 200 with "
        "totalResults 0 when there is none.",
        "OKTA; OKTA-SPEC",
    )
    if resources:
        probe.fail(
            "A filter on an unknown userName matched users: Okta would link the "
            "new person to someone else's account.",
            "OKTA-SPEC; RFC 7644 §3.4.2.2",
        )
