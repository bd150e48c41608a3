"""The group round: create, add two members, find, remove them in each dialect.

Membership is read back with ``GET /Groups/{id}`` around every change. Entra
itself never re-reads members (it asks with ``excludedAttributes=members``),
so a removal that is answered 204 and ignored, or one that empties the whole
group, goes unnoticed in production: this is where the check earns its keep.
"""

from __future__ import annotations

from .common import ADSCIM_URN
from .common import GROUP_URN
from .common import create_group
from .common import create_user
from .common import delete
from .common import eq
from .common import member_ids
from .common import patch
from .common import patch_answer
from .common import random_id
from .common import read
from .probe import Probe
from .probe import lookup

__all__ = [
    "add_members",
    "create",
    "delete_group",
    "entra_remove_member",
    "filter_remove_member",
    "find",
]


def create(probe: Probe) -> None:
    """Entra's ``POST /Groups`` (ADSCIM URI, no members); Okta's body if refused."""
    state = probe.state
    entra = {
        "schemas": [GROUP_URN, ADSCIM_URN],
        "externalId": random_id(),
        "displayName": state.group_name,
        "meta": {"resourceType": "Group"},
    }
    why = (
        "Entra creates groups with this body and keeps the 'id' of the answer. "
        "It still puts Microsoft's ADSCIM schema URI in 'schemas'; a server that "
        "refuses unknown schemas answers 400 and never gets a group from Entra."
    )
    state.group_id, group = create_group(probe, entra, why, "MS-TUT; MS-KI")
    if state.group_id is not None:
        if lookup(group, "externalId") != entra["externalId"]:
            probe.warn(
                "The group's 'externalId' was not echoed; Entra expects it back.",
                "MS-TUT",
            )
        return
    okta = {"schemas": [GROUP_URN], "displayName": state.group_name, "members": []}
    state.group_id, _ = create_group(
        probe,
        okta,
        "Okta pushes groups with this body and keeps the 'id'.",
        "OKTA; RFC 7644 §3.3",
    )
    if state.group_id is not None:
        probe.result.note = (
            "the next group steps use the group created with Okta's body "
            "(no ADSCIM URI)"
        )


def _members(probe: Probe, why: str) -> set[str] | None:
    group = read(probe, probe.state.path("Groups", probe.state.group_id), why)
    if group is None:
        return None
    members = member_ids(group)
    if members is None:
        probe.fail("The group's 'members' is not a list.", "RFC 7643 §4.2")
    return members


def add_members(probe: Probe) -> None:
    """A second user, then Entra's ``Add`` of both in one operation."""
    state = probe.state
    state.second_user_id = create_user(probe, state.email(f"{state.tag}-2"), "Bob")
    if state.second_user_id is None:
        return
    wanted = {str(state.user_id), state.second_user_id}
    answer = probe.send(
        "PATCH",
        state.path("Groups", state.group_id),
        patch(
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": member} for member in sorted(wanted)],
            }
        ),
    )
    why = (
        'Entra adds members with "Add" on path members and a value array (with '
        '"$ref": null), several members per operation for gallery apps; Entra '
        "provisions groups only to endpoints that take it."
    )
    if not patch_answer(probe, answer, why, "MS-TUT"):
        return
    members = _members(probe, why)
    if members is None:
        return
    if members != wanted:
        probe.fail(
            f"After adding {sorted(wanted)} the members are {sorted(members)}. {why}",
            "MS-TUT",
            probe.written,
        )
        return
    state.members_added = True


