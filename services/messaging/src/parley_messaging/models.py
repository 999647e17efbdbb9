"""What messaging stores: conversations (with members), messages, read markers."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field

from parley_contracts.resources import ConversationKind, MemberRole


def now() -> datetime:
    return datetime.now(UTC)


class MemberEntry(BaseModel):
    user_id: str
    role: MemberRole
    joined_at: datetime = Field(default_factory=now)


class ConversationRecord(Document):
    tenant_id: str
    kind: ConversationKind
    title: str | None = None
    members: list[MemberEntry]
    member_ids: list[str]  # denormalised for the "my conversations" index
    # `direct:<a>:<b>` for direct conversations (unique per pair), a random key for groups
    pair_key: str = Field(default_factory=lambda: f"group:{uuid.uuid4().hex}")
    created_by: str
    created_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)
    last_activity_at: datetime = Field(default_factory=now)

    class Settings:
        name = "conversations"
        indexes = [
            pymongo.IndexModel([("tenant_id", 1), ("pair_key", 1)], unique=True),
            pymongo.IndexModel([("tenant_id", 1), ("member_ids", 1), ("last_activity_at", -1)]),
        ]

    def member(self, user_id: str) -> MemberEntry | None:
        return next((m for m in self.members if m.user_id == user_id), None)


class EditEntry(BaseModel):
    content: str
    version: int
    replaced_at: datetime


class MessageRecord(Document):
    tenant_id: str
    conversation_id: str
    seq: int
    sender_id: str
    content: str
    parent_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    reactions: dict[str, list[str]] = Field(default_factory=dict)
    reply_count: int = 0
    created_at: datetime = Field(default_factory=now)
    edited_at: datetime | None = None
    deleted: bool = False
    version: int = 1
    edits: list[EditEntry] = Field(default_factory=list)
    # Idempotency: unique per sender and conversation; random when the client sent none.
    client_msg_id: str = Field(default_factory=lambda: f"auto:{uuid.uuid4().hex}")

    class Settings:
        name = "messages"
        indexes = [
            # Unique: inserting a message with seq n *is* claiming n (see domain/messages.py).
            pymongo.IndexModel([("tenant_id", 1), ("conversation_id", 1), ("seq", 1)], unique=True),
            pymongo.IndexModel(
                [("tenant_id", 1), ("conversation_id", 1), ("sender_id", 1), ("client_msg_id", 1)],
                unique=True,
            ),
            pymongo.IndexModel(
                [("tenant_id", 1), ("conversation_id", 1), ("parent_id", 1), ("seq", 1)]
            ),
        ]


class ReadMarkerRecord(Document):
    tenant_id: str
    conversation_id: str
    user_id: str
    last_read_seq: int = 0

    class Settings:
        name = "read_markers"
        indexes = [
            pymongo.IndexModel(
                [("tenant_id", 1), ("conversation_id", 1), ("user_id", 1)], unique=True
            )
        ]


def oid(document: Document) -> PydanticObjectId:
    """The id of a stored document (never None once inserted or loaded)."""
    if document.id is None:
        raise ValueError("the document has not been stored yet")
    return document.id


MESSAGING_MODELS: list[type[Document]] = [ConversationRecord, MessageRecord, ReadMarkerRecord]
