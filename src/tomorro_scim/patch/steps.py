"""The planned form of a PATCH: one :class:`Step` per write, and error prefixes.

The planner (``plan.py``) turns each operation into steps; the engine
(``engine.py``, ``members.py``) applies them. Steps are plain immutable tuples:
a PATCH creates a handful, and a frozen attrs class costs three times as much
to build.
"""

from __future__ import annotations

import enum
from typing import Any
from typing import NamedTuple

from .dialect import Op
from .paths import Target

__all__ = ["Step", "StepKind", "prefixed", "where"]

_MAX_SHOWN = 100
_MAX_DETAIL = 400


class StepKind(enum.Enum):
    """How the engine applies a step."""

    ATTRIBUTE = "attribute"
    """add/replace/remove on an attribute, sub-attribute or filtered values."""

    REMOVE_EXTENSION = "remove_extension"
    """remove with an extension URN as the path: the whole extension object."""

    REMOVE_VALUES = "remove_values"
    """Entra's remove with a value array, on a non-membership attribute."""

    ADD_MEMBERS = "add_members"
    """Membership steps planned from the request alone (ids as deltas)."""

    REMOVE_MEMBERS = "remove_members"
    REPLACE_MEMBERS = "replace_members"


class Step(NamedTuple):
    """One planned write: an operation narrowed to a single target.

    A path-less operation becomes one step per key of its value. Steps hold
    canonical, type-checked values; what is left to check needs the resource
    (mutability against the current value, required, primary).
    """

    op_index: int
    """The index of the operation in ``Operations``."""

    op: Op
    target: Target
    value: Any
    """The canonical value, ``None`` to unassign, or :data:`~.dialect.MISSING`."""

    kind: StepKind = StepKind.ATTRIBUTE
    pathless: bool = False
    """The target is a key of a path-less value, not a path."""

    create: bool = False
    """Create the element a filter describes when none matches."""

    ids: tuple[str, ...] = ()
    """The member ids of a membership step."""

    @property
    def needs_members(self) -> bool:
        """Whether applying the step needs the current member list.

        Add, replace-all, remove-all and remove by ``value eq`` ids do not; a
        step that selects members by another filter, or writes a
        sub-attribute of existing members, does.
        """
        return self.kind is StepKind.ATTRIBUTE and self.target.membership

    def where(self) -> str:
        """``Operations[2] (path '...')``, the prefix of every error detail."""
        return where(self.op_index, self.target.text, self.pathless)


def prefixed(where: str, detail: str) -> str:
    """``where: detail``, bounded: a detail must stay a short, safe message."""
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 3] + "..."
    return f"{where}: {detail}"


def where(index: int, text: str, pathless: bool) -> str:
    """Name an operation and its path (or value key) for an error detail.

    Long paths are cut: the detail must stay a short, safe message.
    """
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    label = "value key" if pathless else "path"
    return f"Operations[{index}] ({label} '{text}')"
