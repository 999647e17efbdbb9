"""Kafka topic names and event types shared by every service.

A breaking change to a payload is a new topic version (`.v2`), never a new meaning for a field.
"""

from enum import StrEnum
from typing import Final

MESSAGES: Final = "parley.messages.v1"
CONVERSATIONS: Final = "parley.conversations.v1"
USERS: Final = "parley.users.v1"
# Per-user events (keyed by the recipient's user id): mentions and replies.
NOTIFICATIONS: Final = "parley.notifications.v1"
DLQ_SUFFIX: Final = ".dlq"

ALL_TOPICS: Final = (MESSAGES, CONVERSATIONS, USERS, NOTIFICATIONS)


def dlq(topic: str) -> str:
    """The dead-letter topic of `topic`."""
    return f"{topic}{DLQ_SUFFIX}"


def prefixed(prefix: str, topic: str) -> str:
    """A topic name under a deployment/test prefix (empty prefix in production)."""
    return f"{prefix}{topic}"


class EventType(StrEnum):
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    MESSAGE_DELETED = "message.deleted"
    REACTION_UPDATED = "reaction.updated"
    MESSAGE_PINNED = "message.pinned"
    MESSAGE_UNPINNED = "message.unpinned"
    READ_UPDATED = "read.updated"
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    MEMBER_ADDED = "member.added"
    MEMBER_REMOVED = "member.removed"
    TENANT_CREATED = "tenant.created"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    MENTION_CREATED = "mention.created"


TOPIC_OF: Final[dict[EventType, str]] = {
    EventType.MESSAGE_CREATED: MESSAGES,
    EventType.MESSAGE_UPDATED: MESSAGES,
    EventType.MESSAGE_DELETED: MESSAGES,
    EventType.REACTION_UPDATED: MESSAGES,
    EventType.MESSAGE_PINNED: MESSAGES,
    EventType.MESSAGE_UNPINNED: MESSAGES,
    EventType.READ_UPDATED: MESSAGES,
    EventType.CONVERSATION_CREATED: CONVERSATIONS,
    EventType.CONVERSATION_UPDATED: CONVERSATIONS,
    EventType.MEMBER_ADDED: CONVERSATIONS,
    EventType.MEMBER_REMOVED: CONVERSATIONS,
    EventType.TENANT_CREATED: USERS,
    EventType.USER_CREATED: USERS,
    EventType.USER_UPDATED: USERS,
    EventType.USER_DEACTIVATED: USERS,
    EventType.USER_REACTIVATED: USERS,
    EventType.MENTION_CREATED: NOTIFICATIONS,
}
