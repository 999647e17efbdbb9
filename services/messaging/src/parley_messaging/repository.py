"""Every query messaging makes, each scoped to one tenant through `TenantScope`."""

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from parley_kit.mongo import TenantScope
from parley_messaging.models import ConversationRecord, MessageRecord, ReadMarkerRecord


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

    async def by_pair_key(self, pair_key: str) -> ConversationRecord | None:
        return await self.scope.find_one(ConversationRecord, {"pair_key": pair_key})

    async def insert(self, conversation: ConversationRecord) -> ConversationRecord:
        if conversation.tenant_id != self.scope.tenant_id:
            raise ValueError("a conversation belongs to the tenant of its repository")
        return await conversation.insert()

    async def of_member(
        self, user_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[ConversationRecord]:
        conditions: dict[str, Any] = {"member_ids": user_id}
        if after is not None:
            at, last_id = after
            conditions["$or"] = [
                {"last_activity_at": {"$lt": at}},
                {"last_activity_at": at, "_id": {"$lt": object_id(last_id)}},
            ]
        return (
            await self.scope.find(ConversationRecord, conditions)
            .sort("-last_activity_at", "-_id")
            .limit(limit)
            .to_list()
        )

    async def ids_of_member(self, user_id: str) -> list[str]:
        found = await self.scope.find(ConversationRecord, {"member_ids": user_id}).to_list()
        return [str(c.id) for c in found]

    async def update(self, conversation_id: PydanticObjectId, changes: dict[str, Any]) -> None:
        await self.scope.collection(ConversationRecord).update_one(
            {"_id": conversation_id}, changes
        )

    async def touch(self, conversation_id: PydanticObjectId, at: datetime) -> None:
        """Record activity (orders "my conversations"); a late writer never moves it back."""
        await self.scope.collection(ConversationRecord).update_one(
            {"_id": conversation_id, "last_activity_at": {"$lt": at}},
            {"$set": {"last_activity_at": at}},
        )


class MessageRepository:
    def __init__(self, tenant_id: str) -> None:
        self.scope = TenantScope(tenant_id)

    async def get(self, conversation_id: str, message_id: str) -> MessageRecord | None:
        oid = object_id(message_id)
        if oid is None:
            return None
        return await self.scope.find_one(
            MessageRecord, {"_id": oid, "conversation_id": conversation_id}
        )

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

    async def newest(self, conversation_id: str) -> MessageRecord | None:
        """The message with the highest seq: it also tells the conversation's `last_seq`."""
        return (
            await self.scope.find(MessageRecord, {"conversation_id": conversation_id})
            .sort("-seq")
            .first_or_none()
        )

    async def insert(self, message: MessageRecord) -> MessageRecord:
        """Insert; raises `DuplicateKeyError` if its seq or its client id is taken."""
        if message.tenant_id != self.scope.tenant_id:
            raise ValueError("a message belongs to the tenant of its repository")
        message.id = None
        return await message.insert()

    async def update(
        self, message_id: PydanticObjectId, filter: dict[str, Any], changes: dict[str, Any]
    ) -> int:
        return await self.scope.collection(MessageRecord).update_one(
            {"_id": message_id, **filter}, changes
        )

    async def history(
        self, conversation_id: str, *, before: int | None, after: int | None, limit: int
    ) -> list[MessageRecord]:
        conditions: dict[str, Any] = {"conversation_id": conversation_id}
        seq: dict[str, int] = {}
        if after is not None:
            seq["$gt"] = after
        if before is not None:
            seq["$lt"] = before
        if seq:
            conditions["seq"] = seq
        order = "+seq" if after is not None else "-seq"
        return await self.scope.find(MessageRecord, conditions).sort(order).limit(limit).to_list()

    async def replies(
        self, conversation_id: str, parent_id: str, after: int | None, limit: int
    ) -> list[MessageRecord]:
        conditions: dict[str, Any] = {"conversation_id": conversation_id, "parent_id": parent_id}
        if after is not None:
            conditions["seq"] = {"$gt": after}
        return await self.scope.find(MessageRecord, conditions).sort("+seq").limit(limit).to_list()


class ReadMarkerRepository:
    def __init__(self, tenant_id: str) -> None:
        self.scope = TenantScope(tenant_id)

    async def advance(self, conversation_id: str, user_id: str, seq: int) -> int:
        """Move the marker forward to `seq` (never backwards); returns the marker's value."""
        collection = self.scope.collection(ReadMarkerRecord)
        key = {"conversation_id": conversation_id, "user_id": user_id}
        try:
            found = await collection.find_one_and_update(
                key, {"$max": {"last_read_seq": seq}}, upsert=True
            )
        except DuplicateKeyError:
            # Two first markers raced to be inserted; the loser updates the winner's.
            found = await collection.find_one_and_update(key, {"$max": {"last_read_seq": seq}})
        return int(found["last_read_seq"]) if found else seq

    async def of_user(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        if not conversation_ids:
            return {}
        found = await self.scope.find(
            ReadMarkerRecord, {"user_id": user_id, "conversation_id": {"$in": conversation_ids}}
        ).to_list()
        return {marker.conversation_id: marker.last_read_seq for marker in found}


async def export_messages(after_id: str | None, limit: int) -> list[MessageRecord]:
    """All tenants' messages in `_id` order, for search's reindex (internal route only)."""
    conditions: dict[str, Any] = {}
    after = object_id(after_id)
    if after is not None:
        conditions["_id"] = {"$gt": after}
    # unscoped: the internal export feeds the search index of every tenant
    return await MessageRecord.find(conditions).sort("_id").limit(limit).to_list()
