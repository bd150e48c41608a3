"""SCIM PATCH (RFC 7644 §3.5.2) over the JSON form, with the Entra and Okta dialects.

:func:`apply_patch` applies a PatchOp body to a resource dict, all or nothing,
and returns the new resource with the typed :mod:`changes <.changes>` it made.
:func:`plan_patch` checks a request without a resource, so a storage can ask
:attr:`PatchPlan.needs_members` before loading a group's members. See
``docs/reference/patch.md`` for the semantics and the dialect switches.
"""

from .changes import AddMembers
from .changes import Change
from .changes import RemoveAttribute
from .changes import RemoveMembers
from .changes import ReplaceMembers
from .changes import SetAttribute
from .dialect import DEFAULT
from .dialect import PatchDialect
from .members import MembersNotLoaded
from .plan import PatchPlan
from .plan import PatchResult
from .plan import apply_patch
from .plan import needs_members
from .plan import plan_patch

__all__ = [
    "DEFAULT",
    "AddMembers",
    "Change",
    "MembersNotLoaded",
    "PatchDialect",
    "PatchPlan",
    "PatchResult",
    "RemoveAttribute",
    "RemoveMembers",
    "ReplaceMembers",
    "SetAttribute",
    "apply_patch",
    "needs_members",
    "plan_patch",
]
