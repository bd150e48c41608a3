"""The new value of one attribute after one step, and the checks it must pass.

Pure functions of (step, attribute schema, current value): they never write
into the current value, they build new lists and dicts, so what they return
can be stored in the copy-on-write document directly. RFC 7644 §3.5.2.1
(add), §3.5.2.2 (remove), §3.5.2.3 (replace); RFC 7643 §2.4 (primary).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scim2_models import Mutability as Mut

from ..errors import InvalidValue
from ..errors import Mutability
from ..errors import NoTarget
from ..filter import comparison_key
from ..schemas import AttributeSchema
from .dialect import MISSING
from .dialect import Op
from .paths import restricted
from .steps import Step
from .values import element_key

__all__ = [
    "as_dict",
    "as_list",
    "check",
    "filtered",
    "norm",
    "sub_attribute",
    "unassigned",
    "whole",
    "without",
]


def unassigned(value: Any) -> bool:
    """RFC 7643 §2.5: null, an empty array and an empty object are unassigned."""
    if isinstance(value, list | dict):
        return not value
    return value is None


def norm(value: Any) -> Any:
    """``None`` for any unassigned value, else the value."""
    return None if unassigned(value) else value


def as_list(value: Any) -> list[Any]:
    """The value if it is a list, else an empty one (a stored non-list is no list)."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


# -- checks ----------------------------------------------------------------------


def check(attribute: AttributeSchema, old: Any, new: Any) -> None:
    """RFC 7644 §3.5.2: readOnly never changes, immutable only from unassigned,
    a required attribute never becomes unassigned (§3.5.2.2: ``mutability``).
    Writing the value an attribute already has is not a change, which is how
    Okta's ``{"id": <same id>, ...}`` passes."""
    subs = () if attribute.multi_valued else restricted(attribute)
    fixed = (
        attribute.mutability is Mut.read_only or attribute.mutability is Mut.immutable
    )
    if not (fixed or attribute.required or subs):
        return
    before, after = norm(old), norm(new)
    if before == after:
        return
    name = attribute.path
    if attribute.mutability is Mut.read_only:
        raise Mutability(f"'{name}' is readOnly")
    if attribute.mutability is Mut.immutable and before is not None:
        raise Mutability(f"'{name}' is immutable and already set")
    if attribute.required and after is None:
        raise Mutability(f"'{name}' is required and cannot be removed")
    if subs:
        check_element(attribute, as_dict(before), as_dict(after))


def check_element(
    attribute: AttributeSchema, old: Mapping[str, Any], new: Mapping[str, Any]
) -> None:
    """The readOnly and immutable sub-attributes of one existing value."""
    for sub in restricted(attribute):
        before, after = old.get(sub.name), new.get(sub.name)
        if before == after:
            continue
        if sub.mutability is Mut.read_only:
            raise Mutability(f"'{sub.path}' is readOnly")
        if before is not None:
            raise Mutability(f"'{sub.path}' is immutable and already set")


def settle_primary(
    attribute: AttributeSchema, values: list[Any], marked: list[Any]
) -> list[Any]:
    """RFC 7643 §2.4: one ``primary: true`` at most; the one just set wins."""
    if "primary" not in attribute.sub_attributes or not marked:
        return values
    if len(marked) > 1:
        raise InvalidValue(f"more than one value of '{attribute.path}' is primary")
    winner = marked[0]
    return [
        {**value, "primary": False}
        if value is not winner and value.get("primary") is True
        else value
        for value in values
    ]


def _primaries(values: list[Any]) -> list[Any]:
    return [v for v in values if isinstance(v, dict) and v.get("primary") is True]


