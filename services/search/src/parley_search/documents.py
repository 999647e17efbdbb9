"""Messages as search documents and bulk operations.

Every write carries the message's edit `version` as an external version with `external_gte`:
the engine refuses a state older than the indexed one (a replayed or stale event: a version
conflict, which counts as done) but takes one of the *same* version. Reactions and pins do not
change the edit version (`reaction.updated` carries the version of the edit it decorates), so
with plain `external` they were refused as stale and `has:reaction` could never match. Taking
equal versions is safe because the events of one conversation arrive in order (one Kafka
partition, keyed by conversation id, in outbox order): the last event of a version is its
newest state. A replay re-delivers a batch and everything after it in the same order, so a
replayed older reaction state of the same version is overwritten again by the later events
of the replay; an edit or delete raises the version, and nothing older passes that.

A delete writes a tombstone (`deleted: true`, no content) at its version instead of removing
the document: a removed document's version is forgotten after a while, and a late
`message.created` would then bring the message back.
Searches filter tombstones out, so deleted messages never match.
"""

import re
from typing import Any, Final

from parley_contracts.resources import Message

# What `has:link` means: a web address with its scheme or starting with `www.`.
LINK: Final = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"']+")


def has_link(content: str) -> bool:
    return LINK.search(content) is not None


def document(message: Message) -> dict[str, Any]:
    visible = not message.deleted
    return {
        "id": message.id,
        "tenant_id": message.tenant_id,
        "conversation_id": message.conversation_id,
        "sender_id": message.sender_id,
        "parent_id": message.parent_id,
        "mentions": message.mentions if visible else [],
        "has_link": visible and has_link(message.content),
        "has_reaction": visible and any(message.reactions.values()),
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
                "version_type": "external_gte",
                "routing": message.tenant_id,
            }
        },
        document(message),
    ]
