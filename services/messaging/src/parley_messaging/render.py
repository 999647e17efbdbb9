"""Stored records as the resources of API.md."""

from parley_contracts.resources import Conversation, Member, Message
from parley_messaging.models import ConversationRecord, MessageRecord


def message_resource(record: MessageRecord) -> Message:
    return Message(
        id=str(record.id),
        tenant_id=record.tenant_id,
        conversation_id=record.conversation_id,
        seq=record.seq or 1,
        sender_id=record.sender_id,
        content="" if record.deleted else record.content,
        parent_id=record.parent_id,
        metadata={} if record.deleted else record.metadata,
        reactions={emoji: users for emoji, users in record.reactions.items() if users},
        reply_count=record.reply_count,
        created_at=record.created_at,
        edited_at=record.edited_at,
        deleted=record.deleted,
        version=record.version,
    )


def conversation_resource(
    record: ConversationRecord,
    newest: MessageRecord | None = None,
    *,
    last_read_seq: int | None = None,
) -> Conversation:
    """`last_message` and `unread_count` from the point of view of a reader (none: neutral)."""
    last_seq = newest.seq if newest is not None else 0
    unread = max(0, last_seq - last_read_seq) if last_read_seq is not None else 0
    return Conversation(
        id=str(record.id),
        tenant_id=record.tenant_id,
        kind=record.kind,
        title=record.title,
        members=[
            Member(user_id=m.user_id, role=m.role, joined_at=m.joined_at) for m in record.members
        ],
        created_by=record.created_by,
        created_at=record.created_at,
        updated_at=record.updated_at,
        last_seq=last_seq,
        last_message=message_resource(newest)
        if newest is not None and last_read_seq is not None
        else None,
        unread_count=unread,
    )
