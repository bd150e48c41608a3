"""What a PATCH changed, as typed values a storage can apply one by one.

RFC 7644 §3.5.2 makes a PATCH atomic; DESIGN.md rule 5 asks the engine to say
*what* changed so a storage writes deltas instead of whole resources. Two
families:

* attribute changes, one per top-level attribute whose value differs after the
  whole PATCH (``SetAttribute`` with the complete new value, or
  ``RemoveAttribute``). A PATCH that re-sends current values yields none.
* membership changes, one per membership operation, in request order
  (``AddMembers``, ``RemoveMembers``, ``ReplaceMembers``). They carry member
  ids only and are planned without reading the current member list, so a
  storage applies them as row inserts and deletes. They are idempotent by
  RFC 7644 §3.5.2.1/§3.5.2.2: adding a present member or removing an absent
  one is not an error, so they may name such ids.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "AddMembers",
    "Change",
    "RemoveAttribute",
    "RemoveMembers",
    "ReplaceMembers",
    "SetAttribute",
]


@attrs.frozen(repr=False)
class SetAttribute:
    """A top-level attribute now holds ``value`` (its whole new JSON value).

    ``path`` is the canonical attribute name (``"name"``, ``"emails"``), or the
    URN-qualified name of an extension attribute
    (``"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"``).
    """

    path: str
    value: Any
    sensitive: bool = attrs.field(default=False, kw_only=True)
    """The attribute is never returned (``password``): keep it out of logs."""

    def __repr__(self) -> str:
        shown = "<hidden>" if self.sensitive else repr(self.value)
        return f"SetAttribute(path={self.path!r}, value={shown})"


@attrs.frozen
class RemoveAttribute:
    """A top-level attribute is now unassigned (RFC 7643 §2.5)."""

    path: str


@attrs.frozen
class AddMembers:
    """These ids are members after the change (duplicates of members are no-ops)."""

    ids: tuple[str, ...]


@attrs.frozen
class RemoveMembers:
    """These ids are not members after the change (absent ids are no-ops)."""

    ids: tuple[str, ...]


@attrs.frozen
class ReplaceMembers:
    """Exactly these ids are the members after the change (``()`` empties the group)."""

    ids: tuple[str, ...]


Change = SetAttribute | RemoveAttribute | AddMembers | RemoveMembers | ReplaceMembers
"""Any change :func:`~tomorro_scim.patch.apply_patch` reports."""
