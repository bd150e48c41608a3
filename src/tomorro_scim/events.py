"""Typed events the host app subscribes to, delivered after the write commits.

The service publishes one event per thing that happened (a user created, a
role changed, members added…) once the request's transaction has committed,
so a subscriber never sees a change that was rolled back. A subscriber that
raises is logged at ERROR and does not fail the request: the IdP's write
succeeded, and failing its response would make it retry a write that is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from copy import deepcopy
from typing import Any

import attrs

__all__ = [
    "Event",
    "EventBus",
    "GroupCreated",
    "GroupDeleted",
    "GroupRenamed",
    "MembersAdded",
    "MembersRemoved",
    "MembersSkipped",
    "RoleChanged",
    "UserCreated",
    "UserDeactivated",
    "UserDeleted",
    "UserReactivated",
    "UserUpdated",
]

_log = logging.getLogger("tomorro_scim.events")


@attrs.frozen(kw_only=True)
class Event:
    """What every event carries: where it happened and who asked."""

    tenant: str
    """The tenant whose data changed (the one the request's token names)."""
    resource_id: str
    """The id of the user or group the event is about."""
    request_id: str
    """The request's ``X-Request-Id`` (the client's, or one the service made);
    every event of one request, and its log line, share it."""
    client: str | None = None
    """The IdP, as its ``User-Agent`` names it (``Okta SCIM Client 1.0.0``)."""


@attrs.frozen(kw_only=True)
class UserCreated(Event):
    """A ``POST /Users`` stored a user (or linked one the app had, see ``adopted``)."""

    user: dict[str, Any]
    """The stored document (a copy: changing it changes nothing stored)."""
    role: str | None
    """The app role the role map resolved for the user."""
    adopted: bool = False
    """The user existed in the app and was linked instead of created."""


@attrs.frozen(kw_only=True)
class UserUpdated(Event):
    """A PUT or PATCH changed a user's document (not sent for a write that changed nothing)."""

    user: dict[str, Any]
    """The document as stored after the write (a copy)."""
    changed: tuple[str, ...]
    """The top-level attributes whose value changed."""


@attrs.frozen(kw_only=True)
class UserDeactivated(Event):
    """``active`` went from true (or unset) to false; the user stays readable."""


@attrs.frozen(kw_only=True)
class UserReactivated(Event):
    """``active`` went from false to true."""


@attrs.frozen(kw_only=True)
class UserDeleted(Event):
    """The user is gone, and out of every group."""


@attrs.frozen(kw_only=True)
class RoleChanged(Event):
    """A user's app role changed: by ``userType``, or by joining or leaving a
    group that grants one (roles are recomputed, never accumulated)."""

    old: str | None
    """The role before (``None`` when the user had none recorded)."""
    new: str
    """The role now."""


@attrs.frozen(kw_only=True)
class GroupCreated(Event):
    """A ``POST /Groups`` stored a group; its members follow as :class:`MembersAdded`."""

    group: dict[str, Any]
    """The stored document, without members (a copy)."""


@attrs.frozen(kw_only=True)
class GroupRenamed(Event):
    """A group's ``displayName`` changed."""

    old: str | None
    """The name before."""
    new: str
    """The name now."""


@attrs.frozen(kw_only=True)
class GroupDeleted(Event):
    """The group is gone; its members stay, and lose any role it granted."""


@attrs.frozen(kw_only=True)
class MembersAdded(Event):
    """Users joined a group (only those that were not members already)."""

    member_ids: tuple[str, ...]
    """The ids of the users that joined, in the order they were added."""


@attrs.frozen(kw_only=True)
class MembersRemoved(Event):
    """Users left a group (only those that were members)."""

    member_ids: tuple[str, ...]
    """The ids of the users that left."""


@attrs.frozen(kw_only=True)
class MembersSkipped(Event):
    """Member ids a request named that are not users of the tenant; not stored."""

    member_ids: tuple[str, ...]


Subscriber = Callable[[Event], None]


def _detached(event: Event) -> Event:
    """The event with deep copies of the documents it carries (the storage's own)."""
    documents = {
        field.name: deepcopy(getattr(event, field.name))
        for field in attrs.fields(type(event))
        if isinstance(getattr(event, field.name), dict)
    }
    return attrs.evolve(event, **documents) if documents else event


class EventBus:
    """Subscribers per event class; an event reaches those of its class and bases."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[type[Event], Subscriber]] = []

    def subscribe(
        self, handler: Callable[[Any], None], event_type: type[Event] = Event
    ) -> Callable[[Any], None]:
        """Call ``handler`` with every event of ``event_type`` (all events by default).

        Returns the handler, so it works as a decorator via ``functools.partial``
        or a plain call.
        """
        self._subscribers.append((event_type, handler))
        return handler

    def on(self, event_type: type[Event]) -> Callable[[Subscriber], Subscriber]:
        """Decorator form: ``@bus.on(UserDeactivated)``."""

        def register(handler: Subscriber) -> Subscriber:
            self.subscribe(handler, event_type)
            return handler

        return register

    def publish(self, events: list[Event]) -> None:
        """Deliver ``events`` in order to the subscribers of their classes.

        A subscriber receives its own copy of an event's documents, made only
        when someone subscribes: changing one never changes what is stored.
        """
        if not self._subscribers:
            return
        for event in events:
            event = _detached(event)
            for event_type, handler in self._subscribers:
                if isinstance(event, event_type):
                    try:
                        handler(event)
                    except Exception:
                        _log.exception(
                            "event subscriber %r failed on %s (request %s)",
                            handler,
                            type(event).__name__,
                            event.request_id,
                        )
