"""Conversations: creation (direct unique per pair), listing, titles, members, read markers.

Members are documents of their own (`<conversation>:<user>`): adding inserts, leaving deletes,
so parallel changes each count once. A role change (the next member promoted when the last
admin leaves) is serialised per conversation by a Redis lock.
"""

import asyncio
import contextlib
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
from parley_kit.locks import RedisLock
from parley_kit.problems import Conflict, Forbidden, NotFound, Unprocessable
from parley_messaging.directory import UserDirectory
from parley_messaging.domain.cursors import ActivityPosition, decode_cursor, encode_cursor
from parley_messaging.domain.membership import NOT_FOUND, MembershipCheck, member_record
from parley_messaging.domain.notifications import NotificationService
from parley_messaging.domain.timeline import Timeline
from parley_messaging.events import MessagingEvents
from parley_messaging.models import (
    ConversationRecord,
    DirectPairRecord,
    MemberRecord,
    member_id,
)
from parley_messaging.projection import ConversationProjection
from parley_messaging.render import conversation_resource
from parley_messaging.repository import (
    ConversationRepository,
    MemberRepository,
    ReadMarkerRepository,
    object_id,
)

LOCK_SECONDS = 10.0
MARKER_WRITES = 5


def _now() -> datetime:
    return datetime.now(UTC)


