"""Messages: idempotent sends with gap-free seq, history, threads, edits, deletes, reactions.

Sequence numbers come from unique indexes, not counters: a send reads the newest seq n and
inserts its message with seq n+1. The unique index on (tenant, conversation, seq) lets exactly
one concurrent sender have n+1; the others retry with the next number. A seq is therefore taken
only by a stored message, and since everyone tries the lowest free number the sequence has no
gaps. The unique index on (tenant, conversation, sender, client_msg_id) makes a repeated send
lose the race and answer with the first message. This needs no multi-document transaction
and no atomic read-modify-write (FerretDB 1.x has neither), and is as correct on MongoDB.
"""

from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from parley_contracts.claims import AccessClaims
from parley_contracts.resources import Message, MessageCreate, Page
from parley_contracts.topics import EventType
from parley_kit.problems import Conflict, Forbidden, NotFound, ServiceUnavailable, Unprocessable
from parley_messaging.cache import GenerationalCache, conversation_owner
from parley_messaging.domain.cursors import decode_cursor, encode_cursor
from parley_messaging.domain.membership import Membership, MembershipCheck
from parley_messaging.events import MessagingEvents
from parley_messaging.models import EditEntry, MessageRecord, oid
from parley_messaging.render import message_resource
from parley_messaging.repository import (
    ConversationRepository,
    MessageRepository,
    ReadMarkerRepository,
)

NO_MESSAGE = "no such message"
MAX_SEQ_ATTEMPTS = 200


def _now() -> datetime:
    return datetime.now(UTC)


def _seq_cursor(cursor: str | None, name: str) -> int | None:
    if not cursor:
        return None
    value = decode_cursor(cursor).get(name)
    if not isinstance(value, int):
        raise Unprocessable("the cursor is not valid")
    return value


