"""What the steps share: the wire shapes Entra and Okta send, and read-backs."""

from __future__ import annotations

import uuid
from typing import Any

from .client import Answer
from .probe import PATCH_URN
from .probe import Probe
from .probe import lookup

__all__ = [
    "ADSCIM_URN",
    "ENTERPRISE_URN",
    "GROUP_URN",
    "USER_URN",
    "create_group",
    "create_user",
    "delete",
    "entra_user",
    "eq",
    "member_ids",
    "patch",
    "patch_answer",
    "random_id",
    "read",
    "work_email",
]

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ADSCIM_URN = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
"""The schema URI Entra still sends in ``POST /Groups`` (MS-TUT)."""


def random_id() -> str:
    """A fresh GUID, as Entra's probes carry."""
    return str(uuid.uuid4())


def eq(attribute: str, value: str) -> str:
    """The filter ``attribute eq "value"``: the only form Entra matches with."""
    return f'{attribute} eq "{value}"'


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp body."""
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


def entra_user(user_name: str, external_id: str, given: str) -> dict[str, Any]:
    """Entra's ``POST /Users`` body (MS-TUT): the enterprise URN in ``schemas``,
    a client-sent ``meta`` and an empty ``roles`` list included."""
    return {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": f"{given} Checker",
            "familyName": "Checker",
            "givenName": given,
        },
        "roles": [],
    }


def read(probe: Probe, path: str, why: str) -> dict[str, Any] | None:
    """GET a throw-away resource, to see what a change really left."""
    answer = probe.send("GET", path)
    if not probe.expect(answer, {200}, why, "RFC 7644 §3.4.1"):
        return None
    assert answer is not None
    return probe.document(answer, why, "RFC 7644 §3.4.1")


def work_email(user: dict[str, Any]) -> Any:
    """The value of the user's ``type: work`` email, if any."""
    emails = lookup(user, "emails")
    if not isinstance(emails, list):
        return None
    for email in emails:
        if str(lookup(email, "type")).lower() == "work":
            return lookup(email, "value")
    return None


def member_ids(group: dict[str, Any]) -> set[str] | None:
    """The ids in a group's ``members`` (none when absent; ``None`` if malformed)."""
    members = lookup(group, "members")
    if members is None:
        return set()
    if not isinstance(members, list):
        return None
    return {str(lookup(member, "value")) for member in members}


def patch_answer(probe: Probe, answer: Answer | None, why: str, source: str) -> bool:
    """A PATCH must answer 200 (with the resource) or 204 (RFC 7644 §3.5.2)."""
    if not probe.expect(answer, {200, 204}, why, source):
        return False
    assert answer is not None
    schemas = lookup(answer.json(), "schemas")
    if answer.status == 200 and isinstance(schemas, list) and PATCH_URN in schemas:
        probe.warn(
            "The 200 answer to a PATCH carries the PatchOp schema; it should be "
            "the patched resource with its own schemas (reported by Okta staff).",
            "RFC 7644 §3.5.2; jelhub/scimgateway#33",
        )
    return True


def _created(
    probe: Probe, answer: Answer, kind: str, why: str, source: str
) -> str | None:
    """The id of a 201; 200 with an id is a warning, anything else a failure.

    Every id the server hands out is recorded for the clean-up, whatever the
    status, so nothing the check made is left behind.
    """
    document = answer.json() if 200 <= answer.status < 300 else None
    new_id = lookup(document, "id")
    if isinstance(new_id, str) and new_id:
        probe.state.made(probe.state.path(kind, new_id))
    if answer.status != 200 and not probe.expect(answer, {201}, why, source):
        return None
    if not isinstance(new_id, str) or not new_id:
        probe.fail(f"The {answer.status} answer has no 'id'. {why}", "RFC 7644 §3.3")
        return None
    if answer.status == 200:
        probe.warn(
            "The create answered 200; RFC 7644 §3.3 says 201 Created.",
            "RFC 7644 §3.3",
        )
    elif answer.header("location") is None:
        probe.warn("The 201 answer has no Location header.", "RFC 7644 §3.1")
    return new_id


def create_user(probe: Probe, user_name: str, given: str) -> str | None:
    """POST Entra's body for a throw-away user and check the answer; its id."""
    external_id = random_id()
    answer = probe.send("POST", "/Users", entra_user(user_name, external_id, given))
    if answer is None:
        return None
    why = (
        "Entra and Okta create users with POST /Users and keep the 'id' of the "
        "answer for every later request; Okta marks the create as failed when "
        "the body is empty."
    )
    user_id = _created(probe, answer, "Users", why, "RFC 7644 §3.3; MS-HPW; OKTA")
    if user_id is None:
        return None
    if probe.state.external_id is None:
        probe.state.external_id = external_id
    document = answer.json()
    if lookup(document, "userName") != user_name:
        probe.fail(
            f"'userName' came back as {lookup(document, 'userName')!r}, not as "
            "sent. Entra and Okta compare it with their own value on the next "
            "sync and re-send the update forever.",
            "MS-TUT; RFC 7644 §3.3",
        )
    if lookup(document, "active") is not True:
        probe.warn(
            f"'active' came back as {lookup(document, 'active')!r}, not true; "
            "Okta's conformance suite checks that it is echoed.",
            "OKTA-SPEC",
        )
    return user_id


def create_group(
    probe: Probe, body: dict[str, Any], why: str, source: str
) -> tuple[str | None, Any]:
    """POST a group body and check the answer; its id and its JSON."""
    answer = probe.send("POST", "/Groups", body)
    if answer is None:
        return None, None
    return _created(probe, answer, "Groups", why, source), answer.json()


def delete(probe: Probe, path: str) -> bool:
    """DELETE a throw-away resource, then GET it: 204, then 404 with an Error.

    Returns whether the resource is gone.
    """
    kind = path.rsplit("/", 1)[0]
    answer = probe.send("DELETE", path)
    why = f"Entra deletes with DELETE {kind}/{{id}} and expects 204."
    if answer is not None and answer.status == 200:
        probe.warn(f"DELETE answered 200, not 204. {why}", "RFC 7644 §3.6")
    elif not probe.expect(answer, {204}, why, "RFC 7644 §3.6; MS-HPW; OKTA"):
        return False
    answer = probe.send("GET", path)
    if answer is None:
        return False
    if answer.status == 404:
        probe.state.gone(path)
        probe.error_body(answer, 404, detail=True)
        return True
    probe.fail(
        f"GET {kind}/{{id}} after the DELETE answered {answer.status}, not 404. "
        "Only a hard-deleted resource may give 404, and a deleted one must: "
        "otherwise the person keeps access in the app while Entra counts them "
        "as deleted.",
        "RFC 7644 §3.6; MS-TUT",
    )
    return False
