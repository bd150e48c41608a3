"""Apply planned PATCH steps to a resource's JSON form, copy-on-write.

The input resource is never mutated. The engine works on a shallow copy of the
root and copies a nested object only when it writes into it, so a PATCH costs
what it changes, not what the resource holds: a 200,000-member group is not
copied to rename it. Every step computes the attribute's new value
(``operations.py``), checks it (mutability, required, one primary) and writes
it; the first failure aborts the whole PATCH (RFC 7644 §3.5.2), and since
nothing shared was written, the input is untouched. Group membership steps go
to ``members.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scim2_models import Returned

from ..errors import InvalidValue
from ..errors import Mutability
from ..errors import NoTarget
from ..schemas import AttributeSchema
from ..schemas import ResourceType
from .changes import Change
from .changes import RemoveAttribute
from .changes import SetAttribute
from .members import Members
from .operations import as_dict
from .operations import check
from .operations import filtered
from .operations import norm
from .operations import sub_attribute
from .operations import unassigned
from .operations import whole
from .operations import without
from .steps import Step
from .steps import StepKind
from .steps import prefixed

__all__ = ["execute"]


def _label(attribute: AttributeSchema) -> str:
    if attribute.extension_urn is None:
        return attribute.path
    return f"{attribute.extension_urn}:{attribute.path}"


class _Document:
    """The resource being patched: a shallow copy, owned objects copied once."""

    def __init__(
        self, resource: Mapping[str, Any], resource_type: ResourceType, membership: bool
    ) -> None:
        self.before = resource
        self.resource_type = resource_type
        self.root: dict[str, Any] = dict(resource)
        # Strong references, so an id() is never reused while we compare it.
        self.owned: dict[int, Any] = {id(self.root): self.root}
        self.touched: dict[AttributeSchema, None] = {}
        self.members = Members(
            self.root, self.owned, loaded=membership and "members" in resource
        )

    def read(self, attribute: AttributeSchema) -> Any:
        urn = attribute.extension_urn
        holder = self.root if urn is None else self.root.get(urn)
        return holder.get(attribute.name) if isinstance(holder, dict) else None

    def write(self, attribute: AttributeSchema, value: Any) -> None:
        self.touched[attribute] = None
        urn = attribute.extension_urn
        holder: Any = self.root
        if urn is not None:
            holder = self.root.get(urn)
            if not isinstance(holder, dict):
                if unassigned(value):
                    return
                holder = {}
                self._own(urn, holder)
            elif self.owned.get(id(holder)) is not holder:
                holder = dict(holder)
                self._own(urn, holder)
        if unassigned(value):
            holder.pop(attribute.name, None)
            if urn is not None and not holder:
                del self.root[urn]
        else:
            holder[attribute.name] = value

    def _own(self, key: str, value: Any) -> None:
        self.root[key] = value
        self.owned[id(value)] = value

    # -- steps --------------------------------------------------------------

    def apply(self, step: Step) -> None:
        kind = step.kind
        if step.target.membership:
            # Every membership step targets members: the planned deltas and
            # the steps that need the list alike.
            self.members.apply(step)
            return
        attribute = step.target.attribute
        if kind is StepKind.REMOVE_EXTENSION or attribute is None:
            self._remove_extension(step)
            return
        old = self.read(attribute)
        if kind is StepKind.REMOVE_VALUES:
            new = without(attribute, old, step.value)
        elif step.target.predicate is not None:
            new = filtered(step, attribute, old)
        elif step.target.sub is not None:
            new = sub_attribute(step, attribute, step.target.sub, old)
        else:
            new = whole(step, attribute, old)
        if new is old:
            return
        check(attribute, old, new)
        self.write(attribute, new)

    def _remove_extension(self, step: Step) -> None:
        urn = step.target.extension
        assert urn is not None
        current = self.root.get(urn)
        if not isinstance(current, dict):
            return
        declared = self.resource_type.extension_attributes[urn.lower()].values()
        attributes = [a for a in declared if a.name in current]
        for attribute in attributes:
            check(attribute, current[attribute.name], None)
        for attribute in attributes:
            self.touched[attribute] = None
        del self.root[urn]

    # -- outcome --------------------------------------------------------------

    def changes(self) -> tuple[Change, ...]:
        """Attribute changes (net, in first-touched order), then membership ones."""
        found: list[Change] = []
        extensions: set[str] = set()
        for attribute in self.touched:
            urn = attribute.extension_urn
            if urn is None:
                old = self.before.get(attribute.name)
                new = self.root.get(attribute.name)
            else:
                extensions.add(urn)
                old = as_dict(self.before.get(urn)).get(attribute.name)
                new = as_dict(self.root.get(urn)).get(attribute.name)
            old, new = norm(old), norm(new)
            if old == new:
                continue
            path = _label(attribute)
            if new is None:
                found.append(RemoveAttribute(path))
            else:
                sensitive = attribute.returned is Returned.never
                found.append(SetAttribute(path, new, sensitive=sensitive))
        self._sync_schemas(extensions)
        found.extend(self.members.changes)
        return tuple(found)

    def _sync_schemas(self, extensions: set[str]) -> None:
        """Keep ``schemas`` listing exactly the extensions in use (RFC 7643 §3)."""
        schemas = self.root.get("schemas")
        if not extensions or not isinstance(schemas, list):
            return
        updated = list(schemas)
        for urn in sorted(extensions):
            folded = urn.lower()
            listed = [s for s in updated if isinstance(s, str) and s.lower() == folded]
            if isinstance(self.root.get(urn), dict):
                if not listed:
                    updated.append(urn)
            elif listed:
                updated = [s for s in updated if s not in listed]
        if updated != schemas:
            self.root["schemas"] = updated


def execute(
    steps: tuple[Step, ...],
    resource: Mapping[str, Any],
    resource_type: ResourceType,
    membership: bool,
) -> tuple[dict[str, Any], tuple[Change, ...]]:
    """Apply ``steps`` to a copy of ``resource``; return it and its changes.

    :raises ScimError: from the first step that fails, its detail prefixed
        with the operation index and path.
    :raises MembersNotLoaded: when a step needs members the resource lacks.
    """
    document = _Document(resource, resource_type, membership)
    for step in steps:
        try:
            document.apply(step)
        except (InvalidValue, Mutability, NoTarget) as exc:
            raise type(exc)(prefixed(step.where(), exc.detail)) from None
    return document.root, document.changes()
