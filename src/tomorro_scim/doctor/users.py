"""The user round: create, find, duplicate, update and deactivate in each dialect.

Every change is read back with ``GET /Users/{id}``: a server that answers 2xx
and drops the change is what makes Entra re-send the same PATCH forever and
leaves deprovisioned people active. Each step flips ``active``, so a step
that did nothing cannot pass on the state an earlier step left.
"""

from __future__ import annotations

from .common import create_user
from .common import delete
from .common import entra_user
from .common import eq
from .common import patch
from .common import patch_answer
from .common import random_id
from .common import read
from .common import work_email
from .probe import Probe
from .probe import lookup

__all__ = [
    "create",
    "delete_users",
    "duplicate",
    "entra_deactivate",
    "entra_flag_update",
    "entra_update",
    "find",
    "okta_deactivate",
    "okta_put",
]


def create(probe: Probe) -> None:
    """Entra's ``POST /Users`` gives 201 with an ``id``."""
    state = probe.state
    state.user_id = create_user(probe, state.user_name, "Ada")


def find(probe: Probe) -> None:
    """The user is found by ``userName`` (in any case), by ``externalId`` and by id."""
    state = probe.state
    why = (
        "Entra and Okta look users up with this filter before every create and "
        "update; a user they cannot find is created again, which fails as a "
        "conflict."
    )
    for attribute, value, folded in (
        ("userName", state.user_name, False),
        ("externalId", state.external_id or "", False),
        ("userName", state.user_name.upper(), True),
    ):
        answer = probe.send("GET", "/Users", query={"filter": eq(attribute, value)})
        resources = probe.list_response(answer, why, "MS-TUT; OKTA")
        if resources is None:
            continue
        ids = [lookup(resource, "id") for resource in resources]
        if ids == [state.user_id]:
            continue
        if folded:
            probe.warn(
                f'filter=userName eq "{value}" (the userName in capitals) found '
                f"{ids or 'nothing'}. userName is case-insensitive (caseExact "
                "false): when an IdP's copy differs only in case, the user is "
                "not matched and a duplicate is attempted.",
                "RFC 7643 §4.1.1; OKTA-SPEC",
            )
        else:
            probe.fail(
                f'filter={attribute} eq "{value}" found {ids or "nothing"}, not '
                f"the user just created ({state.user_id}). {why}",
                "MS-TUT; OKTA",
            )
    read(
        probe,
        state.path("Users", state.user_id),
        "Entra reads a user by id before updating it.",
    )


def duplicate(probe: Probe) -> None:
    """A second user with the same ``userName`` (another email) gets 409 uniqueness."""
    state = probe.state
    body = entra_user(state.user_name, random_id(), "Duplicate")
    body["emails"] = [
        {"primary": True, "type": "work", "value": state.email(f"{state.tag}-other")}
    ]
    answer = probe.send("POST", "/Users", body)
    if answer is None:
        return
    made = lookup(answer.json(), "id") if 200 <= answer.status < 300 else None
    if isinstance(made, str) and made:
        state.made(state.path("Users", made))
    if not probe.expect(
        answer,
        {409},
        "Okta's conformance suite sends the same userName with another email and "
        "requires 409, which also stops Okta's provisioning job; otherwise one "
        "person gets two accounts with the same login.",
        "RFC 7644 §3.3; OKTA; OKTA-SPEC",
    ):
        return
    scim_type = lookup(answer.json(), "scimType")
    if scim_type != "uniqueness":
        probe.warn(
            f'The 409 has scimType {scim_type!r}, not "uniqueness"; clients that '
            "follow RFC 7644 §3.3 look for it.",
            "RFC 7644 §3.3; getsentry/sentry#117860",
        )
    probe.error_body(answer, 409)


def entra_update(probe: Probe) -> None:
    """Entra's default job: one capitalised ``Replace`` per changed attribute."""
    path = probe.state.path("Users", probe.state.user_id)
    email = probe.state.email(f"{probe.state.tag}-renamed")
    answer = probe.send(
        "PATCH",
        path,
        patch(
            {"op": "Replace", "path": "name.givenName", "value": "Grace"},
            {"op": "Replace", "path": "name.familyName", "value": "Hopper"},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": email},
        ),
    )
    why = (
        'Entra\'s default job writes "op" capitalised ("Replace"), one operation '
        "per changed attribute, and addresses the work email with a path filter. "
        "Ops are case-insensitive; a server that refuses them fails every update, "
        "and Entra re-sends it every cycle (about every 40 minutes)."
    )
    source = "MS-KI; MS-TUT; langwatch/langwatch#6972"
    if not patch_answer(probe, answer, why, source):
        return
    user = read(probe, path, why)
    if user is None:
        return
    seen = (
        lookup(user, "name", "givenName"),
        lookup(user, "name", "familyName"),
        work_email(user),
    )
    if seen != ("Grace", "Hopper", email):
        probe.fail(
            f"After the PATCH givenName, familyName and work email are {seen!r}, "
            f"not ('Grace', 'Hopper', {email!r}). Entra sees the difference on "
            "every cycle and re-sends the same PATCH forever.",
            "MS-KI; MicrosoftDocs/azure-docs#11784",
            probe.written,
        )


