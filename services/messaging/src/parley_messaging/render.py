"""Stored records and projection entries as the resources of API.md.

A message is kept in the projection as its *base* (the stored document as a resource, without
reactions and reply count); `decorate` adds those from the projection. Its `version` is the
document's version (edits, delete) plus its reaction version, so it grows with every change.
"""

from datetime import datetime
from typing import Any

from parley_contracts.resources import Conversation, Member, Message
from parley_contracts.validation import format_timestamp
from parley_messaging.models import MessageRecord

SINCE_V1_1: dict[str, Any] = {
    "edit_count": 0,
    "pinned_at": None,
    "pinned_by": None,
    "mentions": [],
}


def base_message(record: MessageRecord) -> dict[str, Any]:
    deleted = record.deleted or record.tombstone
    return {
        "id": str(record.id),
        "tenant_id": record.tenant_id,
        "conversation_id": record.conversation_id,
        "seq": record.seq,
        "sender_id": record.sender_id,
        "content": "" if deleted else record.content,
        "parent_id": record.parent_id,
        "mentions": [] if deleted else record.mentions,
        "metadata": {} if deleted else record.metadata,
        # As API.md writes instants (milliseconds, `Z`), so a cached page and a stored
        # message render the same instant the same way.
        "created_at": format_timestamp(record.created_at),
        "edited_at": format_timestamp(record.edited_at) if record.edited_at else None,
        "deleted": deleted,
        "version": record.version,
        "edit_count": record.edit_count,
        "pinned_at": format_timestamp(record.pinned_at) if record.pinned_at else None,
        "pinned_by": record.pinned_by,
    }


def decorated(
    base: dict[str, Any], reactions: dict[str, Any] | None = None, reply_count: int = 0
) -> dict[str, Any]:
    """The message resource as JSON-ready data (the history path serialises it as it is)."""
    doc = reactions or {"v": 0, "r": {}}
    deleted = bool(base["deleted"])
    # A page cached before these fields existed lacks them: it serves their defaults.
    base = SINCE_V1_1 | base
    if not base["created_at"].endswith("Z"):
        base = _with_api_timestamps(base)
    return base | {
        "reactions": {} if deleted else {e: list(u) for e, u in doc["r"].items() if u},
        "reply_count": reply_count,
        "version": int(base["version"]) + int(doc.get("v", 0)),
    }


def _with_api_timestamps(base: dict[str, Any]) -> dict[str, Any]:
    """A base cached before instants were written the API's way (`+00:00`, microseconds)."""
    return base | {
        field: format_timestamp(datetime.fromisoformat(base[field])) if base.get(field) else None
        for field in ("created_at", "edited_at", "pinned_at")
    }


def decorate(
    base: dict[str, Any], reactions: dict[str, Any] | None = None, reply_count: int = 0
) -> Message:
    return Message.model_validate(decorated(base, reactions, reply_count))


def conversation_resource(
    fields: dict[str, Any],
    members: dict[str, dict[str, Any]],
    *,
    last_seq: int,
    newest: Message | None = None,
    last_read_seq: int | None = None,
) -> Conversation:
    """`last_message` and `unread_count` from the point of view of a reader (none: neutral)."""
    unread = max(0, last_seq - last_read_seq) if last_read_seq is not None else 0
    ordered = sorted(members.items(), key=lambda item: (item[1]["joined_at"], item[0]))
    return Conversation.model_validate(
        fields
        | {
            "members": [
                Member.model_validate({"user_id": user_id} | member) for user_id, member in ordered
            ],
            "last_seq": last_seq,
            "last_message": newest if last_read_seq is not None else None,
            "unread_count": unread,
        }
    )
