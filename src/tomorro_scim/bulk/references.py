"""``bulkId`` references (RFC 7644 §3.7.2): finding them, and putting ids in their place.

A string value that is exactly ``bulkId:<id>`` anywhere in ``data`` (a
member's ``value``, the enterprise ``manager``, a custom extension), the id
segment of ``path`` (``/Groups/bulkId:qwerty``), and a quoted
``"bulkId:<id>"`` inside the ``path`` filter of a PATCH operation
(``members[value eq "bulkId:qwerty"]``) is replaced by the id of the
resource the POST with that ``bulkId`` created; the storage never sees the
reference. Only POSTs declare a ``bulkId``: it names the resource they
create. The prefix is matched whatever its case.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

from .values import field
from .values import map_strings
from .values import strings

__all__ = [
    "data_references",
    "patch_paths",
    "reference",
    "references_in",
    "substitute",
]

_PREFIX = "bulkid:"
_IN_FILTER = re.compile(r'"(?i:bulkid):([^"]*)"')
"""A quoted reference inside a PATCH path filter: ``members[value eq "bulkId:x"]``."""


def reference(value: str) -> str | None:
    """The bulkId a ``bulkId:<id>`` string names, else ``None``."""
    if value[: len(_PREFIX)].lower() == _PREFIX:
        return value[len(_PREFIX) :]
    return None


def references_in(value: Any) -> Iterator[str]:
    """The bulkIds the string values inside a JSON value name, in document order."""
    for text in strings(value):
        found = reference(text)
        if found is not None:
            yield found


def patch_paths(data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """The PatchOp operations of ``data`` with a string ``path``: (operation, key, path)."""
    operations = field(data, "Operations")
    if not isinstance(operations, list):
        return
    for operation in operations:
        if isinstance(operation, dict):
            for key, path in operation.items():
                if key.lower() == "path" and isinstance(path, str):
                    yield operation, key, path


def data_references(data: dict[str, Any], *, in_patch_paths: bool) -> tuple[str, ...]:
    """The bulkIds an operation's ``data`` names, each once, in document order;
    with ``in_patch_paths`` (a PATCH) also those quoted in its paths' filters."""
    found = list(references_in(data))
    if in_patch_paths:
        found += [
            match
            for _, _, text in patch_paths(data)
            for match in _IN_FILTER.findall(text)
        ]
    return tuple(dict.fromkeys(found))


def substitute(
    value: Any, ids: Mapping[str, str], *, in_patch_paths: bool = False
) -> Any:
    """A copy of ``value`` with every reference to a bulkId in ``ids`` replaced
    by the id of the resource its POST created (the others are left as sent).
    With ``in_patch_paths`` (a PatchOp body) the quoted references in the
    operations' path filters are replaced too."""

    def swap(text: str) -> str:
        found = reference(text)
        return ids.get(found, text) if found is not None else text

    resolved = map_strings(value, swap)
    if in_patch_paths and isinstance(resolved, dict):
        for operation, key, path in list(patch_paths(resolved)):
            operation[key] = _IN_FILTER.sub(
                lambda m: '"' + ids.get(m.group(1), m.group(0)[1:-1]) + '"',
                path,
            )
    return resolved