def _merge(old: Any, value: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7644 §3.5.2.1/§3.5.2.3: sub-attributes given replace, others stay."""
    merged = dict(as_dict(old))
    for key, item in value.items():
        if item is None:
            merged.pop(key, None)
        else:
            merged[key] = item
    return merged


def _with_sub(element: Any, name: str, value: Any) -> dict[str, Any]:
    updated = dict(as_dict(element))
    if value is None or value is MISSING:
        updated.pop(name, None)
    else:
        updated[name] = value
    return updated


# -- new values --------------------------------------------------------------------


def whole(step: Step, attribute: AttributeSchema, old: Any) -> Any:
    """A step on an attribute as a whole (``emails``, ``name``, ``userName``)."""
    value = step.value
    if step.op is Op.REMOVE or value is None:
        return None
    if attribute.multi_valued:
        if step.op is Op.REPLACE:
            return settle_primary(attribute, value, _primaries(value))
        current = as_list(old)
        seen = {element_key(v) for v in current}
        added = [v for v in value if element_key(v) not in seen]
        if not added:
            return old
        return settle_primary(attribute, current + added, _primaries(added))
    if attribute.is_complex:
        return _merge(old, value)
    return value


def sub_attribute(
    step: Step, attribute: AttributeSchema, sub: AttributeSchema, old: Any
) -> Any:
    """A step on a sub-attribute without a filter (``name.givenName``)."""
    value = None if step.op is Op.REMOVE else step.value
    if not attribute.multi_valued:
        if old is None and value is None:
            return None
        return _with_sub(old, sub.name, value)
    # "emails.value" without a filter reaches every value (scim2-models'
    # reading of RFC 7644 §3.5.2): nothing to reach is noTarget for a write.
    current = as_list(old)
    if not current:
        if value is None:
            return old
        raise NoTarget(f"'{attribute.path}' has no value to set '{sub.name}' on")
    new = [_with_sub(element, sub.name, value) for element in current]
    for before, after in zip(current, new, strict=True):
        check_element(attribute, as_dict(before), after)
    marked = new if sub.name == "primary" and value is True else []
    return settle_primary(attribute, new, marked)


def filtered(step: Step, attribute: AttributeSchema, old: Any) -> Any:
    """A step through a value filter (``emails[type eq "work"].value``)."""
    target = step.target
    predicate = target.predicate
    assert predicate is not None
    current = as_list(old)
    complex_values = attribute.is_complex
    hits = [
        i
        for i, element in enumerate(current)
        if (isinstance(element, dict) or not complex_values) and predicate(element)
    ]
    sub = target.sub
    value = step.value
    if step.op is Op.REMOVE or value is None:
        # A remove that selects nothing succeeds: removes are idempotent, and
        # Entra repeats them (PEER-LESSONS §2; RFC 7644 §3.5.2.2).
        if not hits:
            return old
        if sub is None:
            chosen = set(hits)
            return [e for i, e in enumerate(current) if i not in chosen]
        new = list(current)
        for i in hits:
            new[i] = _with_sub(current[i], sub.name, None)
            check_element(attribute, current[i], new[i])
        return [e for e in new if e]
    if not hits:
        return _create(step, attribute, current)
    new = list(current)
    marked: list[Any] = []
    for i in hits:
        if not complex_values:
            new[i] = value
            continue
        if sub is not None:
            element = _with_sub(current[i], sub.name, value)
            if sub.name == "primary" and value is True:
                marked.append(element)
        else:
            # §3.5.2.3: matching values are replaced; add merges into them.
            element = (
                dict(value) if step.op is Op.REPLACE else _merge(current[i], value)
            )
            if element.get("primary") is True:
                marked.append(element)
        check_element(attribute, current[i], element)
        new[i] = element
    return settle_primary(attribute, new, marked)


def _create(step: Step, attribute: AttributeSchema, current: list[Any]) -> list[Any]:
    """The value a filter describes, when it matched none (IDP-DIALECTS §2.5)."""
    target = step.target
    if not step.create:
        raise NoTarget(f"no value of '{attribute.path}' matches the filter")
    if target.template is None:
        raise NoTarget(
            f"no value of '{attribute.path}' matches the filter, and the filter "
            "does not describe one to create (it needs 'eq' terms joined by 'and')"
        )
    element = dict(target.template)
    if target.sub is not None:
        element[target.sub.name] = step.value
    else:
        element = _merge(element, step.value)
    return settle_primary(attribute, [*current, element], _primaries([element]))


def without(
    attribute: AttributeSchema, old: Any, selectors: list[Mapping[str, Any]]
) -> list[Any]:
    """The values left once those matching any selector are removed.

    A value matches a selector when it has every sub-attribute value the
    selector gives, compared as filters compare (case folded unless caseExact).
    """

    def matches(element: Any, selector: Mapping[str, Any]) -> bool:
        if not isinstance(element, dict):
            return element_key(element) == element_key(selector)
        for key, expected in selector.items():
            sub = attribute.sub_attributes[key.lower()]
            if comparison_key(sub, element.get(key)) != comparison_key(sub, expected):
                return False
        return True

    return [e for e in as_list(old) if not any(matches(e, s) for s in selectors)]
