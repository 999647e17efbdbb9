"""Notifications: a mention of a user, or a reply to their message, with read state; each
member's notification level of a conversation; their unread mentions per conversation.

A send, edit or delete computes who is notified and writes it right after the message:
notification documents under natural ids (`<tenant>:<user>:<message>:<kind>`, batched with
concurrent sends by a group commit, idempotent on retries) and one `mention.created` event per
recipient through the outbox, both at once (one store round trip), then the recipients' Redis
feeds. A message that mentions nobody and replies to nothing pays nothing. Mentions count as
unread in their conversation whatever the level; `none` only stops notifications.

A user's feed lives in Redis (`projection/notifications.py`). It is created empty with their
first notification (a feed marker document, inserted in the same batch, says they have one);
after Redis lost it, it is rebuilt from the documents: by one `_id` lookup for a user without
a marker, by a scan of the notifications collection for one with (see `_load_feed`).

Levels: `all` (mentions and replies to one's messages notify), `mentions` (only mentions),
`none` (nothing). The level is a field of the member document, so the send path reads it with
the members it already has in Redis.
"""

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from parley_contracts.claims import AccessClaims
from parley_contracts.cursors import Position
from parley_contracts.resources import (
    Notification,
    NotificationKind,
    NotificationLevel,
    NotificationsRead,
    Page,
    UnreadNotifications,
)
from parley_kit.group_commit import GroupCommit
from parley_kit.locks import RedisLock
from parley_kit.problems import NotFound, ServiceUnavailable
from parley_messaging.domain.cursors import decode_cursor, encode_cursor
from parley_messaging.domain.membership import Membership, MembershipCheck, member_record
from parley_messaging.domain.mentions import MentionResolver
from parley_messaging.domain.timeline import Timeline
from parley_messaging.events import MessagingEvents
from parley_messaging.models import (
    MessageRecord,
    NotificationRecord,
    notification_id,
    parse_message_id,
    public_notification_id,
)
from parley_messaging.projection import ConversationKeys
from parley_messaging.projection.notifications import FEED_KEEP, FeedKeys, NotificationProjection
from parley_messaging.repository import MemberRepository, NotificationRepository

EXCERPT_CHARS = 140
# After Redis lost a user's mention counts of a conversation, they are recounted from the
# newest messages after the user's read marker, at most this many (the cached page's size).
MENTION_RECOUNT = 200
LOAD_ATTEMPTS = 3
WRITE_CONCURRENCY = 8


class FeedPosition(Position):
    """The feed, newest first: where the page ended (creation ms, public id)."""

    at: int = Field(ge=0)
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


