"""Pinned messages: conversation admins pin and unpin; members list them, most recently pinned
first.

Two documents change per pin, each by one writer at a time: the message (`pinned_at`,
`pinned_by`, a new `version`) under the message's lock, the same one edits and deletes take,
and the conversation's `PinBoardRecord` (the order of the pins) under the conversation's pin
lock, always in that order so the two locks cannot deadlock. The message is the truth of
whether it is pinned: a pin adds its board entry before writing the message and an unpin
removes it after, so a call that dies between the two leaves at most a board entry whose
message is not pinned, which readers skip and a full board prunes.
"""

from datetime import UTC, datetime, timedelta

from parley_contracts.claims import AccessClaims
from parley_contracts.resources import Message
from parley_contracts.topics import EventType
from parley_kit.locks import RedisLock
from parley_kit.problems import Conflict, Forbidden
from parley_messaging.domain.history import stored_message
from parley_messaging.domain.membership import Membership, MembershipCheck
from parley_messaging.domain.timeline import Timeline
from parley_messaging.events import MessagingEvents
from parley_messaging.models import MessageRecord, PinBoardRecord, PinEntry
from parley_messaging.projection import ConversationProjection
from parley_messaging.render import base_message
from parley_messaging.repository import MessageRepository, PinBoardRepository

MAX_PINS = 100  # per conversation; one more answers 409
# A board entry whose message is not pinned is a pin still in flight while it is younger
# than the message lock's lease (no pin holds its lock longer); older, it is left over.
IN_FLIGHT = timedelta(seconds=10)
NEVER = datetime.min.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class PinBoard:
    """The ordered pins of each conversation (see `PinBoardRecord`)."""

    def __init__(self, locks: RedisLock) -> None:
        self._locks = locks

    def _lock(self, tenant_id: str, conversation_id: str) -> str:
        return f"{tenant_id}:{conversation_id}:pins"

    async def add(self, record: MessageRecord, pinned_at: datetime, pinned_by: str) -> None:
        """Put a message on its conversation's board (409 when the board is full)."""
        tenant_id, conversation_id = record.tenant_id, record.conversation_id
        repo = PinBoardRepository(tenant_id)
        async with self._locks.held(self._lock(tenant_id, conversation_id)):
            board = await repo.get(conversation_id) or PinBoardRecord(
                id=conversation_id, tenant_id=tenant_id, conversation_id=conversation_id
            )
            entries = [e for e in board.pins if e.message_id != str(record.id)]
            if len(entries) >= MAX_PINS:
                entries = await self._without_left_overs(record, entries)
            if len(entries) >= MAX_PINS:
                raise Conflict(
                    f"a conversation has at most {MAX_PINS} pinned messages; unpin one first"
                )
            entries.append(
                PinEntry(
                    message_id=str(record.id),
                    seq=record.seq,
                    pinned_at=pinned_at,
                    pinned_by=pinned_by,
                )
            )
            board.pins = entries
            await repo.write(board)

    async def remove(self, record: MessageRecord) -> None:
        """Take a message off its conversation's board (no write if it is not on it)."""
        tenant_id, conversation_id = record.tenant_id, record.conversation_id
        repo = PinBoardRepository(tenant_id)
        async with self._locks.held(self._lock(tenant_id, conversation_id)):
            board = await repo.get(conversation_id)
            if board is None or all(e.message_id != str(record.id) for e in board.pins):
                return
            board.pins = [e for e in board.pins if e.message_id != str(record.id)]
            await repo.write(board)

    async def entries(self, tenant_id: str, conversation_id: str) -> list[PinEntry]:
        board = await PinBoardRepository(tenant_id).get(conversation_id)
        return list(board.pins) if board is not None else []

    @staticmethod
    async def _without_left_overs(
        pinning: MessageRecord, entries: list[PinEntry]
    ) -> list[PinEntry]:
        repo = MessageRepository(pinning.tenant_id)
        cutoff = _now() - IN_FLIGHT
        kept = []
        for entry in entries:
            if entry.pinned_at > cutoff:
                kept.append(entry)
                continue
            message = await repo.get(pinning.conversation_id, entry.seq)
            if message is not None and _is_pinned(message):
                kept.append(entry)
        return kept


def _is_pinned(record: MessageRecord) -> bool:
    return record.pinned_at is not None and not record.deleted and not record.tombstone


class PinService:
    def __init__(
        self,
        membership: MembershipCheck,
        projection: ConversationProjection,
        timeline: Timeline,
        events: MessagingEvents,
        locks: RedisLock,
    ) -> None:
        self._membership = membership
        self._projection = projection
        self._timeline = timeline
        self._events = events
        self._locks = locks
        self._board = PinBoard(locks)

    async def pin(
        self, claims: AccessClaims, conversation_id: str, message_id: str, pinned: bool
    ) -> Message:
        """Pin (or unpin) a message; pinning a pinned message (or unpinning one that is not)
        changes nothing and announces nothing."""
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        if not member.is_admin:
            raise Forbidden("only conversation admins pin and unpin messages")
        # The lock edits and deletes take (`messages.py`): one writer of the message at a time.
        async with self._locks.held(f"{member.tenant_id}:{message_id}"):
            record = await stored_message(self._timeline, member, message_id)
            changed = False
            if pinned and record.pinned_at is None:
                if record.deleted:
                    raise Conflict("a deleted message cannot be pinned")
                now = _now()
                await self._board.add(record, now, claims.user_id)
                record.pinned_at, record.pinned_by = now, claims.user_id
                changed = True
            elif not pinned and record.pinned_at is not None:
                record.pinned_at = record.pinned_by = None
                changed = True
            if changed:
                record.version += 1
                await self._timeline.messages(member.tenant_id).write(record)
            if not pinned:
                await self._board.remove(record)  # also a left-over entry of a died unpin
        if not changed:
            return (await self._timeline.decorated(member.keys, member.tenant_id, [record]))[0]
        return await self._announce(
            member, record, EventType.MESSAGE_PINNED if pinned else EventType.MESSAGE_UNPINNED
        )

    async def _announce(
        self, member: Membership, record: MessageRecord, type: EventType
    ) -> Message:
        """Update the cached page the way an edit does, then enqueue the event."""
        await self._projection.replace(member.keys, record.seq, base_message(record))
        message = (await self._timeline.decorated(member.keys, member.tenant_id, [record]))[0]
        await self._events.message(type, message, None)
        return message

    async def pins(self, claims: AccessClaims, conversation_id: str) -> list[Message]:
        """The pinned messages, most recently pinned first."""
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        entries = await self._board.entries(member.tenant_id, conversation_id)
        records = await self._timeline.fetch(
            member.tenant_id, conversation_id, sorted({e.seq for e in entries})
        )
        pinned = [r for r in records if _is_pinned(r)]
        pinned.sort(key=lambda r: (r.pinned_at or NEVER, r.seq), reverse=True)
        return await self._timeline.decorated(member.keys, member.tenant_id, pinned)
