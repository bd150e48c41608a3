"""The event bus: subscribe, deliver by class and base class, survive a failing subscriber."""

from __future__ import annotations

import logging

import attrs
import pytest

from tomorro_scim.events import Event
from tomorro_scim.events import EventBus
from tomorro_scim.events import GroupCreated
from tomorro_scim.events import MembersAdded
from tomorro_scim.events import RoleChanged
from tomorro_scim.events import UserCreated
from tomorro_scim.events import UserDeactivated
from tomorro_scim.events import UserDeleted

COMMON = {"tenant": "acme", "resource_id": "u1", "request_id": "r1"}


def created() -> UserCreated:
    return UserCreated(**COMMON, user={"userName": "a"}, role="Contributor")


def deactivated() -> UserDeactivated:
    return UserDeactivated(**COMMON)


def test_subscribe_to_everything() -> None:
    bus = EventBus()
    seen: list[Event] = []
    assert bus.subscribe(seen.append) == seen.append
    events = [created(), deactivated()]
    bus.publish(events)
    assert seen == events


def test_subscribe_to_one_class() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append, UserDeactivated)
    bus.publish([created(), deactivated(), created()])
    assert seen == [deactivated()]


def test_on_decorator() -> None:
    bus = EventBus()
    seen: list[RoleChanged] = []

    @bus.on(RoleChanged)
    def handler(event: Event) -> None:
        assert isinstance(event, RoleChanged)
        seen.append(event)

    change = RoleChanged(**COMMON, old="Contributor", new="Admin")
    bus.publish([created(), change])
    assert seen == [change]
    assert handler.__name__ == "handler"  # the decorator returns the function


def test_base_class_subscription() -> None:
    @attrs.frozen(kw_only=True)
    class Special(UserDeactivated):
        reason: str

    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append, UserDeactivated)
    special = Special(**COMMON, reason="left")
    bus.publish([special])
    assert seen == [special]


def test_order_of_delivery() -> None:
    bus = EventBus()
    calls: list[str] = []
    bus.subscribe(lambda e: calls.append(f"first {type(e).__name__}"))
    bus.subscribe(lambda e: calls.append(f"second {type(e).__name__}"))
    bus.publish([created(), deactivated()])
    assert calls == [
        "first UserCreated",
        "second UserCreated",
        "first UserDeactivated",
        "second UserDeactivated",
    ]


def test_failing_subscriber_is_logged_and_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("the host app's hook broke")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="tomorro_scim.events"):
        bus.publish([created(), deactivated()])
    assert seen == [created(), deactivated()]
    errors = [r for r in caplog.records if r.name == "tomorro_scim.events"]
    assert len(errors) == 2
    assert all(r.levelno == logging.ERROR for r in errors)
    assert "UserCreated" in errors[0].getMessage()
    assert "r1" in errors[0].getMessage()
    assert errors[0].exc_info is not None


def test_publish_nothing() -> None:
    bus = EventBus()
    bus.subscribe(lambda e: pytest.fail("no event expected"))
    bus.publish([])


def test_events_are_frozen_values() -> None:
    event = MembersAdded(**COMMON, member_ids=("u2",))
    with pytest.raises(AttributeError):
        event.member_ids = ()  # type: ignore[misc]
    assert event.client is None
    assert GroupCreated(**COMMON, group={}, client="Okta SCIM Client 1.0.0").client


def test_events_need_keywords() -> None:
    with pytest.raises(TypeError):
        UserDeleted("acme", "u1", "r1")  # type: ignore[misc]


def test_subscribers_get_copies_of_stored_documents() -> None:
    """A subscriber that edits the user it is handed changes nothing stored."""
    stored = {"userName": "ada", "name": {"givenName": "Ada"}}
    bus = EventBus()
    seen: list[Event] = []

    @bus.on(UserCreated)
    def vandal(event: UserCreated) -> None:
        event.user["userName"] = "mallory"
        event.user["name"]["givenName"] = "Mallory"
        seen.append(event)

    bus.publish(
        [
            UserCreated(
                tenant="t", resource_id="u1", request_id="r", user=stored, role=None
            )
        ]
    )
    assert seen
    assert stored == {"userName": "ada", "name": {"givenName": "Ada"}}