def _active_is(probe: Probe, expected: bool, why: str, source: str) -> None:
    user = read(probe, probe.state.path("Users", probe.state.user_id), why)
    if user is None:
        return
    active = lookup(user, "active")
    if active is not expected:
        probe.fail(
            f"Afterwards 'active' is {active!r}, not {expected!r}. {why}",
            source,
            probe.written,
        )


def entra_deactivate(probe: Probe) -> None:
    """Entra's default job: ``Replace`` ``active`` with the string ``"False"``."""
    state = probe.state
    answer = probe.send(
        "PATCH",
        state.path("Users", state.user_id),
        patch({"op": "Replace", "path": "active", "value": "False"}),
    )
    why = (
        'Entra\'s default job sends active as the string "False" and means the '
        "boolean false; a server that refuses or stores the string leaves people "
        "unassigned in Entra active in the app."
    )
    source = "MS-KI; AzureAD/SCIMReferenceCode#21"
    if not patch_answer(probe, answer, why, source):
        return
    _active_is(probe, False, why, source)
    answer = probe.send(
        "GET", "/Users", query={"filter": eq("userName", state.user_name)}
    )
    resources = probe.list_response(
        answer, "Deactivated users stay visible to filters.", "MS-TUT; OKTA"
    )
    if resources is not None and [lookup(r, "id") for r in resources] != [
        state.user_id
    ]:
        probe.fail(
            "The deactivated user is no longer found by its userName. Entra and "
            "Okta then try to create it again on the next sync: only deleted "
            "users may disappear.",
            "MS-TUT; https://devforum.okta.com/t/24187",
        )


def entra_flag_update(probe: Probe) -> None:
    """``aadOptscim062020``: a path-less replace with dotted keys, and a boolean."""
    path = probe.state.path("Users", probe.state.user_id)
    answer = probe.send(
        "PATCH",
        path,
        patch(
            {
                "op": "replace",
                "value": {"name.givenName": "Ada", "name.familyName": "Lovelace"},
            },
            {"op": "replace", "path": "active", "value": True},
        ),
    )
    why = (
        "With the aadOptscim062020 flag Entra sends attribute changes as one "
        "operation without a path whose keys are dotted names; they are writes "
        "to name.givenName and name.familyName, never literal keys."
    )
    source = "MS-KI; pingidentity/scim2#224"
    if not patch_answer(probe, answer, why, source):
        return
    user = read(probe, path, why)
    if user is None:
        return
    name = lookup(user, "name")
    if (lookup(name, "givenName"), lookup(name, "familyName")) != ("Ada", "Lovelace"):
        probe.fail(f"Afterwards 'name' is {name!r}. {why}", source, probe.written)
    if lookup(user, "active") is not True:
        probe.fail(
            f"'active': true did not reactivate the user ({lookup(user, 'active')!r}).",
            "MS-KI; RFC 7644 §3.5.2.3",
            probe.written,
        )


def okta_deactivate(probe: Probe) -> None:
    """Okta (OIN apps): a path-less ``replace`` of ``{"active": false}``."""
    answer = probe.send(
        "PATCH",
        probe.state.path("Users", probe.state.user_id),
        patch({"op": "replace", "value": {"active": False}}),
    )
    why = (
        'Okta deactivates with a path-less replace of {"active": false}; servers '
        "that missed this form left deprovisioned users active."
    )
    source = "OKTA; pond/scimitar#29"
    if patch_answer(probe, answer, why, source):
        _active_is(probe, False, why, source)


def okta_put(probe: Probe) -> None:
    """Okta custom (AIW) apps: GET, then PUT the whole user, reactivation included."""
    path = probe.state.path("Users", probe.state.user_id)
    why = (
        "Okta custom apps send every user update, activation and deactivation "
        "included, as a GET then a PUT of the whole user (id, meta and groups "
        "echoed), and expect 200 with the updated user."
    )
    user = read(probe, path, why)
    if user is None:
        return
    name = lookup(user, "name")
    body = {
        **user,
        "name": {**(name if isinstance(name, dict) else {}), "givenName": "Okta"},
        "active": True,
        "groups": [],
    }
    answer = probe.send("PUT", path, body)
    if not probe.expect(answer, {200}, why, "OKTA; RFC 7644 §3.5.1"):
        return
    after = read(probe, path, why)
    if after is None:
        return
    seen = (lookup(after, "name", "givenName"), lookup(after, "active"))
    if seen != ("Okta", True):
        probe.fail(
            f"After the PUT givenName and active are {seen!r}, not ('Okta', True). "
            f"{why}",
            "OKTA; RFC 7644 §3.5.1",
            probe.written,
        )


def delete_users(probe: Probe) -> None:
    """``DELETE /Users/{id}``: 204, then 404, and the filter no longer finds it."""
    state = probe.state
    if delete(probe, state.path("Users", state.user_id)):
        answer = probe.send(
            "GET", "/Users", query={"filter": eq("userName", state.user_name)}
        )
        resources = probe.list_response(
            answer, "Entra matches users with this filter.", "MS-TUT"
        )
        if resources:
            probe.fail(
                "A deleted user is still found by its userName: Entra would match "
                "it and send updates that end in 404.",
                "RFC 7644 §3.6",
            )
    if state.second_user_id is not None:
        delete(probe, state.path("Users", state.second_user_id))
