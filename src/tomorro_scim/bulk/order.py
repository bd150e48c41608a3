"""The order a bulk request's operations run in (RFC 7644 §3.7), and its cycles (§3.7.1).

Operations may come in any order (§3.7: the provider may reorder them if
"the same stateful result is achieved"): they run in request order, except
that a POST runs just before the first operation that references it, after
the POSTs it references in turn. Nothing else moves, so which of two
clashing ``userName`` wins stays the request's choice. The order is walked
depth-first with an explicit stack, so a long chain of references cannot
exhaust the Python stack.

Following references from an operation can come back to a POST that is
waiting for its own references to run: a cycle. The POST whose reference
closes it (the last one reached) runs first, without the references to the
POSTs still waiting; :mod:`.cycles` says how it gets them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence

from .request import Operation

__all__ = ["declarations", "execution_order"]


def declarations(operations: Sequence[Operation]) -> dict[str, Operation]:
    """The POST that declares each bulkId.

    An erroneous POST declares nothing it could create, so it names a bulkId
    only when no well-formed POST does, and references to it fail as
    references to a failed POST do.
    """
    declared = {
        o.bulk_id: o
        for o in operations
        if o.method == "POST" and o.bulk_id is not None and o.error is None
    }
    for o in operations:
        if o.method == "POST" and o.bulk_id is not None and o.error is not None:
            declared.setdefault(o.bulk_id, o)
    return declared


def _dependencies(
    operation: Operation, declared: Mapping[str, Operation]
) -> Iterator[Operation]:
    """The POSTs an operation references, in the order it names them."""
    if operation.error is None:
        for reference in operation.references:
            if reference in declared:
                yield declared[reference]


def execution_order(
    operations: Sequence[Operation], declared: Mapping[str, Operation]
) -> Iterator[tuple[Operation, frozenset[str]]]:
    """Each operation once, in the order it runs, with the bulkIds it must run
    without because their POSTs are waiting on it (a cycle closed by it).

    Each operation in request order is the root of a depth-first walk of its
    references, with an explicit stack (no recursion, whatever the length of
    a chain). A reference to a POST still on the stack closes a cycle. The
    caller may stop iterating at any point (``failOnErrors``): what is not
    yielded yet does not run.
    """
    started: set[int] = set()
    done: set[int] = set()
    cut: dict[int, set[str]] = {}
    for root in operations:
        if root.index in started:
            continue
        started.add(root.index)
        stack = [(root, _dependencies(root, declared))]
        while stack:
            operation, dependencies = stack[-1]
            following = None
            for dependency in dependencies:
                if dependency.index not in started:
                    following = dependency
                    break
                if dependency.index not in done:
                    assert dependency.bulk_id is not None
                    cut.setdefault(operation.index, set()).add(dependency.bulk_id)
            if following is not None:
                started.add(following.index)
                stack.append((following, _dependencies(following, declared)))
                continue
            stack.pop()
            done.add(operation.index)
            yield operation, frozenset(cut.pop(operation.index, ()))
