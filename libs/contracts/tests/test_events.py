"""The event envelope: every event type round-trips, and invalid payloads name the field."""

from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator  # via schemathesis, a dev dependency
from pydantic import BaseModel, ValidationError

from parley_contracts.catalog import event_schema
from parley_contracts.claims import Role
from parley_contracts.events import PAYLOAD_OF, EventEnvelope, new_event
from parley_contracts.resources import (
    Conversation,
    ConversationKind,
    Member,
    MemberRole,
    Message,
    Notification,
    NotificationKind,
    ReadMarker,
    Tenant,
    User,
)
from parley_contracts.topics import (
    CONVERSATIONS,
    MESSAGES,
    TOPIC_OF,
    USERS,
    EventType,
    dlq,
    prefixed,
)

NOW = datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC)


def make_message(**overrides: object) -> Message:
    fields: dict[str, object] = {
        "id": "m1",
        "tenant_id": "t1",
        "conversation_id": "c1",
        "seq": 1,
        "sender_id": "u1",
        "content": "hello",
        "created_at": NOW,
    }
    return Message.model_validate(fields | overrides)


def make_conversation() -> Conversation:
    return Conversation(
        id="c1",
        tenant_id="t1",
        kind=ConversationKind.GROUP,
        title="team",
        members=[Member(user_id="u1", role=MemberRole.ADMIN, joined_at=NOW)],
        created_by="u1",
        created_at=NOW,
        updated_at=NOW,
    )


def make_payload(event_type: EventType) -> BaseModel:
    model = PAYLOAD_OF[event_type]
    if model is Message:
        return make_message()
    if model is Conversation:
        return make_conversation()
    if model is ReadMarker:
        return ReadMarker(conversation_id="c1", user_id="u1", last_read_seq=3, unread_count=0)
    if model is Tenant:
        return Tenant(id="t1", name="Acme", slug="acme", created_at=NOW)
    if model is User:
        return User(
            id="u1",
            tenant_id="t1",
            username="ada",
            email="ada@example.com",
            roles=[Role.OWNER],
            created_at=NOW,
        )
    if model is Notification:
        return Notification(
            id="n1",
            kind=NotificationKind.MENTION,
            conversation_id="c1",
            message_id="c1-1",
            seq=1,
            actor_id="u2",
            excerpt="hi @ada",
            created_at=NOW,
        )
    raise AssertionError(f"no factory for {model}")


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_event_type_round_trips_through_json(event_type: EventType) -> None:
    envelope = new_event(event_type, tenant_id="t1", key="c1", data=make_payload(event_type))

    parsed = EventEnvelope.model_validate_json(envelope.model_dump_json())

    assert parsed == envelope
    assert parsed.payload() == make_payload(event_type)
    assert parsed.topic == TOPIC_OF[event_type]


def test_every_event_type_has_a_topic_and_a_payload() -> None:
    assert set(TOPIC_OF) == set(EventType)
    assert set(PAYLOAD_OF) == set(EventType)


def test_topics_follow_architecture_names() -> None:
    assert TOPIC_OF[EventType.MESSAGE_CREATED] == MESSAGES == "parley.messages.v1"
    assert TOPIC_OF[EventType.MEMBER_ADDED] == CONVERSATIONS == "parley.conversations.v1"
    assert TOPIC_OF[EventType.USER_CREATED] == USERS == "parley.users.v1"
    assert dlq(MESSAGES) == "parley.messages.v1.dlq"
    assert prefixed("t1.", MESSAGES) == "t1.parley.messages.v1"


def test_envelope_serialises_timestamps_as_rfc3339_utc_milliseconds() -> None:
    envelope = new_event(
        EventType.MESSAGE_CREATED, tenant_id="t1", key="c1", data=make_message(), occurred_at=NOW
    )

    dumped = envelope.model_dump(mode="json")

    assert dumped["occurred_at"] == "2026-11-23T10:00:00.123Z"
    assert dumped["data"]["created_at"] == "2026-11-23T10:00:00.123Z"
    assert set(dumped) == {"event_id", "type", "version", "tenant_id", "occurred_at", "key", "data"}


def test_new_event_refuses_a_payload_of_the_wrong_kind() -> None:
    with pytest.raises(TypeError, match="carries Message"):
        new_event(EventType.MESSAGE_CREATED, tenant_id="t1", key="c1", data=make_conversation())


def test_deterministic_event_id_is_kept() -> None:
    envelope = new_event(
        EventType.MESSAGE_CREATED, tenant_id="t1", key="c1", data=make_message(), event_id="m1:1"
    )
    assert envelope.event_id == "m1:1"


def test_invalid_payload_fails_naming_the_field() -> None:
    envelope = EventEnvelope(
        event_id="e1",
        type=EventType.MESSAGE_CREATED,
        tenant_id="t1",
        occurred_at=NOW,
        key="c1",
        data=make_message().model_dump(mode="json") | {"seq": 0},
    )

    with pytest.raises(ValidationError) as caught:
        envelope.payload()

    assert [error["loc"] for error in caught.value.errors()] == [("seq",)]


def test_envelope_without_tenant_fails_naming_the_field() -> None:
    raw = new_event(EventType.MESSAGE_CREATED, tenant_id="t1", key="c1", data=make_message())
    broken = raw.model_dump(mode="json") | {"tenant_id": ""}

    with pytest.raises(ValidationError) as caught:
        EventEnvelope.model_validate(broken)

    assert caught.value.errors()[0]["loc"] == ("tenant_id",)


def test_unknown_event_type_is_rejected() -> None:
    raw = new_event(EventType.MESSAGE_CREATED, tenant_id="t1", key="c1", data=make_message())
    with pytest.raises(ValidationError) as caught:
        EventEnvelope.model_validate(raw.model_dump(mode="json") | {"type": "message.exploded"})
    assert caught.value.errors()[0]["loc"] == ("type",)


@pytest.mark.parametrize("event_type", list(EventType))
def test_each_published_schema_accepts_its_events_and_refuses_others(
    event_type: EventType,
) -> None:
    schema = event_schema(event_type)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    event = new_event(
        event_type, tenant_id="t1", key="k1", data=make_payload(event_type)
    ).model_dump(mode="json")
    assert list(validator.iter_errors(event)) == []
    assert list(validator.iter_errors(event | {"type": "not.this"}))
    assert list(validator.iter_errors(event | {"data": {"id": 1}}))
