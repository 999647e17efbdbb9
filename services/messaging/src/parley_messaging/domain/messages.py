"""Messages: idempotent sends with gap-free seq, history, threads, edits, deletes, reactions.

A send is one Redis script (idempotency key + next seq, see `timeline.py`), two store inserts
(the message under `<conversation>-<seq>`, its outbox event), both batched with concurrent
sends by a group commit, and one Redis script per projection part it changes. Edits and
deletes rewrite one message document under a per-message Redis lock (its writers are the
sender and admins, rarely at once); reactions are documents of their own.
"""

import asyncio
import contextlib
import contextvars
import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError, PyMongoError

from parley_contracts.claims import AccessClaims
from parley_contracts.resources import Message, MessageCreate, Page
from parley_contracts.topics import EventType
from parley_kit.group_commit import GroupCommit
from parley_kit.locks import RedisLock
from parley_kit.problems import Conflict, Forbidden, NotFound, ServiceUnavailable, Unprocessable
from parley_messaging.domain.cursors import (
    ThreadPosition,
    TimelinePosition,
    decode_cursor,
    encode_cursor,
)
from parley_messaging.domain.history import forget_versions, keep_previous_version
from parley_messaging.domain.membership import Membership, MembershipCheck
from parley_messaging.domain.notifications import NotificationService
from parley_messaging.domain.pins import PinBoard
from parley_messaging.domain.timeline import Timeline
from parley_messaging.events import MessagingEvents
from parley_messaging.models import (
    MessageRecord,
    ReactionRecord,
    message_id,
    parse_message_id,
    reaction_id,
)
from parley_messaging.projection import ConversationProjection
from parley_messaging.render import base_message, decorate
from parley_messaging.repository import ReactionRepository

NO_MESSAGE = "no such message"
SEQ_ATTEMPTS = 3
LOCK_SECONDS = 10.0


def _now() -> datetime:
    return datetime.now(UTC)