def find(probe: Probe) -> None:
    """Found by ``displayName`` (Entra without members, Okta plainly), and by id."""
    state = probe.state
    why = (
        "Entra and Okta look a group up by displayName before creating it; a "
        "group they cannot find is created twice or fails as a conflict."
    )
    for query in (
        {
            "excludedAttributes": "members",
            "filter": eq("displayName", state.group_name),
        },
        {"filter": eq("displayName", state.group_name)},
    ):
        answer = probe.send("GET", "/Groups", query=query)
        resources = probe.list_response(answer, why, "MS-TUT; OKTA")
        if resources is None:
            continue
        ids = [lookup(resource, "id") for resource in resources]
        if ids != [state.group_id]:
            probe.fail(
                f'filter=displayName eq "{state.group_name}" found '
                f"{ids or 'nothing'}, not {state.group_id}. {why}",
                "MS-TUT; OKTA",
            )
        elif "excludedAttributes" in query and lookup(resources[0], "members"):
            probe.warn(
                "excludedAttributes=members still returned the members. Entra "
                "reads every group this way to avoid large payloads; with big "
                "groups each lookup gets slow.",
                "MS-TUT; RFC 7644 §3.4.2.5",
            )
    answer = probe.send(
        "GET",
        state.path("Groups", state.group_id),
        query={"excludedAttributes": "members"},
    )
    if (
        probe.expect(answer, {200}, why, "MS-TUT")
        and answer is not None
        and lookup(answer.json(), "members")
    ):
        probe.warn(
            "GET /Groups/{id}?excludedAttributes=members returned the members.",
            "MS-TUT; RFC 7644 §3.4.2.5",
        )
    if not state.members_added:
        return
    query = {
        "filter": f'id eq "{state.group_id}" and members eq "{state.user_id}"',
        "attributes": "id",
    }
    answer = probe.send("GET", "/Groups", query=query)
    total = lookup(answer.json(), "totalResults") if answer is not None else None
    if answer is not None and (answer.status != 200 or total != 1):
        probe.warn(
            f"The membership check filter=id eq … and members eq … answered "
            f"{answer.status} with totalResults {total!r}, not 1. Entra checks "
            "memberships with this kind of filter.",
            "MS-TUT; goauthentik/authentik#23211",
        )


def _remove(probe: Probe, member: str, operation: dict[str, object], why: str) -> None:
    source = "MS-KI; OKTA; " + (
        "Captain-P-Goldfish/SCIM-SDK#149; apache/directory-scimple#436"
        if "value" in operation
        else "goauthentik/authentik#24173"
    )
    before = _members(probe, why)
    if before is None:
        return
    answer = probe.send(
        "PATCH", probe.state.path("Groups", probe.state.group_id), patch(operation)
    )
    if not patch_answer(probe, answer, why, source):
        return
    after = _members(probe, why)
    expected = before - {member}
    if after is None or after == expected:
        return
    outcome = "emptied the whole group" if expected and not after else "did not apply"
    probe.fail(
        f"The removal {outcome}: members went from {sorted(before)} to "
        f"{sorted(after)}, not {sorted(expected)}. {why}",
        source,
        probe.written,
    )


def entra_remove_member(probe: Probe) -> None:
    """Entra's default job: ``Remove`` on path ``members`` with a value array."""
    member = str(probe.state.user_id)
    _remove(
        probe,
        member,
        {"op": "Remove", "path": "members", "value": [{"value": member}]},
        'Entra\'s default job removes a member with path "members" and a value '
        'array, meaning "remove these members". Strict servers answer 400, so '
        "unassigned people keep their group (and its role); some servers "
        "emptied the whole group instead.",
    )


def filter_remove_member(probe: Probe) -> None:
    """Entra with ``aadOptscim062020``, and Okta: ``members[value eq "…"]``."""
    member = str(probe.state.second_user_id)
    _remove(
        probe,
        member,
        {"op": "remove", "path": f'members[value eq "{member}"]'},
        "Entra with the aadOptscim062020 flag, and Okta, remove a member with "
        'the path members[value eq "<id>"]; servers that answered 2xx and '
        "ignored it left removed people in the group.",
    )


def delete_group(probe: Probe) -> None:
    """``DELETE /Groups/{id}``: 204, then 404."""
    delete(probe, probe.state.path("Groups", probe.state.group_id))
