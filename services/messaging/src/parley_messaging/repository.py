"""Every query messaging makes, each scoped to one tenant through `TenantScope`.

Hot paths (a send, a membership check, a history page) use only lookups, inserts and deletes
by `_id`. The filtered scans below (`*_of_conversation`, `conversations_of`, `by_client_id`,
`reply_seqs`) rebuild a Redis projection after Redis lost it, or resolve a rare conflict; the
no-scan test (`tests/integration/test_no_scan.py`) keeps them off the hot path.
"""

from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from parley_kit.group_commit import GroupCommit
from parley_kit.mongo import TenantScope
from parley_messaging.models import (
    ConversationRecord,
    DirectPairRecord,
    MemberRecord,
    MessageRecord,
    MessageVersionRecord,
    NotificationRecord,
    PinBoardRecord,
    ReactionRecord,
    ReadMarkerRecord,
    feed_marker_id,
    member_id,
    message_id,
    version_id,
)


def object_id(value: str | None) -> PydanticObjectId | None:
    if not value:
        return None
    try:
        return PydanticObjectId(value)
    except (InvalidId, TypeError, ValueError):
        return None


class ConversationRepository:
    def __init__(self, tenant_id: str) -> None:
        self.scope = TenantScope(tenant_id)

    async def get(self, conversation_id: str) -> ConversationRecord | None:
        oid = object_id(conversation_id)
        return await self.scope.get(ConversationRecord, oid) if oid else None

    async def insert(self, conversation: ConversationRecord) -> ConversationRecord:
        if conversation.tenant_id != self.scope.tenant_id:
            raise ValueError("a conversation belongs to the tenant of its repository")
        return await conversation.insert()

    async def delete(self, conversation_id: PydanticObjectId) -> None:
        await self.scope.collection(ConversationRecord).delete_by_id(conversation_id)

    async def set_fields(self, conversation_id: PydanticObjectId, fields: dict[str, Any]) -> None:
        await self.scope.collection(ConversationRecord).set_by_id(conversation_id, fields)

    async def direct_pair(self, pair_id: str) -> DirectPairRecord | None:
        return await self.scope.get(DirectPairRecord, pair_id)

    async def claim_direct_pair(self, pair: DirectPairRecord) -> None:
        """Raises `DuplicateKeyError` if the pair already has its conversation."""
        await self.scope.collection(DirectPairRecord).insert(pair.model_dump(by_alias=True))


class MemberRepository:
    def __init__(self, tenant_id: str) -> None:
        self.scope = TenantScope(tenant_id)

    async def add(self, member: MemberRecord) -> None:
        """Raises `DuplicateKeyError` if the user is a member already."""
        await self.scope.collection(MemberRecord).insert(member.model_dump(by_alias=True))

    async def remove(self, conversation_id: str, user_id: str) -> bool:
        return await self.scope.collection(MemberRecord).delete_by_id(
            member_id(conversation_id, user_id)
        )

    async def write(self, member: MemberRecord) -> None:
        """Overwrite a member (a role change; callers hold the conversation's member lock)."""
        await self.scope.collection(MemberRecord).replace_by_id(member.model_dump(by_alias=True))

    async def of_conversation(self, conversation_id: str) -> list[MemberRecord]:
        return await self.scope.find(MemberRecord, {"conversation_id": conversation_id}).to_list()

    async def conversations_of(self, user_id: str) -> list[str]:
        found = await self.scope.find(MemberRecord, {"user_id": user_id}).to_list()
        return [m.conversation_id for m in found]


class MessageRepository:
    def __init__(self, tenant_id: str, inserts: GroupCommit | None = None) -> None:
        self.scope = TenantScope(tenant_id)
        self._inserts = inserts

    async def get(self, conversation_id: str, seq: int) -> MessageRecord | None:
        return await self.scope.get(MessageRecord, message_id(conversation_id, seq))

    async def exists(self, conversation_id: str, seq: int) -> bool:
        return await self.get(conversation_id, seq) is not None

    async def insert(self, message: MessageRecord) -> None:
        """Raises `DuplicateKeyError` if its seq (`_id`) or its client id is taken."""
        await self.scope.collection(MessageRecord).insert(
            message.model_dump(by_alias=True), via=self._inserts
        )

    async def write(self, message: MessageRecord) -> None:
        """Overwrite a stored message (an edit or delete; callers hold the message's lock)."""
        await self.scope.collection(MessageRecord).replace_by_id(message.model_dump(by_alias=True))

    async def by_client_id(
        self, conversation_id: str, sender_id: str, client_msg_id: str
    ) -> MessageRecord | None:
        return await self.scope.find_one(
            MessageRecord,
            {
                "conversation_id": conversation_id,
                "sender_id": sender_id,
                "client_msg_id": client_msg_id,
            },
        )

    async def replies_of_conversation(self, conversation_id: str) -> list[tuple[str, int]]:
        """(parent id, reply seq) of every reply in a conversation."""
        found = await self.scope.find(
            MessageRecord, {"conversation_id": conversation_id, "parent_id": {"$ne": None}}
        ).to_list()
        return [(m.parent_id, m.seq) for m in found if m.parent_id is not None and not m.tombstone]