def excerpt(content: str) -> str:
    text = re.sub(r"\s+", " ", content).strip()
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _ms(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _level(members: dict[str, Any], user_id: str) -> NotificationLevel | None:
    """The member's level; None if they are not a member."""
    member = members.get(user_id)
    if member is None:
        return None
    return NotificationLevel(member.get("notification_level", NotificationLevel.ALL.value))


def _resource(record: NotificationRecord) -> Notification:
    return Notification(
        id=public_notification_id(record.message_id, record.kind),
        kind=record.kind,
        conversation_id=record.conversation_id,
        message_id=record.message_id,
        seq=record.seq,
        actor_id=record.actor_id,
        excerpt=record.excerpt,
        created_at=record.created_at,
        read=record.read,
    )


class NotificationService:
    def __init__(
        self,
        membership: MembershipCheck,
        resolver: MentionResolver,
        projection: NotificationProjection,
        timeline: Timeline,
        events: MessagingEvents,
        locks: RedisLock,
        inserts: GroupCommit | None = None,
    ) -> None:
        self._membership = membership
        self._resolver = resolver
        self._projection = projection
        self._timeline = timeline
        self._events = events
        self._locks = locks
        self._inserts = inserts

    # --- on writes of messages -------------------------------------------------------------

    async def mentions(
        self, member: Membership, content: str, previous: str | None = None
    ) -> list[str]:
        """The members `content` mentions (resolved now, for the message document)."""
        if "@" not in content:
            return []
        _, members = await self._membership.members(member.tenant_id, member.conversation_id)
        return await self._resolver.resolve(member, members, content, previous=previous)

    async def created(
        self, member: Membership, record: MessageRecord, parent: MessageRecord | None = None
    ) -> None:
        """After a message was stored and committed (again, on an idempotent repeat).
        `parent`: its thread parent, when the caller has it at hand."""
        if not record.mentions and record.parent_id is None:
            return
        for user_id in record.mentions:
            await self._projection.mentioned(member.keys, user_id, record.seq, True)
        if parent is None and record.parent_id is not None:
            parent = await self._parent(member, record)
        recipients = await self._recipients(member, record, record.mentions, parent)
        await self._notify(member, record, recipients)

    async def edited(self, member: Membership, record: MessageRecord, before: list[str]) -> None:
        """After an edit: mentions it added notify, mentions it removed are withdrawn."""
        removed = sorted(set(before) - set(record.mentions))
        added = sorted(set(record.mentions) - set(before))
        for user_id in removed:
            await self._projection.mentioned(member.keys, user_id, record.seq, False)
        await self._withdraw(member, record, [(u, NotificationKind.MENTION) for u in removed])
        for user_id in added:
            await self._projection.mentioned(member.keys, user_id, record.seq, True)
        if added:
            await self._notify(member, record, await self._recipients(member, record, added))

    async def deleted(self, member: Membership, record: MessageRecord) -> None:
        """After a delete (and again when it is repeated): its notifications disappear."""
        withdrawn = [(user_id, NotificationKind.MENTION) for user_id in record.mentions]
        for user_id in record.mentions:
            await self._projection.mentioned(member.keys, user_id, record.seq, False)
        parent = await self._parent(member, record)
        if parent is not None:
            withdrawn.append((parent.sender_id, NotificationKind.REPLY))
        await self._withdraw(member, record, withdrawn)

    async def _parent(self, member: Membership, record: MessageRecord) -> MessageRecord | None:
        parsed = parse_message_id(record.parent_id) if record.parent_id else None
        if parsed is None:
            return None
        return await self._timeline.messages(member.tenant_id).get(*parsed)

    async def _recipients(
        self,
        member: Membership,
        record: MessageRecord,
        mentioned: list[str],
        parent: MessageRecord | None = None,
    ) -> list[tuple[str, NotificationKind]]:
        """Who is notified of `mentioned` (and, given the thread parent, of the reply)."""
        _, members = await self._membership.members(member.tenant_id, member.conversation_id)
        chosen: dict[str, NotificationKind] = {}
        for user_id in mentioned:
            level = _level(members, user_id)
            if level is not None and level is not NotificationLevel.NONE:
                chosen[user_id] = NotificationKind.MENTION
        if parent is not None and not parent.deleted and not parent.tombstone:
            author = parent.sender_id
            if (
                author != record.sender_id
                and author not in chosen  # a mention says more than "a reply"
                and _level(members, author) is NotificationLevel.ALL
            ):
                chosen[author] = NotificationKind.REPLY
        return sorted(chosen.items())

    async def _notify(
        self,
        member: Membership,
        record: MessageRecord,
        recipients: list[tuple[str, NotificationKind]],
    ) -> None:
        if not recipients:
            return
        tenant_id = member.tenant_id
        message = str(record.id)
        notes = [
            NotificationRecord(
                id=notification_id(tenant_id, user_id, public_notification_id(message, kind)),
                tenant_id=tenant_id,
                user_id=user_id,
                kind=kind,
                conversation_id=record.conversation_id,
                message_id=message,
                seq=record.seq,
                actor_id=record.sender_id,
                excerpt=excerpt(record.content),
                created_at=record.edited_at or record.created_at,
            )
            for user_id, kind in recipients
        ]
        repo = NotificationRepository(tenant_id, self._inserts)
        feeds = [self._projection.feed_keys(tenant_id, note.user_id) for note in notes]
        generations = [await self._projection.feed_generation(keys) for keys in feeds]
        # One store round trip: the notifications and their recipients' feed markers leave in
        # one group-committed batch, beside the events' own (the outbox). The feeds follow at
        # once; an event takes a Kafka hop and the gateway's before anyone can see it.
        written, _ = await asyncio.gather(
            asyncio.gather(
                *(repo.mark_feed(note.user_id) for note in notes),
                *(repo.insert(note) for note in notes),
            ),
            self._events.notifications(
                tenant_id, [(note.user_id, _resource(note), record.version) for note in notes]
            ),
        )
        for note, keys, generation, first in zip(
            notes, feeds, generations, written[: len(notes)], strict=True
        ):
            if first:  # their first notification ever: the feed is known without a scan
                await self._projection.load(keys, generation, [])
            resource = _resource(note)
            await self._projection.add(
                keys,
                resource.id,
                _ms(note.created_at),
                resource.model_dump(mode="json", exclude={"read"}),
            )

    async def _withdraw(
        self,
        member: Membership,
        record: MessageRecord,
        withdrawn: list[tuple[str, NotificationKind]],
    ) -> None:
        if not withdrawn:
            return
        tenant_id = member.tenant_id
        repo = NotificationRepository(tenant_id)
        ids = [(u, public_notification_id(str(record.id), kind)) for u, kind in withdrawn]
        await asyncio.gather(*(repo.remove(notification_id(tenant_id, u, i)) for u, i in ids))
        for user_id, public_id in ids:
            await self._projection.remove(
                self._projection.feed_keys(tenant_id, user_id), [public_id]
            )

    # --- the caller's feed -----------------------------------------------------------------

    async def feed(
        self, claims: AccessClaims, cursor: str | None, limit: int, unread_only: bool
    ) -> Page[Notification]:
        keys = self._projection.feed_keys(claims.tenant_id, claims.user_id)
        after = None
        if cursor:
            position = decode_cursor(cursor, FeedPosition)
            after = (position.at, position.id)
        for _ in range(LOAD_ATTEMPTS):
            page = await self._projection.page(
                keys, unread_only=unread_only, after=after, limit=limit
            )
            if page is None:
                await self._load_feed(keys)
                continue
            items = [
                Notification.model_validate(entry.notification | {"read": not entry.unread})
                for entry in page.entries
            ]
            next_cursor = None
            if page.more and page.entries:
                last = page.entries[-1]
                next_cursor = encode_cursor(FeedPosition(at=last.score, id=last.id))
            return Page[Notification](items=items, next_cursor=next_cursor)
        raise ServiceUnavailable("the notifications are changing too fast to load; retry")

    async def mark_read(self, claims: AccessClaims, body: NotificationsRead) -> UnreadNotifications:
        keys = self._projection.feed_keys(claims.tenant_id, claims.user_id)
        ids = (await self._unread(keys))[1] if body.all else sorted(set(body.ids or []))
        repo = NotificationRepository(claims.tenant_id)
        gate = asyncio.Semaphore(WRITE_CONCURRENCY)

        async def one(public_id: str) -> None:
            # The caller's ids name documents of their own feed only (the prefix is theirs).
            async with gate:
                await repo.mark_read(notification_id(claims.tenant_id, claims.user_id, public_id))

        await asyncio.gather(*(one(i) for i in ids))
        count = await self._projection.mark_read(keys, ids)
        if count is None:  # not loaded: loading reads the documents just written
            count = (await self._unread(keys))[0]
        return UnreadNotifications(unread_count=count)

    async def _unread(self, keys: FeedKeys) -> tuple[int, list[str]]:
        for _ in range(LOAD_ATTEMPTS):
            found = await self._projection.unread(keys)
            if found is not None:
                return found
            await self._load_feed(keys)
        raise ServiceUnavailable("the notifications are changing too fast to load; retry")

    async def _load_feed(self, keys: FeedKeys) -> None:
        """Rebuild a user's feed from the store (after Redis lost it, or on first use). A user
        who never had a notification has no feed marker: their feed is empty, known by one `_id`
        lookup. For the others the query scans the notifications collection (FerretDB serves
        only `_id` lookups from an index): once per user until Redis loses the feed again,
        loading the newest `FEED_KEEP`."""
        generation = await self._projection.feed_generation(keys)
        repo = NotificationRepository(keys.tenant_id)
        records = []
        if await repo.has_feed(keys.user_id):
            records = await repo.newest_of_user(keys.user_id, FEED_KEEP)
        entries = []
        for record in records:
            resource = _resource(record)
            entries.append(
                (
                    resource.id,
                    _ms(record.created_at),
                    resource.model_dump(mode="json", exclude={"read"}),
                    record.read,
                )
            )
        await self._projection.load(keys, generation, entries)

    # --- per conversation ------------------------------------------------------------------

    async def unread_mentions(
        self, keys: ConversationKeys, user_id: str, marker: int, last_seq: int
    ) -> int:
        """How many messages after the user's read marker mention them."""
        for _ in range(LOAD_ATTEMPTS):
            count = await self._projection.unread_mentions(keys, user_id, marker)
            if count is not None:
                return count
            generation = await self._projection.mention_generation(keys, user_id)
            seqs = await self._mentions_after(keys, user_id, marker, last_seq)
            await self._projection.load_mentions(keys, user_id, generation, seqs)
        raise ServiceUnavailable("the conversation is changing too fast to load; retry")

    async def _mentions_after(
        self, keys: ConversationKeys, user_id: str, marker: int, last_seq: int
    ) -> list[int]:
        start = max(marker, last_seq - MENTION_RECOUNT)
        if start >= last_seq:
            return []
        items, _, _, _ = await self._timeline.page(
            keys, keys.tenant_id, before=None, after=start, limit=MENTION_RECOUNT
        )
        return [
            int(item["seq"])
            for item in items
            if user_id in (item.get("mentions") or []) and not item.get("deleted")
        ]

    async def set_level(
        self, claims: AccessClaims, conversation_id: str, level: NotificationLevel
    ) -> None:
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        # The conversation's member lock: a role change rewrites the same member document.
        async with self._locks.held(f"{claims.tenant_id}:{conversation_id}:members"):
            _, members = await self._membership.members(claims.tenant_id, conversation_id)
            raw = members.get(member.user_id)
            if raw is None:
                raise NotFound("no such conversation")
            record = member_record(claims.tenant_id, conversation_id, member.user_id, raw)
            record.notification_level = level
            await MemberRepository(claims.tenant_id).write(record)
            await self._membership.joined(claims.tenant_id, conversation_id, record)

    @staticmethod
    def level_of(members: dict[str, Any], user_id: str) -> NotificationLevel:
        return _level(members, user_id) or NotificationLevel.ALL
