"""One bulk request while its operations run (RFC 7644 §3.7).

The operations run one at a time, in the order :mod:`.order` gives, each as
its own single request (:mod:`.subrequests`): a failing operation undoes
nothing the others did, and the service goes on with the next one (§3.7:
"continue performing as many changes as possible and disregard partial
failures"). Before an operation runs, its references are replaced by the ids
their POSTs created (:mod:`.references`). A reference no POST of the request
declares is ``400 invalidValue`` (the request is wrong whatever the state); a
reference to a POST that failed is ``409`` (the RFC names no status for it;
409 is the one §3.7.1 gives an unresolved cross-reference).

``failOnErrors: n`` stops the processing once ``n`` operations have failed:
the operations not run yet are neither run nor listed. A POST on a cycle
that was created without some values (:mod:`.cycles`) still gets them when
the POSTs they reference have run; if processing stopped before those did,
it reports ``409``.
"""

from __future__ import annotations

from typing import Any

from ..errors import Conflict
from ..errors import InvalidValue
from ..errors import ScimError
from ..http import ScimResponse
from .cycles import Deferred
from .cycles import FollowUp
from .cycles import completion
from .cycles import created_without
from .cycles import defer
from .order import declarations
from .order import execution_order
from .references import substitute
from .request import Operation
from .response import entry
from .subrequests import Subrequests

__all__ = ["BulkRun"]


class BulkRun:
    """The state of one bulk request while its operations run.

    :param subrequests: runs each operation as a single request.
    :param operations: the request's operations, read.
    :param fail_on_errors: ``failOnErrors``, ``None`` when absent.
    """

    def __init__(
        self,
        subrequests: Subrequests,
        operations: list[Operation],
        fail_on_errors: int | None,
    ) -> None:
        self.subrequests = subrequests
        self.operations = operations
        self.fail_on_errors = fail_on_errors
        self.declared = declarations(operations)
        """The POST that declares each bulkId."""
        self.ids: dict[str, str] = {}
        """bulkId -> the id of the resource its POST created."""
        self.failed: set[str] = set()
        """bulkIds whose POST failed."""
        self.entries: dict[int, dict[str, Any]] = {}
        self.errors = 0
        self.follow_ups: list[FollowUp] = []

    async def run(self) -> list[dict[str, Any]]:
        """Run the operations; the entries of those processed, in request order."""
        for operation, cut in execution_order(self.operations, self.declared):
            await self._process(operation, cut)
            await self._run_follow_ups()
            if self._stopped():
                break
        for follow_up in self.follow_ups:
            missing = [r for r in follow_up.references if not self._settled(r)]
            self._record(
                follow_up.operation,
                created_without(
                    missing, "processing stopped (failOnErrors) before those POSTs ran"
                ),
                location=follow_up.location,
            )
        return [self.entries[i] for i in sorted(self.entries)]

    def _settled(self, reference: str) -> bool:
        """Whether a reference can be resolved now, or is known to fail."""
        return (
            reference not in self.declared
            or reference in self.ids
            or reference in self.failed
        )

    async def _run_follow_ups(self) -> None:
        """Run every follow-up whose references can now be resolved.

        A follow-up finishes an operation already under way, so it runs even
        once failOnErrors has stopped new operations.
        """
        while True:
            ready = next(
                (
                    f
                    for f in self.follow_ups
                    if all(self._settled(r) for r in f.references)
                ),
                None,
            )
            if ready is None:
                return
            self.follow_ups.remove(ready)
            await self._follow_up(ready)

    def _stopped(self) -> bool:
        return self.fail_on_errors is not None and self.errors >= self.fail_on_errors

    # -- one operation ----------------------------------------------------------

    def _record(
        self,
        operation: Operation,
        outcome: ScimResponse | ScimError,
        *,
        location: str | None = None,
    ) -> None:
        """The operation's entry in the response (RFC 7644 §3.7.3)."""
        self.entries[operation.index] = entry(operation, outcome, location)
        if isinstance(outcome, ScimError):
            self.errors += 1

    def _unresolvable(self, operation: Operation) -> ScimError | None:
        for reference in operation.references:
            if reference not in self.declared:
                return InvalidValue(
                    f"'bulkId:{reference[:64]}' names no POST operation of this request"
                )
        for reference in operation.references:
            if reference in self.failed:
                return Conflict(
                    f"'bulkId:{reference[:64]}' cannot be resolved: "
                    "the POST operation with that bulkId failed"
                )
        return None

    async def _process(self, operation: Operation, cut: frozenset[str]) -> None:
        """Run one operation, ``cut`` naming the POSTs of a cycle it runs without."""
        resource_type = operation.resource_type
        resource_id = operation.target
        if operation.path_reference is not None:
            resource_id = self.ids.get(operation.path_reference)
        location = None
        if resource_type is not None and resource_id is not None:
            location = self.subrequests.location(resource_type, resource_id)
        problem = operation.error or self._unresolvable(operation)
        if problem is not None:
            self._fail(operation, problem, location)
            return
        assert resource_type is not None
        assert operation.method is not None
        data = operation.data
        deferred: list[Deferred] = []
        if cut and data is not None:
            data, deferred = defer(data, cut)
        if data is not None:
            data = substitute(
                data, self.ids, in_patch_paths=operation.method == "PATCH"
            )
        outcome = await self.subrequests.run(
            operation.method, resource_type, resource_id, data, operation.version
        )
        if isinstance(outcome, ScimError):
            self._fail(operation, outcome, location)
            return
        if operation.method == "POST":
            body = outcome.json()
            resource_id = str(body["id"])
            location = self.subrequests.location(resource_type, resource_id)
            assert operation.bulk_id is not None
            self.ids[operation.bulk_id] = resource_id
            if deferred:
                self.follow_ups.append(
                    FollowUp(operation, resource_id, location, deferred)
                )
        self._record(operation, outcome, location=location)

    def _fail(
        self, operation: Operation, error: ScimError, location: str | None
    ) -> None:
        if operation.method == "POST":
            if operation.bulk_id is not None and (
                self.declared.get(operation.bulk_id) is operation
            ):
                self.failed.add(operation.bulk_id)
            location = None
        self._record(operation, error, location=location)

    async def _follow_up(self, follow_up: FollowUp) -> None:
        """Set the values a POST on a cycle was created without (§3.7.1)."""
        operation = follow_up.operation
        assert operation.resource_type is not None
        body, lost = completion(follow_up, self.failed, self.ids)
        if body is not None:
            outcome = await self.subrequests.run(
                "PATCH", operation.resource_type, follow_up.resource_id, body, None
            )
            if isinstance(outcome, ScimError):
                self._record(operation, outcome, location=follow_up.location)
                return
            version = outcome.header("etag")
            if version is not None:
                self.entries[operation.index]["version"] = version
        if lost:
            self._record(
                operation,
                created_without(lost, "the POST operations with those bulkIds failed"),
                location=follow_up.location,
            )
