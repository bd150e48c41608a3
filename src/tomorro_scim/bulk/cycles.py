"""Circular ``bulkId`` references (RFC 7644 §3.7.1: the service provider "MUST try to resolve" them).

Following references from an operation can come back to a POST that is
waiting for its own references to run: a cycle (:mod:`.order` finds it).
The POST whose reference closes it (the last one reached) is created first,
without the attributes whose values reference a POST of the cycle (for a
multi-valued attribute such as ``members``, without those values only); the
others are created with its id; then a follow-up PATCH of the resource, in
its own transaction, sets the values it was created without (``add`` for a
multi-valued attribute, ``replace`` for another), and the operation's
``version`` becomes the one after it. If the follow-up fails, or a POST it
references failed, the operation reports that error (``409`` for the failed
reference) with its ``location``: the resource exists, without those values.
Two users who manage each other (enterprise ``manager``), or one who manages
herself, come out as asked. Two groups that contain each other (the RFC's
example) come out created, each without the other: in this library a group's
members are users, and a member id that names no user is skipped (a
``MembersSkipped`` event), or refused with ``400`` under
``reject_unknown_members``.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Set
from typing import Any

import attrs

from ..errors import Conflict
from ..patch.dialect import PATCH_OP_URN
from .references import references_in
from .references import substitute
from .request import Operation

__all__ = ["Deferred", "FollowUp", "completion", "created_without", "defer"]


@attrs.define(eq=False)
class Deferred:
    """An attribute left out of a POST on a cycle, set by a follow-up PATCH."""

    path: str
    """The PATCH path of the attribute (``members``, ``<extension URN>:manager``)."""
    multi_valued: bool
    value: Any
    """The values left out (a list) of a multi-valued attribute, else its value."""


@attrs.define(eq=False)
class FollowUp:
    """A POST on a cycle, created, waiting for the values it was created without."""

    operation: Operation
    resource_id: str
    location: str
    deferred: list[Deferred]

    @property
    def references(self) -> set[str]:
        """The bulkIds the values left out name."""
        return {r for d in self.deferred for r in references_in(d.value)}


def defer(
    data: dict[str, Any], pending: Set[str]
) -> tuple[dict[str, Any], list[Deferred]]:
    """``data`` without the attributes (or values) that reference ``pending`` bulkIds."""

    def refers(value: Any) -> bool:
        return any(r in pending for r in references_in(value))

    def split(path: str, name: str, value: Any, into: dict[str, Any]) -> None:
        if not refers(value):
            into[name] = value
        elif isinstance(value, list):
            into[name] = [v for v in value if not refers(v)]
            deferred.append(Deferred(path, True, [v for v in value if refers(v)]))
        else:
            deferred.append(Deferred(path, False, value))

    kept: dict[str, Any] = {}
    deferred: list[Deferred] = []
    for key, value in data.items():
        if key.lower().startswith("urn:") and isinstance(value, dict):
            extension: dict[str, Any] = {}
            for name, item in value.items():
                split(f"{key}:{name}", name, item, extension)
            kept[key] = extension
        else:
            split(key, key, value, kept)
    return kept, deferred


def completion(
    follow_up: FollowUp, failed: Set[str], ids: Mapping[str, str]
) -> tuple[dict[str, Any] | None, set[str]]:
    """The PatchOp body that sets what a POST on a cycle was created without
    (``None`` when nothing is left to set), and the bulkIds whose values stay
    out because their POSTs failed."""

    def failing(value: Any) -> set[str]:
        return {r for r in references_in(value) if r in failed}

    patches: list[dict[str, Any]] = []
    lost: set[str] = set()
    for deferred in follow_up.deferred:
        if deferred.multi_valued:
            values = [v for v in deferred.value if not failing(v)]
            for v in deferred.value:
                lost |= failing(v)
            if values:
                patches.append(
                    {
                        "op": "add",
                        "path": deferred.path,
                        "value": substitute(values, ids),
                    }
                )
        elif failing(deferred.value):
            lost |= failing(deferred.value)
        else:
            patches.append(
                {
                    "op": "replace",
                    "path": deferred.path,
                    "value": substitute(deferred.value, ids),
                }
            )
    if not patches:
        return None, lost
    return {"schemas": [PATCH_OP_URN], "Operations": patches}, lost


def created_without(references: Iterable[str], reason: str) -> Conflict:
    """Why a POST on a cycle holds fewer values than it was sent with (``409``)."""
    return Conflict(
        "created without the values that reference "
        + ", ".join(repr(f"bulkId:{r[:64]}") for r in sorted(references))
        + f": {reason}"
    )
