"""Turn a PatchOp body into a plan of checked steps, and apply it.

Planning needs only the request and the schema: the envelope is read, paths
are bound, values are type-checked and canonicalised, and each operation
becomes one or more :class:`~.steps.Step` values. Whatever can be refused
without the resource is refused here. A plan tells a storage, before it loads
anything, whether the group's member list is needed
(:attr:`PatchPlan.needs_members`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import InvalidSyntax
from ..errors import InvalidValue
from ..errors import NoTarget
from ..errors import ScimError
from ..schemas import ResourceType
from ..schemas import default_registry
from .changes import Change
from .dialect import DEFAULT
from .dialect import MISSING
from .dialect import Op
from .dialect import PatchDialect
from .dialect import RawOperation
from .dialect import read_operations
from .engine import execute
from .paths import Target
from .paths import TargetKind
from .paths import compile_path
from .paths import resolve_key
from .steps import Step
from .steps import StepKind
from .steps import prefixed
from .steps import where
from .values import canonical_value

__all__ = ["PatchPlan", "PatchResult", "apply_patch", "needs_members", "plan_patch"]


@attrs.frozen(eq=False)
class PatchResult:
    """What a PATCH produced.

    ``resource`` is a new dict; objects the PATCH did not change are shared
    with the input resource (nothing is deep-copied), so treat both as
    read-only or copy before mutating them.
    """

    resource: dict[str, Any]
    changes: tuple[Change, ...]
    """Attribute changes (net, one per changed top-level attribute), then
    membership changes in request order. Empty when nothing changed."""


@attrs.frozen(eq=False)
class PatchPlan:
    """A checked PATCH request, ready to apply to resources of one type."""

    resource_type: ResourceType
    steps: tuple[Step, ...]

    needs_members: bool
    """Whether :meth:`apply` needs the group's ``members`` in the resource.

    False when every membership operation is an add, a replace of the whole
    list, a remove of all members, a remove by ``members[value eq "id"]``
    (or ``value eq`` terms joined by ``or``), or Entra's remove with a value
    array: those are planned as :class:`~.changes.AddMembers`,
    :class:`~.changes.RemoveMembers` and :class:`~.changes.ReplaceMembers`
    from the request alone. True when an operation selects members by another
    filter (``members[display eq "x"]``) or writes a sub-attribute of
    existing members; :meth:`apply` then raises
    :class:`~.members.MembersNotLoaded` if ``members`` is absent.
    """

    touches_members: bool
    """Whether any operation concerns ``members`` at all."""

    def apply(self, resource: Mapping[str, Any]) -> PatchResult:
        """Apply the plan to ``resource`` (its JSON form, canonical names).

        For a group, a resource without a ``members`` key means "members not
        loaded": membership changes are still reported, and ``members`` stays
        absent from the result. A loaded empty group is ``"members": []``.

        :raises ScimError: ``400`` with the operation index and path in the
            detail; the input is unchanged.
        :raises MembersNotLoaded: see :attr:`needs_members`.
        """
        if not isinstance(resource, dict | Mapping):
            raise TypeError("the resource must be a mapping (its JSON form)")
        membership = self.touches_members
        root, changes = execute(self.steps, resource, self.resource_type, membership)
        return PatchResult(resource=root, changes=changes)


def _resource_type(resource_type: str | ResourceType) -> ResourceType:
    if isinstance(resource_type, ResourceType):
        return resource_type
    return default_registry().get(resource_type)


def plan_patch(
    patch: Any,
    resource_type: str | ResourceType = "User",
    *,
    dialect: PatchDialect = DEFAULT,
) -> PatchPlan:
    """Read and check a PatchOp request body (RFC 7644 §3.5.2).

    :param patch: the decoded JSON body.
    :param resource_type: a name in the default registry, or a resource type.
    :param dialect: which IdP quirks to accept; ``PatchDialect.strict()`` for
        RFC 7644 as written.
    :raises ScimError: ``400 invalidSyntax``, ``invalidPath``,
        ``invalidValue`` or ``noTarget``, naming the operation and its path.
    """
    rt = _resource_type(resource_type)
    steps: list[Step] = []
    for raw in read_operations(patch, dialect):
        steps.extend(_plan_operation(rt, raw, dialect))
    needs = touches = False
    for step in steps:
        if step.target.membership:
            touches = True
            needs = needs or step.needs_members
    return PatchPlan(rt, tuple(steps), needs_members=needs, touches_members=touches)


def apply_patch(
    resource: Mapping[str, Any],
    patch: Any,
    resource_type: str | ResourceType = "User",
    *,
    dialect: PatchDialect = DEFAULT,
) -> PatchResult:
    """Apply a PatchOp request body to a resource, all or nothing.

    ``resource`` is the resource's JSON form with attribute names as the
    schema spells them (extension data under its URN key); it is never
    mutated. See :func:`plan_patch` for the request and :meth:`PatchPlan.apply`
    for the resource.
    """
    return plan_patch(patch, resource_type, dialect=dialect).apply(resource)


def needs_members(
    patch: Any,
    resource_type: str | ResourceType = "Group",
    *,
    dialect: PatchDialect = DEFAULT,
) -> bool:
    """Whether applying ``patch`` needs the group's current member list.

    A shortcut for ``plan_patch(...).needs_members`` (see
    :attr:`PatchPlan.needs_members`). An invalid request answers ``False``: it
    fails the same way in :func:`apply_patch`, with nothing loaded.
    """
    try:
        return plan_patch(patch, resource_type, dialect=dialect).needs_members
    except ScimError:
        return False


# -- planning -------------------------------------------------------------------


def _plan_operation(
    rt: ResourceType, raw: RawOperation, dialect: PatchDialect
) -> list[Step]:
    if raw.path is None:
        if raw.op is Op.REMOVE:
            raise NoTarget(
                f"Operations[{raw.op_index}]: 'remove' needs a path (RFC 7644 §3.5.2.2)"
            )
        return _plan_object(
            rt, raw, raw.value, dialect, None, f"Operations[{raw.op_index}]"
        )
    try:
        target = compile_path(rt, raw.path, dialect)
        if target.kind is TargetKind.ATTRIBUTE:
            return _plan_target(raw, target, raw.value, dialect, pathless=False)
    except ScimError as exc:
        prefix = where(raw.op_index, raw.path, pathless=False)
        raise type(exc)(prefixed(prefix, exc.detail)) from None
    prefix = where(raw.op_index, raw.path, pathless=False)
    if target.kind is TargetKind.ROOT:
        if raw.op is Op.REMOVE:
            raise NoTarget(f"{prefix}: the resource itself cannot be removed")
        return _plan_object(rt, raw, raw.value, dialect, None, prefix)
    return _plan_extension(rt, raw, target, raw.value, dialect, prefix)


def _plan_extension(
    rt: ResourceType,
    raw: RawOperation,
    target: Target,
    value: Any,
    dialect: PatchDialect,
    prefix: str,
) -> list[Step]:
    if value is None and raw.op is Op.ADD:
        raise InvalidValue(f"{prefix}: 'add' needs a value, not null")
    if raw.op is Op.REMOVE or value is None:
        has_value = raw.op is Op.REMOVE and value not in (MISSING, None)
        if has_value and not dialect.remove_value_as_filter:
            raise InvalidSyntax(
                f"{prefix}: 'remove' takes no value (RFC 7644 §3.5.2.2)"
            )
        step = Step(raw.op_index, raw.op, target, None, kind=StepKind.REMOVE_EXTENSION)
        return [step]
    return _plan_object(rt, raw, value, dialect, target.extension, prefix)


def _plan_object(
    rt: ResourceType,
    raw: RawOperation,
    value: Any,
    dialect: PatchDialect,
    within: str | None,
    prefix: str,
) -> list[Step]:
    """A path-less value (or one for an extension path): one step per key."""
    if value is MISSING or not isinstance(value, dict | Mapping):
        raise InvalidValue(
            f"{prefix}: '{raw.op.value}' without an attribute path takes an object "
            "of attributes (RFC 7644 §3.5.2.1)"
        )
    steps: list[Step] = []
    for key, item in value.items():
        if not isinstance(key, str):  # pragma: no cover - JSON keys are strings
            raise InvalidValue(f"{prefix}: {key!r} is not an attribute name")
        try:
            target = resolve_key(rt, key, dialect, within)
            if target is None:
                continue
            if target.kind is TargetKind.EXTENSION:
                steps.extend(
                    _plan_extension(
                        rt, raw, target, item, dialect, where(raw.op_index, key, True)
                    )
                )
                continue
            steps.extend(_plan_target(raw, target, item, dialect, pathless=True))
        except ScimError as exc:
            if exc.detail.startswith("Operations["):
                raise
            label = where(raw.op_index, key, pathless=True)
            raise type(exc)(prefixed(label, exc.detail)) from None
    return steps


def _plan_target(
    raw: RawOperation,
    target: Target,
    value: Any,
    dialect: PatchDialect,
    *,
    pathless: bool,
) -> list[Step]:
    attribute = target.attribute
    assert attribute is not None
    op = raw.op
    if op is Op.REMOVE:
        if value not in (MISSING, None):
            return _plan_remove_values(raw, target, value, dialect)
        if target.membership and target.sub is None:
            if target.predicate is None:
                return _members_step(raw, target, StepKind.REPLACE_MEMBERS, [])
            if target.member_ids is not None:
                ids = target.member_ids
                return [
                    Step(
                        raw.op_index, op, target, None, StepKind.REMOVE_MEMBERS, ids=ids
                    )
                ]
        return [Step(raw.op_index, op, target, MISSING, pathless=pathless)]
    if value is MISSING:
        raise InvalidValue(f"'{op.value}' needs a value")
    if value is None and op is Op.ADD:
        raise InvalidValue("'add' needs a value, not null")
    if target.membership and target.sub is None and target.predicate is None:
        entries = [] if value is None else canonical_value(attribute, value, dialect)
        kind = StepKind.ADD_MEMBERS if op is Op.ADD else StepKind.REPLACE_MEMBERS
        return _members_step(raw, target, kind, entries, pathless)
    if value is None:
        canonical = None
    elif target.sub is not None:
        canonical = canonical_value(target.sub, value, dialect)
    elif target.predicate is not None:
        canonical = canonical_value(attribute, value, dialect, element=True)
    else:
        canonical = canonical_value(attribute, value, dialect)
    return [
        Step(
            raw.op_index,
            op,
            target,
            canonical,
            pathless=pathless,
            create=dialect.create_on_unmatched_filter,
        )
    ]


def _plan_remove_values(
    raw: RawOperation, target: Target, value: Any, dialect: PatchDialect
) -> list[Step]:
    """``remove`` with a value: Entra's "remove these values" (IDP-DIALECTS §2.4)."""
    if not dialect.remove_value_as_filter:
        raise InvalidSyntax("'remove' takes no value (RFC 7644 §3.5.2.2)")
    attribute = target.attribute
    assert attribute is not None
    if attribute.multi_valued and target.sub is None and target.predicate is None:
        selectors = canonical_value(attribute, value, dialect)
        if target.membership:
            return _members_step(raw, target, StepKind.REMOVE_MEMBERS, selectors)
        return [Step(raw.op_index, raw.op, target, selectors, StepKind.REMOVE_VALUES)]
    # Nothing to select among: the value adds nothing to a plain remove.
    return [Step(raw.op_index, raw.op, target, MISSING)]


def _members_step(
    raw: RawOperation,
    target: Target,
    kind: StepKind,
    entries: list[Any],
    pathless: bool = False,
) -> list[Step]:
    """A membership step; every member is identified by its ``value`` (its id).

    Adding or removing no member is no step at all (and so no change).
    """
    by_id: dict[str, Any] = {}
    for entry in entries:
        member_id = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(member_id, str) or not member_id:
            raise InvalidValue("a member needs a 'value' holding its id")
        by_id.setdefault(member_id, entry)
    if not by_id and kind is not StepKind.REPLACE_MEMBERS:
        return []
    step = Step(
        raw.op_index,
        raw.op,
        target,
        list(by_id.values()),
        kind,
        pathless=pathless,
        ids=tuple(by_id),
    )
    return [step]