class MessageService:
    def __init__(
        self,
        membership: MembershipCheck,
        cache: GenerationalCache,
        events: MessagingEvents,
        page_size: int,
    ) -> None:
        self._membership = membership
        self._cache = cache
        self._events = events
        self._page_size = page_size

    # --- sending ---------------------------------------------------------------------------

    async def send(
        self,
        claims: AccessClaims,
        conversation_id: str,
        body: MessageCreate,
        idempotency_key: str | None,
    ) -> tuple[Message, bool]:
        """The message, and whether this call created it (False: an idempotent repeat)."""
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        messages = MessageRepository(claims.tenant_id)
        client_msg_id = body.client_msg_id or idempotency_key
        if client_msg_id:
            existing = await messages.by_client_id(conversation_id, claims.user_id, client_msg_id)
            if existing is not None:
                return await self._repeat(existing), False
        if body.parent_id is not None:
            parent = await messages.get(conversation_id, body.parent_id)
            if parent is None or parent.parent_id is not None:
                raise Unprocessable("parent_id must be a top-level message of this conversation")
        record = MessageRecord(
            tenant_id=claims.tenant_id,
            conversation_id=conversation_id,
            seq=1,
            sender_id=claims.user_id,
            content=body.content,
            parent_id=body.parent_id,
            metadata=body.metadata,
        )
        if client_msg_id:
            record.client_msg_id = client_msg_id
        for _ in range(MAX_SEQ_ATTEMPTS):
            newest = await messages.newest(conversation_id)
            record.seq = (newest.seq if newest is not None else 0) + 1
            try:
                record = await messages.insert(record)
                break
            except DuplicateKeyError:
                if client_msg_id:
                    first = await messages.by_client_id(
                        conversation_id, claims.user_id, client_msg_id
                    )
                    if first is not None:
                        return await self._repeat(first), False
        else:
            raise ServiceUnavailable("the conversation is too busy right now; retry the send")
        return await self._created(member, record), True

    async def _created(self, member: Membership, record: MessageRecord) -> Message:
        """Store the event, then refresh what depends on the new message."""
        message = message_resource(record)
        await self._events.message(EventType.MESSAGE_CREATED, message, record.seq)
        if record.parent_id is not None:
            parent_oid = PydanticObjectId(record.parent_id)
            await MessageRepository(member.tenant_id).update(
                parent_oid, {}, {"$inc": {"reply_count": 1}}
            )
        await ConversationRepository(member.tenant_id).touch(member.oid, record.created_at)
        # Sending marks the conversation read up to one's own message.
        await ReadMarkerRepository(member.tenant_id).advance(
            member.conversation_id, record.sender_id, record.seq
        )
        await self._cache.invalidate(conversation_owner(member.tenant_id, member.conversation_id))
        return message

    async def _repeat(self, record: MessageRecord) -> Message:
        """An idempotent repeat. Enqueues the created event again (a no-op if it exists), so an
        event lost to a crash between the first insert and its enqueue is still delivered."""
        message = message_resource(record)
        await self._events.message(EventType.MESSAGE_CREATED, message, record.seq)
        return message

    # --- reading ---------------------------------------------------------------------------

    async def history(
        self,
        claims: AccessClaims,
        conversation_id: str,
        *,
        before_seq: int | None,
        after_seq: int | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Message]:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        if cursor:
            raw = decode_cursor(cursor)
            before_seq, after_seq = raw.get("before"), raw.get("after")
            if not isinstance(before_seq, int | None) or not isinstance(after_seq, int | None):
                raise Unprocessable("the cursor is not valid")
        newest_page = before_seq is None and after_seq is None and limit <= self._page_size
        items: list[Message] | None = None
        if newest_page:
            items = await self._newest(member, limit)
        if items is None:
            records = await MessageRepository(claims.tenant_id).history(
                conversation_id, before=before_seq, after=after_seq, limit=limit + 1
            )
            more = len(records) > limit
            items = [message_resource(r) for r in records[:limit]]
            if after_seq is not None:
                next_cursor = encode_cursor(after=items[-1].seq) if more and items else None
                return Page[Message](items=items, next_cursor=next_cursor)
        # Newest first: older messages exist exactly when the last one shown is not seq 1.
        next_cursor = encode_cursor(before=items[-1].seq) if items and items[-1].seq > 1 else None
        return Page[Message](items=items, next_cursor=next_cursor)

    async def _newest(self, member: Membership, limit: int) -> list[Message]:
        owner = conversation_owner(member.tenant_id, member.conversation_id)
        generation, cached = await self._cache.read(owner, "recent")
        if cached is None:
            records = await MessageRepository(member.tenant_id).history(
                member.conversation_id, before=None, after=None, limit=self._page_size
            )
            cached = [message_resource(r).model_dump(mode="json") for r in records]
            await self._cache.store(owner, "recent", generation, cached)
        return [Message.model_validate(item) for item in cached[:limit]]

    async def get(self, claims: AccessClaims, conversation_id: str, message_id: str) -> Message:
        await self._membership.require_member(claims.tenant_id, conversation_id, claims.user_id)
        return message_resource(await self._record(claims.tenant_id, conversation_id, message_id))

    async def _record(self, tenant_id: str, conversation_id: str, message_id: str) -> MessageRecord:
        record = await MessageRepository(tenant_id).get(conversation_id, message_id)
        if record is None:
            raise NotFound(NO_MESSAGE)
        return record

    async def replies(
        self,
        claims: AccessClaims,
        conversation_id: str,
        message_id: str,
        cursor: str | None,
        limit: int,
    ) -> Page[Message]:
        await self._membership.require_member(claims.tenant_id, conversation_id, claims.user_id)
        await self._record(claims.tenant_id, conversation_id, message_id)
        after = _seq_cursor(cursor, "after")
        records = await MessageRepository(claims.tenant_id).replies(
            conversation_id, message_id, after, limit + 1
        )
        more = len(records) > limit
        items = [message_resource(r) for r in records[:limit]]
        return Page[Message](
            items=items, next_cursor=encode_cursor(after=items[-1].seq) if more and items else None
        )

    # --- changing --------------------------------------------------------------------------

    async def edit(
        self, claims: AccessClaims, conversation_id: str, message_id: str, content: str
    ) -> Message:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        record = await self._record(claims.tenant_id, conversation_id, message_id)
        if record.sender_id != claims.user_id:
            raise Forbidden("only the sender edits a message")
        if record.deleted:
            raise Conflict("a deleted message cannot be edited")
        now = _now()
        history = EditEntry(content=record.content, version=record.version, replaced_at=now)
        changed = await MessageRepository(claims.tenant_id).update(
            oid(record),
            {"version": record.version, "deleted": False},
            {
                "$set": {"content": content, "edited_at": now},
                "$inc": {"version": 1},
                "$push": {"edits": history.model_dump()},
            },
        )
        if not changed:
            raise Conflict("the message changed meanwhile; fetch it and try again")
        record.content, record.edited_at, record.version = content, now, record.version + 1
        return await self._changed(member, record, EventType.MESSAGE_UPDATED)

    async def delete(self, claims: AccessClaims, conversation_id: str, message_id: str) -> None:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        record = await self._record(claims.tenant_id, conversation_id, message_id)
        allowed = (
            record.sender_id == claims.user_id
            or member.is_admin(claims.user_id)
            or claims.is_tenant_admin
        )
        if not allowed:
            raise Forbidden("only the sender, a conversation admin or a tenant admin deletes")
        if record.deleted:
            return
        changed = await MessageRepository(claims.tenant_id).update(
            oid(record),
            {"deleted": False},
            {
                "$set": {"deleted": True, "content": "", "metadata": {}, "reactions": {}},
                "$inc": {"version": 1},
            },
        )
        if changed:
            record.deleted, record.version = True, record.version + 1
            record.content, record.metadata, record.reactions = "", {}, {}
            await self._changed(member, record, EventType.MESSAGE_DELETED)

    async def react(
        self, claims: AccessClaims, conversation_id: str, message_id: str, emoji: str, present: bool
    ) -> Message:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        record = await self._record(claims.tenant_id, conversation_id, message_id)
        if record.deleted:
            raise Conflict("a deleted message takes no reactions")
        field = f"reactions.{emoji}"
        user = claims.user_id
        update: dict[str, Any] = (
            {"$addToSet": {field: user}, "$inc": {"version": 1}}
            if present
            else {"$pull": {field: user}, "$inc": {"version": 1}}
        )
        condition: dict[str, Any] = {field: {"$ne": user}} if present else {field: user}
        changed = await MessageRepository(claims.tenant_id).update(oid(record), condition, update)
        fresh = await self._record(claims.tenant_id, conversation_id, message_id)
        if changed:
            return await self._changed(member, fresh, EventType.REACTION_UPDATED)
        return message_resource(fresh)

    async def _changed(self, member: Membership, record: MessageRecord, type: EventType) -> Message:
        message = message_resource(record)
        await self._events.message(type, message, None)
        await self._cache.invalidate(conversation_owner(member.tenant_id, member.conversation_id))
        return message