class ConversationService:
    def __init__(
        self,
        membership: MembershipCheck,
        directory: UserDirectory,
        events: MessagingEvents,
        projection: ConversationProjection,
        timeline: Timeline,
        locks: RedisLock,
        notifications: NotificationService | None = None,
    ) -> None:
        self._notifications = notifications
        self._membership = membership
        self._directory = directory
        self._events = events
        self._projection = projection
        self._timeline = timeline
        self._locks = locks

    # --- creating --------------------------------------------------------------------------

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
        pair_id = None
        if body.kind is ConversationKind.DIRECT:
            pair_id = f"{claims.tenant_id}:" + ":".join(sorted([me, others[0]]))
            existing = await repo.direct_pair(pair_id)
            if existing is not None:
                return await self._resource(claims.tenant_id, existing.conversation_id, me), False
            roles = {uid: MemberRole.MEMBER for uid in [me, others[0]]}
        else:
            roles = {me: MemberRole.ADMIN} | {uid: MemberRole.MEMBER for uid in others}
        record = await repo.insert(
            ConversationRecord(
                tenant_id=claims.tenant_id, kind=body.kind, title=body.title, created_by=me
            )
        )
        conversation_id = str(record.id)
        now = _now()
        members = [
            MemberRecord(
                id=member_id(conversation_id, uid),
                tenant_id=claims.tenant_id,
                conversation_id=conversation_id,
                user_id=uid,
                role=role,
                joined_at=now,
            )
            for uid, role in roles.items()
        ]
        member_repo = MemberRepository(claims.tenant_id)
        await asyncio.gather(*(member_repo.add(m) for m in members))
        if pair_id is not None:
            try:
                await repo.claim_direct_pair(
                    DirectPairRecord(
                        id=pair_id, tenant_id=claims.tenant_id, conversation_id=conversation_id
                    )
                )
            except DuplicateKeyError:
                # Another request created this pair's conversation first: that one is it.
                for m in members:
                    await member_repo.remove(conversation_id, m.user_id)
                await repo.delete(record.id)  # type: ignore[arg-type]
                winner = await repo.direct_pair(pair_id)
                if winner is None:
                    raise
                return await self._resource(claims.tenant_id, winner.conversation_id, me), False
        await self._membership.start(record, members)
        await self._timeline.start(self._projection.keys(claims.tenant_id, conversation_id))
        for m in members:
            await self._membership.joined(claims.tenant_id, conversation_id, m)
        await self._publish(
            EventType.CONVERSATION_CREATED, claims.tenant_id, conversation_id, list(roles)
        )
        return await self._resource(claims.tenant_id, conversation_id, me), True

    # --- reading ---------------------------------------------------------------------------

    async def _resource(
        self, tenant_id: str, conversation_id: str, viewer: str | None
    ) -> Conversation:
        fields, members = await self._membership.members(tenant_id, conversation_id)
        keys = self._projection.keys(tenant_id, conversation_id)
        newest, last_seq = await self._timeline.newest(keys, tenant_id)
        marker = await self._marker(tenant_id, conversation_id, viewer) if viewer else None
        resource = conversation_resource(
            fields, members, last_seq=last_seq, newest=newest, last_read_seq=marker
        )
        if viewer is not None and viewer in members and marker is not None and self._notifications:
            resource.notification_level = NotificationService.level_of(members, viewer)
            resource.unread_mention_count = await self._notifications.unread_mentions(
                keys, viewer, marker, last_seq
            )
        return resource

    async def announce_updated(self, tenant_id: str, conversation_id: str) -> None:
        """Publish `conversation.updated` after a change made outside a request (an admin
        handed over when a user was deactivated)."""
        await self._publish(EventType.CONVERSATION_UPDATED, tenant_id, conversation_id)

    async def _publish(
        self,
        type: EventType,
        tenant_id: str,
        conversation_id: str,
        affected: list[str] | None = None,
    ) -> None:
        resource = await self._resource(tenant_id, conversation_id, None)
        await self._events.conversation(type, resource, None, affected)

    async def list_for(
        self, claims: AccessClaims, cursor: str | None, limit: int
    ) -> Page[Conversation]:
        after = None
        if cursor:
            position = decode_cursor(cursor, ActivityPosition)
            after = (position.at, position.id)
        ids = await self._membership.conversation_ids(claims.tenant_id, claims.user_id)
        gate = asyncio.Semaphore(16)

        async def view(conversation_id: str) -> Conversation | None:
            async with gate:
                with contextlib.suppress(NotFound):
                    return await self._resource(claims.tenant_id, conversation_id, claims.user_id)
                return None

        views = [v for v in await asyncio.gather(*(view(i) for i in ids)) if v is not None]

        def activity(c: Conversation) -> tuple[datetime, str]:
            at = c.updated_at
            if c.last_message is not None and c.last_message.created_at > at:
                at = c.last_message.created_at
            return (at if at.tzinfo else at.replace(tzinfo=UTC)), c.id

        ordered = sorted(views, key=activity, reverse=True)
        if after is not None:
            at, last_id = after
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            ordered = [c for c in ordered if activity(c) < (at, last_id)]
        page, more = ordered[:limit], len(ordered) > limit
        next_cursor = None
        if more and page:
            at, last_id = activity(page[-1])
            next_cursor = encode_cursor(ActivityPosition(at=at, id=last_id))
        return Page[Conversation](items=page, next_cursor=next_cursor)

    async def get(self, claims: AccessClaims, conversation_id: str) -> Conversation:
        await self._membership.require_member(claims.tenant_id, conversation_id, claims.user_id)
        return await self._resource(claims.tenant_id, conversation_id, claims.user_id)

    # --- changing --------------------------------------------------------------------------

    async def rename(self, claims: AccessClaims, conversation_id: str, title: str) -> Conversation:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        if not member.is_admin:
            raise Forbidden("only conversation admins change the title")
        repo = ConversationRepository(claims.tenant_id)
        record = await repo.get(conversation_id)
        if record is None:
            raise NotFound(NOT_FOUND)
        record.title, record.updated_at = title, _now()
        await repo.set_fields(record.id, {"title": title, "updated_at": record.updated_at})  # type: ignore[arg-type]
        await self._membership.conversation_changed(record)
        await self._publish(EventType.CONVERSATION_UPDATED, claims.tenant_id, conversation_id)
        return await self._resource(claims.tenant_id, conversation_id, claims.user_id)

    async def add_members(
        self, claims: AccessClaims, conversation_id: str, user_ids: list[str]
    ) -> Conversation:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        if member.kind is ConversationKind.DIRECT:
            raise Conflict("a direct conversation always has exactly two members")
        if not member.is_admin:
            raise Forbidden("only conversation admins add members")
        _, current = await self._membership.members(claims.tenant_id, conversation_id)
        new = sorted(set(user_ids) - set(current))
        unknown = set(new) - await self._directory.existing(claims.tenant_id, new)
        if unknown:
            raise Unprocessable(f"unknown users: {', '.join(sorted(unknown))}")
        repo = MemberRepository(claims.tenant_id)
        now = _now()
        added: list[str] = []
        for user_id in new:
            record = MemberRecord(
                id=member_id(conversation_id, user_id),
                tenant_id=claims.tenant_id,
                conversation_id=conversation_id,
                user_id=user_id,
                role=MemberRole.MEMBER,
                joined_at=now,
            )
            try:
                await repo.add(record)
            except DuplicateKeyError:
                continue  # added by a concurrent call
            await self._membership.joined(claims.tenant_id, conversation_id, record)
            added.append(user_id)
        if added:
            await self._touch(claims.tenant_id, conversation_id, now)
            await self._publish(EventType.MEMBER_ADDED, claims.tenant_id, conversation_id, added)
        return await self._resource(claims.tenant_id, conversation_id, claims.user_id)

    async def remove_member(self, claims: AccessClaims, conversation_id: str, user_id: str) -> None:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        leaving = user_id == claims.user_id
        if not leaving and not member.is_admin:
            raise Forbidden("only conversation admins remove other members")
        if member.kind is ConversationKind.DIRECT:
            raise Conflict("a direct conversation always has exactly two members")
        async with self._locks.held(f"{claims.tenant_id}:{conversation_id}:members"):
            if not await MemberRepository(claims.tenant_id).remove(conversation_id, user_id):
                raise NotFound("no such member")
            await self._membership.left(claims.tenant_id, conversation_id, user_id)
            _, remaining = await self._membership.members(claims.tenant_id, conversation_id)
            if remaining and not any(
                m["role"] == MemberRole.ADMIN.value for m in remaining.values()
            ):
                # A group is never left without an admin: the longest-standing member takes over.
                heir_id, heir = min(
                    remaining.items(), key=lambda item: (item[1]["joined_at"], item[0])
                )
                promoted = member_record(claims.tenant_id, conversation_id, heir_id, heir)
                promoted.role = MemberRole.ADMIN
                await MemberRepository(claims.tenant_id).write(promoted)
                await self._membership.joined(claims.tenant_id, conversation_id, promoted)
        await self._touch(claims.tenant_id, conversation_id, _now())
        await self._publish(EventType.MEMBER_REMOVED, claims.tenant_id, conversation_id, [user_id])

    async def _touch(self, tenant_id: str, conversation_id: str, at: datetime) -> None:
        repo = ConversationRepository(tenant_id)
        oid = object_id(conversation_id)
        if oid is None:
            return
        await repo.set_fields(oid, {"updated_at": at})
        record = await repo.get(conversation_id)
        if record is not None:
            await self._membership.conversation_changed(record)

    # --- read markers ----------------------------------------------------------------------

    async def _marker(self, tenant_id: str, conversation_id: str, user_id: str) -> int:
        keys = self._projection.keys(tenant_id, conversation_id)
        (current,) = await self._projection.read_markers(keys, [user_id])
        if current is None:
            stored = await ReadMarkerRepository(tenant_id).get(conversation_id, user_id)
            current = await self._projection.advance_read(keys, user_id, stored)
        return current

    async def mark_read(self, claims: AccessClaims, conversation_id: str, seq: int) -> ReadMarker:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        _, last_seq = await self._timeline.newest(member.keys, claims.tenant_id)
        target = min(seq, last_seq)
        before = await self._marker(claims.tenant_id, conversation_id, claims.user_id)
        current = await self._projection.advance_read(member.keys, claims.user_id, target)
        marker = ReadMarker(
            conversation_id=conversation_id,
            user_id=claims.user_id,
            last_read_seq=current,
            unread_count=max(0, last_seq - current),
        )
        if current > before:
            await self._persist_marker(claims.tenant_id, conversation_id, claims.user_id, current)
            await self._events.read(claims.tenant_id, marker, None)
        return marker

    async def _persist_marker(
        self, tenant_id: str, conversation_id: str, user_id: str, value: int
    ) -> None:
        """Write the marker document until it holds what Redis holds: Redis orders concurrent
        advances (its script takes the max), and whichever writer finishes last rewrites the
        document with the newest value, so a slow older write never has the last word."""
        keys = self._projection.keys(tenant_id, conversation_id)
        markers = ReadMarkerRepository(tenant_id)
        for _ in range(MARKER_WRITES):
            await markers.write(conversation_id, user_id, value)
            (latest,) = await self._projection.read_markers(keys, [user_id])
            if latest is None or latest <= value:
                return
            value = latest