class ReactionRepository:
    def __init__(self, tenant_id: str, inserts: GroupCommit | None = None) -> None:
        self.scope = TenantScope(tenant_id)
        self._inserts = inserts

    async def add(self, reaction: ReactionRecord) -> None:
        """Raises `DuplicateKeyError` if the user already reacted so."""
        await self.scope.collection(ReactionRecord).insert(
            reaction.model_dump(by_alias=True), via=self._inserts
        )

    async def remove(self, reaction_id: str) -> bool:
        return await self.scope.collection(ReactionRecord).delete_by_id(reaction_id)

    async def of_conversation(self, conversation_id: str) -> list[ReactionRecord]:
        return await self.scope.find(ReactionRecord, {"conversation_id": conversation_id}).to_list()


class ReadMarkerRepository:
    def __init__(self, tenant_id: str) -> None:
        self.scope = TenantScope(tenant_id)

    async def get(self, conversation_id: str, user_id: str) -> int:
        found = await self.scope.get(ReadMarkerRecord, member_id(conversation_id, user_id))
        return found.last_read_seq if found is not None else 0

    async def write(self, conversation_id: str, user_id: str, seq: int) -> None:
        marker = ReadMarkerRecord(
            id=member_id(conversation_id, user_id),
            tenant_id=self.scope.tenant_id,
            conversation_id=conversation_id,
            user_id=user_id,
            last_read_seq=seq,
        )
        await self.scope.collection(ReadMarkerRecord).replace_by_id(
            marker.model_dump(by_alias=True)
        )


class MessageVersionRepository:
    """Previous versions of edited messages, each its own document (`<message>:v<version>`)."""

    def __init__(self, tenant_id: str) -> None:
        self.scope = TenantScope(tenant_id)

    async def insert(self, version: MessageVersionRecord) -> None:
        """Raises `DuplicateKeyError` if this version of the message is stored already."""
        await self.scope.collection(MessageVersionRecord).insert(version.model_dump(by_alias=True))

    async def write(self, version: MessageVersionRecord) -> None:
        """Overwrite a version (callers hold the message's lock)."""
        await self.scope.collection(MessageVersionRecord).replace_by_id(
            version.model_dump(by_alias=True)
        )

    async def get(self, message: str, version: int) -> MessageVersionRecord | None:
        return await self.scope.get(MessageVersionRecord, version_id(message, version))

    async def remove(self, message: str, version: int) -> bool:
        return await self.scope.collection(MessageVersionRecord).delete_by_id(
            version_id(message, version)
        )


class PinBoardRepository:
    def __init__(self, tenant_id: str) -> None:
        self.scope = TenantScope(tenant_id)

    async def get(self, conversation_id: str) -> PinBoardRecord | None:
        return await self.scope.get(PinBoardRecord, conversation_id)

    async def write(self, board: PinBoardRecord) -> None:
        """Overwrite a conversation's board (callers hold the conversation's pin lock)."""
        await self.scope.collection(PinBoardRecord).replace_by_id(board.model_dump(by_alias=True))


class NotificationRepository:
    """Notification documents (`<tenant>:<user>:<message>:<kind>`): inserted (batched with
    concurrent sends), marked read and deleted by `_id`. `newest_of_user` scans: it rebuilds the
    Redis feed of a user who has notifications (`has_feed`) after Redis lost it, never on a
    request that found the feed loaded."""

    def __init__(self, tenant_id: str, inserts: GroupCommit | None = None) -> None:
        self.scope = TenantScope(tenant_id)
        self._inserts = inserts

    async def insert(self, notification: NotificationRecord) -> bool:
        """False if it is stored already (a retried write)."""
        return await self._insert(notification.model_dump(by_alias=True))

    async def mark_feed(self, user_id: str) -> bool:
        """Record that the user has notifications (see `feed_marker_id`); False if they had."""
        marker = {"_id": feed_marker_id(self.scope.tenant_id, user_id)}
        return await self._insert(marker | {"tenant_id": self.scope.tenant_id, "feed_of": user_id})

    async def has_feed(self, user_id: str) -> bool:
        marker = feed_marker_id(self.scope.tenant_id, user_id)
        return await self.scope.collection(NotificationRecord).by_id(marker) is not None

    async def _insert(self, document: dict[str, Any]) -> bool:
        try:
            await self.scope.collection(NotificationRecord).insert(document, via=self._inserts)
        except DuplicateKeyError:
            return False
        return True

    async def mark_read(self, notification_id: str) -> None:
        await self.scope.collection(NotificationRecord).set_by_id(notification_id, {"read": True})

    async def remove(self, notification_id: str) -> bool:
        return await self.scope.collection(NotificationRecord).delete_by_id(notification_id)

    async def newest_of_user(self, user_id: str, limit: int) -> list[NotificationRecord]:
        # A filtered, sorted query: FerretDB reads the whole collection to answer it.
        # Bounded in what it returns (the feed keeps `limit`), not in what it reads.
        return (
            await self.scope.find(NotificationRecord, {"user_id": user_id})
            .sort("-created_at")
            .limit(limit)
            .to_list()
        )


async def export_messages(after_id: str | None, limit: int) -> list[MessageRecord]:
    """All tenants' messages in `_id` order, for search's reindex (internal route only)."""
    conditions: dict[str, Any] = {"tombstone": {"$ne": True}}
    if after_id:
        conditions["_id"] = {"$gt": after_id}
    # unscoped: the internal export feeds the search index of every tenant
    return await MessageRecord.find(conditions).sort("_id").limit(limit).to_list()
