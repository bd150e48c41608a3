"""Reading and walking the JSON values a bulk request carries.

Member names are matched whatever their case, as elsewhere in the library.
The walks use an explicit stack instead of recursion, so no body, however
deeply nested, can exhaust the Python stack.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

__all__ = ["field", "map_strings", "strings"]


def field(body: dict[str, Any], name: str) -> Any:
    """A member of a message object, its name matched whatever its case."""
    if name in body:
        return body[name]
    folded = name.lower()
    for key, value in body.items():
        if key.lower() == folded:
            return value
    return None


def strings(value: Any) -> Iterator[str]:
    """Every string value (not key) inside a JSON value, in document order,
    without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(reversed(item.values()))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """A copy of a JSON value, each string value passed through ``change``.

    Iterative, so a deeply nested body cannot exhaust the stack.
    """
    if isinstance(value, str):
        return change(value)
    if not isinstance(value, dict | list):
        return value
    root: dict[str, Any] | list[Any] = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, dict[str, Any] | list[Any]]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            copy: Any
            if isinstance(item, dict | list):
                copy = {} if isinstance(item, dict) else []
                stack.append((item, copy))
            elif isinstance(item, str):
                copy = change(item)
            else:
                copy = item
            if isinstance(target, dict):
                target[str(key)] = copy
            else:
                target.append(copy)
    return root
