"""Group membership steps: deltas planned from the request, applied without the list.

DESIGN.md rule 5: a storage turns "add 3 members to a group of 200,000" into 3
inserts. Add, remove-by-id and replace-all steps therefore emit their change
(:class:`~.changes.AddMembers`, :class:`~.changes.RemoveMembers`,
:class:`~.changes.ReplaceMembers`) without reading ``members``; when the
resource does carry its members, the result's list is updated too, copied at
most once per step. Steps that select or edit existing members by anything
but their ids need the list, and report what they did as the same id deltas.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from .changes import AddMembers
from .changes import Change
from .changes import RemoveMembers
from .changes import ReplaceMembers
from .operations import as_list
from .operations import filtered
from .operations import sub_attribute
from .steps import Step
from .steps import StepKind

__all__ = ["Members", "MembersNotLoaded"]


class MembersNotLoaded(RuntimeError):
    """A membership step needs the group's member list and the resource has none.

    This is a bug in the caller, not in the request: a storage must load
    ``members`` (``[]`` for an empty group) when
    :attr:`~tomorro_scim.patch.PatchPlan.needs_members` is true. It is
    deliberately not a :class:`~tomorro_scim.errors.ScimError`, so it
    surfaces as a 500 instead of blaming the client.
    """


def _ids(members: list[Any]) -> list[str]:
    return [
        m["value"]
        for m in members
        if isinstance(m, dict) and isinstance(m.get("value"), str)
    ]


class Members:
    """The membership side of one PATCH: the changes, and ``members`` if loaded."""

    def __init__(self, root: dict[str, Any], owned: dict[int, Any], loaded: bool):
        self.root = root
        self.owned = owned
        self.loaded = loaded
        """Whether ``root["members"]`` is the whole member list (absent = empty)."""
        self.changes: list[Change] = []
        self._ids: set[Hashable] | None = None

    def apply(self, step: Step) -> None:
        kind = step.kind
        if kind is StepKind.ADD_MEMBERS:
            self._add(step)
        elif kind is StepKind.REMOVE_MEMBERS:
            self._remove(step)
        elif kind is StepKind.REPLACE_MEMBERS:
            self._replace(step)
        else:
            self._by_list(step)

    def _index(self) -> set[Hashable]:
        if self._ids is None:
            self._ids = {
                m.get("value")
                for m in as_list(self.root.get("members"))
                if isinstance(m, dict)
            }
        return self._ids

    def _store(self, members: list[Any]) -> None:
        if members:
            self.root["members"] = members
            self.owned[id(members)] = members
        else:
            self.root.pop("members", None)

    def _add(self, step: Step) -> None:
        self.changes.append(AddMembers(step.ids))
        if not self.loaded:
            return
        index = self._index()
        new = [m for m in step.value if m["value"] not in index]
        if not new:
            return
        current = as_list(self.root.get("members"))
        if id(current) in self.owned:
            current.extend(new)
        else:
            # The first write copies the list once; later adds extend the copy.
            self._store([*current, *new])
        index.update(m["value"] for m in new)

    def _remove(self, step: Step) -> None:
        self.changes.append(RemoveMembers(step.ids))
        if not self.loaded:
            return
        index = self._index()
        gone = index.intersection(step.ids)
        if not gone:
            return
        current = as_list(self.root.get("members"))
        index.difference_update(gone)
        self._store(
            [m for m in current if not (isinstance(m, dict) and m.get("value") in gone)]
        )

    def _replace(self, step: Step) -> None:
        self.changes.append(ReplaceMembers(step.ids))
        self.loaded = True
        self._ids = set(step.ids)
        self._store(list(step.value))

    def _by_list(self, step: Step) -> None:
        """A step that selects or edits existing members: it needs the list."""
        if not self.loaded:
            raise MembersNotLoaded(
                f"{step.where()} needs the group's members: load them when "
                "PatchPlan.needs_members is true"
            )
        target = step.target
        attribute = target.attribute
        assert attribute is not None
        before = as_list(self.root.get("members"))
        if target.predicate is not None:
            after = as_list(filtered(step, attribute, before))
        else:
            assert target.sub is not None
            after = as_list(sub_attribute(step, attribute, target.sub, before))
        old_ids = _ids(before)
        new_ids = _ids(after)
        old_set, new_set = set(old_ids), set(new_ids)
        added = tuple(dict.fromkeys(i for i in new_ids if i not in old_set))
        removed = tuple(dict.fromkeys(i for i in old_ids if i not in new_set))
        if added:
            self.changes.append(AddMembers(added))
        if removed:
            self.changes.append(RemoveMembers(removed))
        self._ids = None
        self._store(list(after))
