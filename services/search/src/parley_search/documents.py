"""Messages as search documents and bulk operations.

Every write carries the message's edit `version` as an *external* version, so the engine
keeps the newest state whatever order events arrive in: a replayed or stale event is refused
with a version conflict, which counts as done. A delete writes a tombstone (`deleted: true`,
no content) at its version instead of removing the document: a removed document's version is
forgotten after a while, and a late `message.created` would then bring the message back.
Searches filter tombstones out, so deleted messages never match.
"""

from typing import Any

from parley_contracts.resources import Message


def document(message: Message) -> dict[str, Any]:
    visible = not message.deleted
    return {
        "id": message.id,
        "tenant_id": message.tenant_id,
        "conversation_id": message.conversation_id,
        "sender_id": message.sender_id,
        "parent_id": message.parent_id,
        "seq": message.seq,
        "version": message.version,
        "deleted": message.deleted,
        "created_at": message.model_dump(mode="json")["created_at"],
        "edited_at": message.model_dump(mode="json")["edited_at"],
        "content": message.content if visible else "",
        "message": message.model_dump(mode="json"),
    }


def index_operations(index: str, message: Message) -> list[dict[str, Any]]:
    return [
        {
            "index": {
                "_index": index,
                "_id": message.id,
                "version": message.version,
                "version_type": "external",
                "routing": message.tenant_id,
            }
        },
        document(message),
    ]
