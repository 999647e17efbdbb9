"""What messaging publishes, through the outbox, keyed by conversation id so one
conversation's events stay ordered. Event ids are deterministic where a retry could write the
same event twice."""

import uuid

from parley_contracts.events import new_event
from parley_contracts.resources import Conversation, Message, Notification, ReadMarker
from parley_contracts.topics import CONVERSATIONS, MESSAGES, NOTIFICATIONS, EventType
from parley_kit.outbox import Outbox

TOPICS = [MESSAGES, CONVERSATIONS, NOTIFICATIONS]


class MessagingEvents:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def message(
        self,
        type: EventType,
        message: Message,
        position: int | None,
        event_id: str | None = None,
    ) -> None:
        await self._outbox.enqueue(
            new_event(
                type,
                tenant_id=message.tenant_id,
                key=message.conversation_id,
                data=message,
                event_id=event_id
                or (
                    f"message:{message.id}:created"
                    if type is EventType.MESSAGE_CREATED
                    else f"message:{message.id}:v{message.version}:{type.value}"
                ),
            ),
            position=position,
        )

    async def read(self, tenant_id: str, marker: ReadMarker, position: int | None) -> None:
        await self._outbox.enqueue(
            new_event(
                EventType.READ_UPDATED,
                tenant_id=tenant_id,
                key=marker.conversation_id,
                data=marker,
                event_id=f"read:{marker.conversation_id}:{marker.user_id}:{marker.last_read_seq}",
            ),
            position=position,
        )

    async def notifications(
        self, tenant_id: str, notifications: list[tuple[str, Notification, int]]
    ) -> None:
        """`mention.created` per (recipient id, notification, message version), keyed by the
        recipient (their events stay ordered). The id names the message version, so a mention
        edited away and back is announced again, and a retried write is not."""
        await self._outbox.enqueue(
            *(
                new_event(
                    EventType.MENTION_CREATED,
                    tenant_id=tenant_id,
                    key=user_id,
                    data=notification,
                    event_id=f"notification:{user_id}:{notification.id}:v{version}",
                )
                for user_id, notification, version in notifications
            )
        )

    async def conversation(
        self,
        type: EventType,
        conversation: Conversation,
        position: int | None,
        affected_user_ids: list[str] | None = None,
    ) -> None:
        envelope = new_event(
            type,
            tenant_id=conversation.tenant_id,
            key=conversation.id,
            data=conversation,
            event_id=f"conversation:{conversation.id}:{type.value}:{uuid.uuid4().hex}",
        )
        if affected_user_ids is not None:
            # An added field (allowed by the envelope rules): who joined or left, so real-time
            # relays can move those users' sockets between rooms.
            data = envelope.data | {"affected_user_ids": affected_user_ids}
            envelope = envelope.model_copy(update={"data": data})
        await self._outbox.enqueue(envelope, position=position)
