"""The steps of ``tomorro-scim check``, in the order they run.

They replay what Microsoft Entra ID and Okta send: Entra's *Test connection*
probe and Okta's connector test, then one round on throw-away resources —
create a user, find it, update and deactivate it the way Entra's default job,
Entra's ``aadOptscim062020`` flag and Okta do, create a group, add and remove
members in both dialects, delete everything and read it back. Each step only
writes to resources the check created.

A step is a function of a :class:`~tomorro_scim.doctor.probe.Probe`; it records
findings and fills the shared :class:`~tomorro_scim.doctor.probe.State`. A step
whose ``needs`` an earlier step could not provide is skipped.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from . import groups
from . import preflight
from . import users
from .probe import Probe

__all__ = ["STEPS", "Step"]


@attrs.frozen
class Step:
    """One step: its key, its title, who sends these requests, its code."""

    key: str
    title: str
    clients: str
    run: Callable[[Probe], None] = attrs.field(repr=False)
    needs: tuple[str, ...] = ()
    """State attributes (``user_id``, ``group_id``) that must be set to run."""


_USER = ("user_id",)
_GROUP = ("group_id",)
_MEMBERS = ("members_added",)

STEPS: tuple[Step, ...] = (
    Step("discovery", "Discovery documents", "SCIM clients", preflight.discovery),
    Step("auth", "No token, no access (401)", "Okta", preflight.authentication),
    Step("test-connection", "Test connection", "Entra", preflight.test_connection),
    Step("group-lookup", "Group lookup, no match", "Entra", preflight.group_lookup),
    Step("okta-paging", "Connector test and paging", "Okta", preflight.okta_paging),
    Step("create-user", "Create a user", "Entra, Okta", users.create),
    Step(
        "find-user", "Find it by userName, externalId", "Entra, Okta", users.find, _USER
    ),
    Step("duplicate-user", "Same userName again: 409", "Okta", users.duplicate, _USER),
    Step(
        "entra-update",
        'Update ("Replace" per path)',
        "Entra",
        users.entra_update,
        _USER,
    ),
    Step(
        "entra-deactivate",
        'Deactivate (active "False")',
        "Entra",
        users.entra_deactivate,
        _USER,
    ),
    Step(
        "entra-flag-update",
        "Update with aadOptscim062020",
        "Entra",
        users.entra_flag_update,
        _USER,
    ),
    Step(
        "okta-deactivate",
        'Deactivate ({"active": false})',
        "Okta",
        users.okta_deactivate,
        _USER,
    ),
    Step("okta-put", "Update and reactivate with PUT", "Okta", users.okta_put, _USER),
    Step("create-group", "Create a group", "Entra, Okta", groups.create),
    Step(
        "add-members",
        'Add two members ("Add")',
        "Entra, Okta",
        groups.add_members,
        (*_USER, *_GROUP),
    ),
    Step("find-group", "Find it by displayName", "Entra, Okta", groups.find, _GROUP),
    Step(
        "entra-remove-member",
        "Remove a member by value",
        "Entra",
        groups.entra_remove_member,
        _MEMBERS,
    ),
    Step(
        "filter-remove-member",
        "Remove a member by filter",
        "Entra, Okta",
        groups.filter_remove_member,
        _MEMBERS,
    ),
    Step(
        "delete-group", "Delete the group", "Entra, Okta", groups.delete_group, _GROUP
    ),
    Step("delete-users", "Delete the users", "Entra", users.delete_users, _USER),
)
"""Every step, in the order it runs."""
