"""Conversations: creation (direct unique per pair), listing, titles, members, read markers."""

import asyncio
from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from parley_contracts.claims import AccessClaims
from parley_contracts.resources import (
    Conversation,
    ConversationCreate,
    ConversationKind,
    MemberRole,
    Page,
    ReadMarker,
)
from parley_contracts.topics import EventType
from parley_kit.problems import Conflict, Forbidden, NotFound, Unprocessable
from parley_messaging.directory import UserDirectory
from parley_messaging.domain.cursors import decode_cursor, encode_cursor
from parley_messaging.domain.membership import NOT_FOUND, MembershipCheck
from parley_messaging.events import MessagingEvents
from parley_messaging.models import ConversationRecord, MemberEntry, oid
from parley_messaging.render import conversation_resource
from parley_messaging.repository import (
    ConversationRepository,
    MessageRepository,
    ReadMarkerRepository,
)


def _now() -> datetime:
    return datetime.now(UTC)


class ConversationService:
    def __init__(
        self, membership: MembershipCheck, directory: UserDirectory, events: MessagingEvents
    ) -> None:
        self._membership = membership
        self._directory = directory
        self._events = events

    async def create(
        self, claims: AccessClaims, body: ConversationCreate
    ) -> tuple[Conversation, bool]:
        """The conversation, and whether it was created (False: the existing direct one)."""
        me = claims.user_id
        others = sorted({uid for uid in body.member_ids if uid != me})
        if body.kind is ConversationKind.DIRECT and len(others) != 1:
            raise Unprocessable("a direct conversation has exactly one other member")
        unknown = set(others) - await self._directory.existing(claims.tenant_id, others)
        if unknown:
            raise Unprocessable(f"unknown users: {', '.join(sorted(unknown))}")
        repo = ConversationRepository(claims.tenant_id)
        if body.kind is ConversationKind.DIRECT:
            pair_key = "direct:" + ":".join(sorted([me, others[0]]))
            existing = await repo.by_pair_key(pair_key)
            if existing is not None:
                return await self._viewed(existing, me), False
            members = [
                MemberEntry(user_id=uid, role=MemberRole.MEMBER) for uid in sorted([me, others[0]])
            ]
            record = ConversationRecord(
                tenant_id=claims.tenant_id,
                kind=body.kind,
                title=body.title,
                members=members,
                member_ids=[m.user_id for m in members],
                pair_key=pair_key,
                created_by=me,
            )
            try:
                record = await repo.insert(record)
            except DuplicateKeyError:
                raced = await repo.by_pair_key(pair_key)
                if raced is None:
                    raise
                return await self._viewed(raced, me), False
        else:
            members = [MemberEntry(user_id=me, role=MemberRole.ADMIN)] + [
                MemberEntry(user_id=uid, role=MemberRole.MEMBER) for uid in others
            ]
            record = await repo.insert(
                ConversationRecord(
                    tenant_id=claims.tenant_id,
                    kind=body.kind,
                    title=body.title,
                    members=members,
                    member_ids=[m.user_id for m in members],
                    created_by=me,
                )
            )
        await self._membership.changed(record, *record.member_ids)
        await self._publish(EventType.CONVERSATION_CREATED, record, record.member_ids)
        return await self._viewed(record, me), True

    async def _publish(
        self, type: EventType, record: ConversationRecord, affected: list[str] | None = None
    ) -> None:
        newest = await MessageRepository(record.tenant_id).newest(str(record.id))
        await self._events.conversation(type, conversation_resource(record, newest), None, affected)

    async def _viewed(self, record: ConversationRecord, user_id: str) -> Conversation:
        markers = await ReadMarkerRepository(record.tenant_id).of_user(user_id, [str(record.id)])
        newest = await MessageRepository(record.tenant_id).newest(str(record.id))
        return conversation_resource(record, newest, last_read_seq=markers.get(str(record.id), 0))

    async def list_for(
        self, claims: AccessClaims, cursor: str | None, limit: int
    ) -> Page[Conversation]:
        after = None
        if cursor:
            raw = decode_cursor(cursor)
            try:
                after = (datetime.fromisoformat(raw["at"]), str(raw["id"]))
            except (KeyError, ValueError, TypeError) as exc:
                raise Unprocessable("the cursor is not valid") from exc
        repo = ConversationRepository(claims.tenant_id)
        records = await repo.of_member(claims.user_id, after, limit + 1)
        more, records = len(records) > limit, records[:limit]
        markers = await ReadMarkerRepository(claims.tenant_id).of_user(
            claims.user_id, [str(r.id) for r in records]
        )
        messages = MessageRepository(claims.tenant_id)
        newest = await asyncio.gather(*(messages.newest(str(r.id)) for r in records))
        items = [
            conversation_resource(r, n, last_read_seq=markers.get(str(r.id), 0))
            for r, n in zip(records, newest, strict=True)
        ]
        next_cursor = None
        if more and records:
            last = records[-1]
            at = (
                last.last_activity_at
                if last.last_activity_at.tzinfo
                else last.last_activity_at.replace(tzinfo=UTC)
            )
            next_cursor = encode_cursor(at=at.isoformat(), id=str(last.id))
        return Page[Conversation](items=items, next_cursor=next_cursor)

    async def _record(self, claims: AccessClaims, conversation_id: str) -> ConversationRecord:
        await self._membership.require_member(claims.tenant_id, conversation_id, claims.user_id)
        record = await ConversationRepository(claims.tenant_id).get(conversation_id)
        if record is None:
            raise NotFound(NOT_FOUND)
        return record

    async def get(self, claims: AccessClaims, conversation_id: str) -> Conversation:
        return await self._viewed(await self._record(claims, conversation_id), claims.user_id)

    async def rename(self, claims: AccessClaims, conversation_id: str, title: str) -> Conversation:
        record = await self._record(claims, conversation_id)
        member = record.member(claims.user_id)
        if member is None or member.role is not MemberRole.ADMIN:
            raise Forbidden("only conversation admins change the title")
        now = _now()
        await ConversationRepository(claims.tenant_id).update(
            oid(record),
            {"$set": {"title": title, "updated_at": now}},
        )
        record.title, record.updated_at = title, now
        await self._membership.changed(record)
        await self._publish(EventType.CONVERSATION_UPDATED, record)
        return await self._viewed(record, claims.user_id)

    async def add_members(
        self, claims: AccessClaims, conversation_id: str, user_ids: list[str]
    ) -> Conversation:
        record = await self._record(claims, conversation_id)
        if record.kind is ConversationKind.DIRECT:
            raise Conflict("a direct conversation always has exactly two members")
        member = record.member(claims.user_id)
        if member is None or member.role is not MemberRole.ADMIN:
            raise Forbidden("only conversation admins add members")
        new: list[str] = sorted(set(user_ids) - set(record.member_ids))
        unknown = set(new) - await self._directory.existing(claims.tenant_id, new)
        if unknown:
            raise Unprocessable(f"unknown users: {', '.join(sorted(unknown))}")
        if not new:
            return await self._viewed(record, claims.user_id)
        now = _now()
        entries = [MemberEntry(user_id=uid, role=MemberRole.MEMBER, joined_at=now) for uid in new]
        await ConversationRepository(claims.tenant_id).update(
            oid(record),
            {
                "$push": {"members": {"$each": [e.model_dump() for e in entries]}},
                "$addToSet": {"member_ids": {"$each": new}},
                "$set": {"updated_at": now},
            },
        )
        record.members += entries
        record.member_ids += new
        record.updated_at = now
        await self._membership.changed(record, *new)
        await self._publish(EventType.MEMBER_ADDED, record, new)
        return await self._viewed(record, claims.user_id)

    async def remove_member(self, claims: AccessClaims, conversation_id: str, user_id: str) -> None:
        record = await self._record(claims, conversation_id)
        me = record.member(claims.user_id)
        leaving = user_id == claims.user_id
        if not leaving and (me is None or me.role is not MemberRole.ADMIN):
            raise Forbidden("only conversation admins remove other members")
        if record.kind is ConversationKind.DIRECT:
            raise Conflict("a direct conversation always has exactly two members")
        target = record.member(user_id)
        if target is None:
            raise NotFound("no such member")
        remaining = [m for m in record.members if m.user_id != user_id]
        if remaining and not any(m.role is MemberRole.ADMIN for m in remaining):
            # A group is never left without an admin: the longest-standing member takes over.
            remaining[0] = remaining[0].model_copy(update={"role": MemberRole.ADMIN})
        now = _now()
        await ConversationRepository(claims.tenant_id).update(
            oid(record),
            {
                "$set": {
                    "members": [m.model_dump() for m in remaining],
                    "member_ids": [m.user_id for m in remaining],
                    "updated_at": now,
                }
            },
        )
        record.members, record.member_ids, record.updated_at = (
            remaining,
            [m.user_id for m in remaining],
            now,
        )
        await self._membership.changed(record, user_id)
        await self._publish(EventType.MEMBER_REMOVED, record, [user_id])

    async def mark_read(self, claims: AccessClaims, conversation_id: str, seq: int) -> ReadMarker:
        await self._membership.require_member(claims.tenant_id, conversation_id, claims.user_id)
        newest = await MessageRepository(claims.tenant_id).newest(conversation_id)
        last_seq = newest.seq if newest is not None else 0
        target = min(seq, last_seq)
        markers = ReadMarkerRepository(claims.tenant_id)
        before = (await markers.of_user(claims.user_id, [conversation_id])).get(conversation_id, 0)
        current = await markers.advance(conversation_id, claims.user_id, target)
        marker = ReadMarker(
            conversation_id=conversation_id,
            user_id=claims.user_id,
            last_read_seq=current,
            unread_count=max(0, last_seq - current),
        )
        if current > before:
            await self._events.read(claims.tenant_id, marker, None)
        return marker
