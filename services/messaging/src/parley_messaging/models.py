"""What messaging stores. Every write is one of the steps every engine makes atomic: an insert
under a unique `_id` (or unique index), a delete by `_id`, or a whole-document write by `_id`
of a document whose writers are serialised. No document is read, changed in Python and written
back under concurrency; counts and sets that many users change at once are documents of their
own (a member, a reaction), counted in Redis (see `projection.py`).

Ids derived from natural keys (`<conversation>-<seq>`, `<conversation>:<user>`) make every hot
read a lookup by `_id`: the one filter FerretDB pushes down to its primary key. The few secondary
indexes (the unique client message id above all) are versioned migrations:
`parley_messaging.migrations`.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field, model_validator

from parley_contracts.resources import (
    ConversationKind,
    MemberRole,
    NotificationKind,
    NotificationLevel,
)


def now() -> datetime:
    return datetime.now(UTC)


def message_id(conversation_id: str, seq: int) -> str:
    return f"{conversation_id}-{seq}"


def parse_message_id(value: str) -> tuple[str, int] | None:
    """(conversation id, seq) of a message id, or None if it is not one."""
    conversation_id, dash, seq = value.rpartition("-")
    if not dash or not seq.isdigit() or len(seq) > 18 or len(conversation_id) != 24:
        return None
    try:
        PydanticObjectId(conversation_id)
    except Exception:
        return None
    return conversation_id, int(seq)


def member_id(conversation_id: str, user_id: str) -> str:
    return f"{conversation_id}:{user_id}"


def reaction_id(message: str, emoji: str, user_id: str) -> str:
    return f"{message}:{emoji}:{user_id}"


class ConversationRecord(Document):
    """A conversation's own fields; its members are `MemberRecord`s."""

    tenant_id: str
    kind: ConversationKind
    title: str | None = None
    created_by: str
    created_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)

    class Settings:
        name = "conversations"


class DirectPairRecord(Document):
    """Claims the direct conversation of two users: `_id` = `<tenant>:<user a>:<user b>`."""

    id: str  # type: ignore[assignment]
    tenant_id: str
    conversation_id: str

    class Settings:
        name = "direct_pairs"


class MemberRecord(Document):
    """One user in one conversation: `_id` = `<conversation>:<user>`. Joining inserts it,
    leaving deletes it, so parallel joins each count once."""

    id: str  # type: ignore[assignment]
    tenant_id: str
    conversation_id: str
    user_id: str
    role: MemberRole
    joined_at: datetime = Field(default_factory=now)
    notification_level: NotificationLevel = NotificationLevel.ALL  # the member's own choice

    class Settings:
        name = "members"


class EditEntry(BaseModel):
    content: str
    version: int
    replaced_at: datetime


class MessageRecord(Document):
    """`_id` = `<conversation>-<seq>`: inserting it *is* claiming the seq. A tombstone fills a
    seq that was allocated but never written (its writer failed), so history has no gaps."""

    id: str  # type: ignore[assignment]
    tenant_id: str
    conversation_id: str
    seq: int
    sender_id: str
    content: str
    parent_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    mentions: list[str] = Field(default_factory=list)  # user ids, resolved at write time
    created_at: datetime = Field(default_factory=now)
    edited_at: datetime | None = None
    deleted: bool = False
    tombstone: bool = False
    version: int = 1
    # Edits before the history moved to `MessageVersionRecord`s; read, never appended to.
    edits: list[EditEntry] = Field(default_factory=list)
    edit_count: int = 0  # previous versions: `MessageVersionRecord`s 1..edit_count
    pinned_at: datetime | None = None
    pinned_by: str | None = None
    # Idempotency: unique per sender and conversation; random when the client sent none.
    client_msg_id: str = Field(default_factory=lambda: f"auto:{uuid.uuid4().hex}")

    @model_validator(mode="after")
    def _count_embedded_edits(self) -> "MessageRecord":
        # A message edited before `edit_count` existed counts its embedded edits.
        self.edit_count = max(self.edit_count, len(self.edits))
        return self

    class Settings:
        name = "messages"


def version_id(message: str, version: int) -> str:
    return f"{message}:v{version}"


class MessageVersionRecord(Document):
    """A previous content of an edited message: `_id` = `<message>:v<version>` (version 1 is
    the content as sent). Inserted under that key, so a retried edit cannot store it twice."""

    id: str  # type: ignore[assignment]
    tenant_id: str
    message_id: str
    version: int
    content: str
    edited_at: datetime  # when this content was replaced

    class Settings:
        name = "message_versions"


class PinEntry(BaseModel):
    message_id: str
    seq: int
    pinned_at: datetime
    pinned_by: str


class PinBoardRecord(Document):
    """The pinned messages of one conversation: `_id` = `<conversation>`.

    One bounded document (at most `MAX_PINS` entries) rewritten under the conversation's pin
    lock: pins change rarely (admins only) and the list is read by one `_id` lookup, so it
    never scans and needs no Redis part to rebuild. The message document (`pinned_at`) is the
    truth of whether a message is pinned; the board is its order, so a board entry whose
    message is not pinned (a pin or unpin that died between its two writes) is skipped."""

    id: str  # type: ignore[assignment]
    tenant_id: str
    conversation_id: str
    pins: list[PinEntry] = Field(default_factory=list)

    class Settings:
        name = "pin_boards"


class ReactionRecord(Document):
    """One user's emoji on one message: `_id` = `<message>:<emoji>:<user>`."""

    id: str  # type: ignore[assignment]
    tenant_id: str
    conversation_id: str
    message_id: str
    seq: int
    emoji: str
    user_id: str
    at: datetime = Field(default_factory=now)

    class Settings:
        name = "reactions"


class ReadMarkerRecord(Document):
    """How far a user has read a conversation: `_id` = `<conversation>:<user>`."""

    id: str  # type: ignore[assignment]
    tenant_id: str
    conversation_id: str
    user_id: str
    last_read_seq: int = 0

    class Settings:
        name = "read_markers"


def notification_id(tenant_id: str, user_id: str, public_id: str) -> str:
    return f"{tenant_id}:{user_id}:{public_id}"


def feed_marker_id(tenant_id: str, user_id: str) -> str:
    """A document stored with a user's first notification: a user without one has an empty
    feed, known without scanning for their notifications."""
    return f"{tenant_id}:{user_id}:feed"


def public_notification_id(message: str, kind: NotificationKind) -> str:
    """The id a user sees (`<message>:mention`): their own feed is the namespace."""
    return f"{message}:{kind.value}"


class NotificationRecord(Document):
    """A mention of a user or a reply to their message: `_id` =
    `<tenant>:<user>:<message>:<kind>`, so a retried send or edit inserts it once. Deleted
    when the mention is edited away or the message deleted; `read` is set by `_id`."""

    id: str  # type: ignore[assignment]
    tenant_id: str
    user_id: str
    kind: NotificationKind
    conversation_id: str
    message_id: str
    seq: int
    actor_id: str
    excerpt: str
    created_at: datetime = Field(default_factory=now)
    read: bool = False

    class Settings:
        name = "notifications"


MESSAGING_MODELS: list[type[Document]] = [
    ConversationRecord,
    DirectPairRecord,
    MemberRecord,
    MessageRecord,
    MessageVersionRecord,
    PinBoardRecord,
    ReactionRecord,
    ReadMarkerRecord,
    NotificationRecord,
]
