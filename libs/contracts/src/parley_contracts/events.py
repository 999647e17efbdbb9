"""The event envelope that crosses Kafka, and the payload model of each event type."""

import uuid
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from parley_contracts.resources import (
    Conversation,
    Message,
    Notification,
    ReadMarker,
    Tenant,
    User,
)
from parley_contracts.topics import TOPIC_OF, EventType
from parley_contracts.validation import Timestamp

ENVELOPE_VERSION: Final = 1

PAYLOAD_OF: Final[dict[EventType, type[BaseModel]]] = {
    EventType.MESSAGE_CREATED: Message,
    EventType.MESSAGE_UPDATED: Message,
    EventType.MESSAGE_DELETED: Message,
    EventType.REACTION_UPDATED: Message,
    EventType.MESSAGE_PINNED: Message,
    EventType.MESSAGE_UNPINNED: Message,
    EventType.READ_UPDATED: ReadMarker,
    EventType.CONVERSATION_CREATED: Conversation,
    EventType.CONVERSATION_UPDATED: Conversation,
    EventType.MEMBER_ADDED: Conversation,
    EventType.MEMBER_REMOVED: Conversation,
    EventType.TENANT_CREATED: Tenant,
    EventType.USER_CREATED: User,
    EventType.USER_UPDATED: User,
    EventType.USER_DEACTIVATED: User,
    EventType.USER_REACTIVATED: User,
    EventType.MENTION_CREATED: Notification,
}


class EventEnvelope(BaseModel):
    """`{event_id, type, version, tenant_id, occurred_at, key, data}`.

    `key` is the Kafka partition key (the conversation id for conversation and message events),
    so every event of one conversation stays ordered in one partition. `event_id` is stable
    across redeliveries: consumers deduplicate on it.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str = Field(min_length=1)
    type: EventType
    version: int = Field(default=ENVELOPE_VERSION, ge=1)
    tenant_id: str = Field(min_length=1)
    occurred_at: Timestamp
    key: str = Field(min_length=1)
    data: dict[str, Any]

    @property
    def topic(self) -> str:
        return TOPIC_OF[self.type]

    def payload(self) -> BaseModel:
        """`data` parsed as the resource its type carries (raises `ValidationError` if invalid)."""
        return PAYLOAD_OF[self.type].model_validate(self.data)

    def message(self) -> Message:
        payload = self.payload()
        if not isinstance(payload, Message):
            raise TypeError(f"{self.type} does not carry a message")
        return payload

    def conversation(self) -> Conversation:
        payload = self.payload()
        if not isinstance(payload, Conversation):
            raise TypeError(f"{self.type} does not carry a conversation")
        return payload


def new_event(
    type: EventType,
    *,
    tenant_id: str,
    key: str,
    data: BaseModel,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> EventEnvelope:
    """An envelope around `data`, validated against the payload model of `type`.

    Pass a deterministic `event_id` when the same logical event may be written twice
    (e.g. a retried request), so the outbox and consumers see it once.
    """
    expected = PAYLOAD_OF[type]
    if not isinstance(data, expected):
        raise TypeError(f"{type} carries {expected.__name__}, not {data.__class__.__name__}")
    return EventEnvelope(
        event_id=event_id or uuid.uuid4().hex,
        type=type,
        tenant_id=tenant_id,
        occurred_at=occurred_at or datetime.now(UTC),
        key=key,
        data=data.model_dump(mode="json"),
    )