class MessageService:
    def __init__(
        self,
        membership: MembershipCheck,
        projection: ConversationProjection,
        timeline: Timeline,
        events: MessagingEvents,
        locks: RedisLock,
        reaction_inserts: GroupCommit | None = None,
        notifications: NotificationService | None = None,
    ) -> None:
        self._membership = membership
        self._projection = projection
        self._timeline = timeline
        self._events = events
        self._locks = locks
        self._reaction_inserts = reaction_inserts
        self._notifications = notifications

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
        keys = member.keys
        client_msg_id = body.client_msg_id or idempotency_key
        parent = None
        if body.parent_id is not None:
            parent = await self._require_thread_parent(member, body.parent_id)
        mentions = await self._mentioned(member, body.content)
        messages = self._timeline.messages(claims.tenant_id)
        for _ in range(SEQ_ATTEMPTS):
            seq, fresh = await self._timeline.allocate(
                keys, claims.tenant_id, conversation_id, claims.user_id, client_msg_id
            )
            if not fresh:
                existing = await messages.get(conversation_id, seq)
                if existing is not None and not existing.tombstone:
                    return await self._repeat(member, existing), False
                if existing is not None:  # its first send failed and was tombstoned
                    assert client_msg_id is not None
                    await self._projection.forget_client_id(keys, claims.user_id, client_msg_id)
                    continue
                # The first send with this id is in flight or died before storing: whoever
                # stores seq `seq` first is the message (a clash below answers the winner).
            record = MessageRecord(
                id=message_id(conversation_id, seq),
                tenant_id=claims.tenant_id,
                conversation_id=conversation_id,
                seq=seq,
                sender_id=claims.user_id,
                content=body.content,
                parent_id=body.parent_id,
                metadata=body.metadata,
                mentions=mentions,
            )
            if client_msg_id:
                record.client_msg_id = client_msg_id
            try:
                await messages.insert(record)
            except DuplicateKeyError:
                stored = await messages.get(conversation_id, seq)
                if stored is None:
                    # Not the seq: the client id's unique index (Redis had forgotten the key).
                    await self._timeline.fill(keys, claims.tenant_id, seq)
                    first = await messages.by_client_id(
                        conversation_id, claims.user_id, client_msg_id or ""
                    )
                    if first is None:
                        raise
                    return await self._repeat(member, first), False
                if (
                    client_msg_id
                    and stored.client_msg_id == client_msg_id
                    and (stored.sender_id == claims.user_id)
                ):
                    return await self._repeat(member, stored), False
                # The seq was taken: the counter was seeded too low. Move it past and retry.
                await self._timeline.reseed_above(keys, claims.tenant_id, seq)
                continue
            except (PyMongoError, asyncio.CancelledError):
                await self._abandon(member, seq)
                raise
            return await self._created(member, record, parent), True
        raise ServiceUnavailable("the conversation is too busy right now; retry the send")

    async def _abandon(self, member: Membership, seq: int) -> None:
        """A send failed after taking its seq: fill the seq now (a tombstone, or the message
        if its insert landed after all), so readers do not wait for the hole to age."""
        # A context of its own: the request's store deadline may be what just expired.
        filling = asyncio.create_task(
            self._timeline.fill(member.keys, member.tenant_id, seq), context=contextvars.Context()
        )
        with contextlib.suppress(Exception):
            await asyncio.shield(filling)

    async def _require_thread_parent(self, member: Membership, parent_id: str) -> MessageRecord:
        parent = parse_message_id(parent_id)
        record = None
        if parent is not None and parent[0] == member.conversation_id:
            record = await self._timeline.messages(member.tenant_id).get(*parent)
        if record is None or record.tombstone or record.parent_id is not None:
            raise Unprocessable("parent_id must be a top-level message of this conversation")
        return record

    async def _created(
        self, member: Membership, record: MessageRecord, parent: MessageRecord | None = None
    ) -> Message:
        """Store the event, then mirror the message in the projection."""
        message = decorate(base_message(record))
        await self._events.message(EventType.MESSAGE_CREATED, message, record.seq)
        await self._timeline.commit(member.keys, record)
        if self._notifications is not None:
            await self._notifications.created(member, record, parent)
        return message

    async def _repeat(self, member: Membership, record: MessageRecord) -> Message:
        """An idempotent repeat. Enqueues the created event and commits again (no-ops if done),
        so a send that crashed between its insert and its enqueue is still delivered."""
        message = decorate(base_message(record))
        await self._events.message(EventType.MESSAGE_CREATED, message, record.seq)
        await self._timeline.commit(member.keys, record)
        if self._notifications is not None:
            await self._notifications.created(member, record)
        return (await self._timeline.decorated(member.keys, member.tenant_id, [record]))[0]

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
    ) -> dict[str, Any]:
        """A `Page[Message]` as JSON-ready data: the hottest read skips model validation."""
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        if cursor:
            position = decode_cursor(cursor, TimelinePosition)
            before_seq, after_seq = position.before, position.after
        items, stable, lo, hi = await self._timeline.page(
            member.keys, claims.tenant_id, before=before_seq, after=after_seq, limit=limit
        )
        if after_seq is not None:
            next_cursor = (
                encode_cursor(TimelinePosition(after=hi)) if hi < stable and items else None
            )
            return {"items": items, "next_cursor": next_cursor}
        # Newest first: older messages exist exactly when the oldest one shown is not seq 1.
        items.reverse()
        next_cursor = encode_cursor(TimelinePosition(before=lo)) if items and lo > 1 else None
        return {"items": items, "next_cursor": next_cursor}

    async def get(self, claims: AccessClaims, conversation_id: str, message_id: str) -> Message:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        record = await self._record(member, message_id)
        return (await self._timeline.decorated(member.keys, claims.tenant_id, [record]))[0]

    async def _record(self, member: Membership, message_id: str) -> MessageRecord:
        parsed = parse_message_id(message_id)
        if parsed is None or parsed[0] != member.conversation_id:
            raise NotFound(NO_MESSAGE)
        record = await self._timeline.messages(member.tenant_id).get(*parsed)
        if record is None or record.tombstone:
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
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        parent = await self._record(member, message_id)
        after = decode_cursor(cursor, ThreadPosition).after if cursor else 0
        seqs: list[int] | None = None
        for _ in range(3):
            seqs = await self._projection.thread(member.keys, parent.seq, after, limit + 1)
            if seqs is not None:
                break
            await self._timeline.load(member.keys, claims.tenant_id)
        if seqs is None:
            raise ServiceUnavailable("the thread is changing too fast to load; retry")
        more, seqs = len(seqs) > limit, seqs[:limit]
        records = await self._timeline.fetch(claims.tenant_id, conversation_id, seqs)
        items = await self._timeline.decorated(member.keys, claims.tenant_id, records)
        next_cursor = encode_cursor(ThreadPosition(after=items[-1].seq)) if more and items else None
        return Page[Message](items=items, next_cursor=next_cursor)

    # --- changing --------------------------------------------------------------------------

    async def edit(
        self, claims: AccessClaims, conversation_id: str, message_id: str, content: str
    ) -> Message:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        async with self._locks.held(f"{member.tenant_id}:{message_id}"):
            record = await self._record(member, message_id)
            if record.sender_id != claims.user_id:
                raise Forbidden("only the sender edits a message")
            if record.deleted:
                raise Conflict("a deleted message cannot be edited")
            before = list(record.mentions)
            record.mentions = await self._mentioned(member, content, record.content)
            now = _now()
            await keep_previous_version(record, now)
            record.content, record.edited_at, record.version = content, now, record.version + 1
            await self._timeline.messages(claims.tenant_id).write(record)
        message = await self._changed(member, record, EventType.MESSAGE_UPDATED)
        if self._notifications is not None:
            await self._notifications.edited(member, record, before)
        return message

    async def delete(self, claims: AccessClaims, conversation_id: str, message_id: str) -> None:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        async with self._locks.held(f"{member.tenant_id}:{message_id}"):
            record = await self._record(member, message_id)
            allowed = (
                record.sender_id == claims.user_id or member.is_admin or claims.is_tenant_admin
            )
            if not allowed:
                raise Forbidden("only the sender, a conversation admin or a tenant admin deletes")
            if record.deleted:
                if self._notifications is not None:  # in case a delete died before it did
                    await self._notifications.deleted(member, record)
                await forget_versions(record)  # in case a delete died before it did
                return
            record.deleted, record.version = True, record.version + 1
            record.content, record.metadata, record.edits = "", {}, []
            pinned, record.pinned_at, record.pinned_by = record.pinned_at, None, None
            await self._timeline.messages(claims.tenant_id).write(record)
            await forget_versions(record)
            if pinned is not None:
                await PinBoard(self._locks).remove(record)  # a deleted message is unpinned
        await self._changed(member, record, EventType.MESSAGE_DELETED)
        if self._notifications is not None:
            await self._notifications.deleted(member, record)

    async def react(
        self, claims: AccessClaims, conversation_id: str, message_id: str, emoji: str, present: bool
    ) -> Message:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        record = await self._record(member, message_id)
        if record.deleted:
            raise Conflict("a deleted message takes no reactions")
        reactions = ReactionRepository(claims.tenant_id, self._reaction_inserts)
        key = reaction_id(str(record.id), emoji, claims.user_id)
        if present:
            try:
                await reactions.add(
                    ReactionRecord(
                        id=key,
                        tenant_id=claims.tenant_id,
                        conversation_id=conversation_id,
                        message_id=str(record.id),
                        seq=record.seq,
                        emoji=emoji,
                        user_id=claims.user_id,
                    )
                )
                changed = True
            except DuplicateKeyError:
                changed = False  # the same reaction again: idempotent
        else:
            changed = await reactions.remove(key)
        if changed:
            version = await self._projection.react(
                member.keys, record.seq, emoji, claims.user_id, present
            )
            if version < 0:
                await self._timeline.load(member.keys, claims.tenant_id)
        message = (await self._timeline.decorated(member.keys, claims.tenant_id, [record]))[0]
        if changed:
            await self._events.message(
                EventType.REACTION_UPDATED,
                message,
                None,
                event_id=f"message:{message.id}:reaction:{uuid.uuid4().hex}",
            )
        return message

    async def _mentioned(
        self, member: Membership, content: str, previous: str | None = None
    ) -> list[str]:
        if self._notifications is None:
            return []
        return await self._notifications.mentions(member, content, previous)

    async def _changed(self, member: Membership, record: MessageRecord, type: EventType) -> Message:
        await self._projection.replace(member.keys, record.seq, base_message(record))
        message = (await self._timeline.decorated(member.keys, member.tenant_id, [record]))[0]
        await self._events.message(type, message, None)
        return message
