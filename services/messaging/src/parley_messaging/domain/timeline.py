"""A conversation's timeline: allocating seqs, storing messages under them, and reading them
back gap-free.

- A seq comes from the Redis counter of the conversation (`INCR` in a script that also
  records the client's idempotency key). When the counter is missing (Redis lost it), it is
  seeded from the store's highest seq, found by `_id` lookups (messages are stored under
  `<conversation>-<seq>`, so "is seq n taken" is a primary-key lookup).
- Inserting the message under that `_id` is the last guard: a clash (a counter seeded too low)
  re-seeds from the clash upwards and takes the next number, a bounded number of times.
- A seq allocated but never stored (its writer failed or died) is a *hole*. Readers never see
  past the lowest hole (`stable` in the projection); a hole older than `gap_grace` is filled
  with a tombstone (or, if the message is there after all, the message is committed), so
  history and `sync` stay gap-free and nothing waits forever.
"""

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Iterable
from typing import Any

import pymongo
from pymongo.errors import DuplicateKeyError, PyMongoError

from parley_contracts.resources import Message
from parley_contracts.topics import EventType
from parley_kit.group_commit import GroupCommit
from parley_kit.logs import get_logger
from parley_kit.problems import ServiceUnavailable
from parley_messaging.events import MessagingEvents
from parley_messaging.models import MessageRecord, message_id, parse_message_id
from parley_messaging.projection import ConversationKeys, ConversationProjection
from parley_messaging.render import base_message, decorate, decorated
from parley_messaging.repository import MessageRepository, ReactionRepository

log = get_logger(__name__)
LOAD_ATTEMPTS = 3
FETCH_CONCURRENCY = 4  # FerretDB answers concurrent lookups no faster than a few at once
TOMBSTONE_SENDER = ""


class Timeline:
    def __init__(
        self,
        projection: ConversationProjection,
        inserts: GroupCommit,
        events: MessagingEvents,
        *,
        page_keep: int,
        gap_grace_seconds: float,
    ) -> None:
        self._projection = projection
        self._inserts = inserts
        self._events = events
        self._keep = page_keep
        self._gap_grace_ms = int(gap_grace_seconds * 1000)
        self._repairs: dict[str, asyncio.Task[None]] = {}

    def messages(self, tenant_id: str) -> MessageRepository:
        return MessageRepository(tenant_id, self._inserts)

    # --- highest stored seq ----------------------------------------------------------------

    async def highest_stored(self, tenant_id: str, conversation_id: str, start: int = 0) -> int:
        """The highest stored seq, by `_id` lookups: exponential steps up from `start` (or 1),
        then a binary search. Exact when stored seqs have no holes; a hole can only make it
        low, which the insert's unique `_id` then catches (see `reseed_above`)."""
        repo = self.messages(tenant_id)
        if start > 0 and not await repo.exists(conversation_id, start):
            start = 0
        if start == 0:
            if not await repo.exists(conversation_id, 1):
                return 0
            start = 1
        low, step = start, 1
        while await repo.exists(conversation_id, low + step):
            low += step
            step *= 2
        high = low + step  # low is stored, high is not
        while high - low > 1:
            middle = (low + high) // 2
            if await repo.exists(conversation_id, middle):
                low = middle
            else:
                high = middle
        return low

    # --- writing ---------------------------------------------------------------------------

    async def allocate(
        self,
        keys: ConversationKeys,
        tenant_id: str,
        conversation_id: str,
        sender_id: str,
        client_msg_id: str | None,
    ) -> tuple[int, bool]:
        """(seq, fresh): a new seq, or the one an earlier send with this client id took."""
        allocation = await self._projection.allocate(keys, sender_id, client_msg_id)
        if allocation is None:
            await self._projection.seed(keys, await self.highest_stored(tenant_id, conversation_id))
            allocation = await self._projection.allocate(keys, sender_id, client_msg_id)
        if allocation is None:
            raise ServiceUnavailable("the conversation's sequence is being rebuilt; retry")
        return allocation.seq, allocation.fresh

    async def reseed_above(self, keys: ConversationKeys, tenant_id: str, taken: int) -> None:
        """After a seq clash: the counter was seeded too low; move it past what is stored."""
        highest = await self.highest_stored(tenant_id, keys.conversation_id, start=taken)
        await self._projection.seed(keys, highest)

    async def commit(self, keys: ConversationKeys, record: MessageRecord) -> None:
        """Mirror a stored message in the projection (page, thread, sender's read marker)."""
        if record.parent_id is not None:
            parent = parse_message_id(record.parent_id)
            if parent is not None:
                await self._projection.reply(keys, parent[1], record.seq, str(record.id))
        sender = "" if record.tombstone else record.sender_id
        _, hole_since = await self._projection.commit(
            keys, record.seq, base_message(record), sender
        )
        self._repair_if_due(keys, record.tenant_id, hole_since)

    async def fill(self, keys: ConversationKeys, tenant_id: str, seq: int) -> MessageRecord:
        """Fill a seq that has no message with a tombstone; if the message is there after all,
        that message. Either way it is committed to the projection."""
        conversation_id = keys.conversation_id
        tombstone = MessageRecord(
            id=message_id(conversation_id, seq),
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            seq=seq,
            sender_id=TOMBSTONE_SENDER,
            content="",
            deleted=True,
            tombstone=True,
            client_msg_id=f"tombstone:{seq}",
        )
        repo = MessageRepository(tenant_id)
        try:
            with pymongo.timeout(5):
                await repo.insert(tombstone)
            record = tombstone
        except DuplicateKeyError:
            found = await repo.get(conversation_id, seq)
            if found is None:
                raise
            record = found
            # It was stored but perhaps not announced (its writer died after the insert).
            await self._events.message(
                EventType.MESSAGE_CREATED, decorate(base_message(found)), seq
            )
        await self.commit(keys, record)
        return record

    def _repair_if_due(self, keys: ConversationKeys, tenant_id: str, hole_since_ms: int) -> None:
        if not hole_since_ms or time.time() * 1000 - hole_since_ms < self._gap_grace_ms:
            return
        running = self._repairs.get(keys.base)
        if running is not None and not running.done():
            return
        self._repairs[keys.base] = asyncio.create_task(
            self._repair(keys, tenant_id), name=f"repair-{keys.base}", context=contextvars.Context()
        )

    async def _repair(self, keys: ConversationKeys, tenant_id: str) -> None:
        """Fill holes below the highest committed seq, lowest first."""
        try:
            for _ in range(1000):
                page = await self._projection.read_page(keys, before=None, after=None, limit=1)
                if page is None or not page.hole_since_ms:
                    return
                record = await self.fill(keys, tenant_id, page.stable + 1)
                log.info(
                    "filled a seq hole",
                    conversation=keys.base,
                    seq=record.seq,
                    tombstone=record.tombstone,
                )
        except (PyMongoError, ServiceUnavailable) as exc:
            log.warning("could not repair a seq hole yet", conversation=keys.base, error=str(exc))
        finally:
            self._repairs.pop(keys.base, None)

    async def close(self) -> None:
        for task in list(self._repairs.values()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    # --- reading ---------------------------------------------------------------------------

    async def start(self, keys: ConversationKeys) -> None:
        """The projection of a conversation just created: known empty, so nothing is read
        (loading it would scan the reactions and threads of every conversation)."""
        page = await self._projection.generation(keys, "page")
        rx = await self._projection.generation(keys, "rx")
        replies = await self._projection.generation(keys, "replies")
        await self._projection.seed(keys, 0)
        await self._projection.load_page(keys, page, 0, 0, [])
        await self._projection.load_reactions(keys, rx, {})
        await self._projection.load_replies(keys, replies, [])

    async def load(self, keys: ConversationKeys, tenant_id: str) -> None:
        """Load the newest page, reactions and threads of a conversation from the store."""
        conversation_id = keys.conversation_id
        generation = await self._projection.generation(keys, "page")
        start = await self._projection.allocated(keys) or 0
        top = await self.highest_stored(tenant_id, conversation_id, start=_probe_start(start))
        seqs = list(range(max(1, top - self._keep + 1), top + 1))
        records = await self.fetch(tenant_id, conversation_id, seqs)
        present = {r.seq for r in records}
        stable = top
        for seq in seqs:
            if seq not in present:
                stable = seq - 1
                break
        items = [base_message(r) for r in records]  # readers stop at `stable`
        await self._projection.seed(keys, top)
        await self._projection.load_page(keys, generation, stable, top, items)
        await self._load_decorations(keys, tenant_id)

    async def _load_decorations(self, keys: ConversationKeys, tenant_id: str) -> None:
        conversation_id = keys.conversation_id
        rx_generation = await self._projection.generation(keys, "rx")
        reactions = await ReactionRepository(tenant_id).of_conversation(conversation_id)
        by_seq: dict[int, dict[str, Any]] = {}
        for reaction in sorted(reactions, key=lambda r: r.at):
            doc = by_seq.setdefault(reaction.seq, {"v": 0, "r": {}})
            doc["r"].setdefault(reaction.emoji, []).append(reaction.user_id)
            doc["v"] += 1
        await self._projection.load_reactions(keys, rx_generation, by_seq)
        replies_generation = await self._projection.generation(keys, "replies")
        replies = await self.messages(tenant_id).replies_of_conversation(conversation_id)
        triples = []
        for parent_id, reply_seq in replies:
            parent = parse_message_id(parent_id)
            if parent is not None:
                triples.append((parent[1], reply_seq, message_id(conversation_id, reply_seq)))
        await self._projection.load_replies(keys, replies_generation, triples)

    async def fetch(
        self, tenant_id: str, conversation_id: str, seqs: Iterable[int]
    ) -> list[MessageRecord]:
        """Stored messages of these seqs (missing ones left out), ascending, by `_id`."""
        repo = self.messages(tenant_id)
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def one(seq: int) -> MessageRecord | None:
            async with gate:
                return await repo.get(conversation_id, seq)

        found = await asyncio.gather(*(one(seq) for seq in seqs))
        return sorted((r for r in found if r is not None), key=lambda r: r.seq)

    async def page(
        self,
        keys: ConversationKeys,
        tenant_id: str,
        *,
        before: int | None,
        after: int | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int, int, int]:
        """(messages ascending as JSON-ready resources, stable seq, lo, hi) of the history
        range asked for."""
        for _ in range(LOAD_ATTEMPTS):
            read = await self._projection.read_page(keys, before=before, after=after, limit=limit)
            if read is None or read.decorations is None:
                await self.load(keys, tenant_id)
                continue
            self._repair_if_due(keys, tenant_id, read.hole_since_ms)
            items = list(read.items)
            if read.lo < read.window and read.hi >= read.lo:
                older = await self.fetch(
                    tenant_id, keys.conversation_id, range(read.lo, min(read.hi + 1, read.window))
                )
                items = [base_message(r) for r in older] + items
            messages = [
                decorated(item, *read.decorations.get(int(item["seq"]), ({"v": 0, "r": {}}, 0)))
                for item in items
            ]
            return messages, read.stable, read.lo, read.hi
        raise ServiceUnavailable("the conversation is changing too fast to load; retry")

    async def decorated(
        self, keys: ConversationKeys, tenant_id: str, records: list[MessageRecord]
    ) -> list[Message]:
        """Messages read from the store, with their reactions and reply counts."""
        for _ in range(LOAD_ATTEMPTS):
            decorations = await self._projection.decorations(keys, [r.seq for r in records])
            if decorations is None:
                await self.load(keys, tenant_id)
                continue
            return [
                decorate(base_message(r), *decorations.get(r.seq, ({"v": 0, "r": {}}, 0)))
                for r in records
            ]
        raise ServiceUnavailable("the conversation is changing too fast to load; retry")

    async def newest(self, keys: ConversationKeys, tenant_id: str) -> tuple[Message | None, int]:
        """The newest stored message and the conversation's `last_seq`."""
        messages, stable, _, _ = await self.page(keys, tenant_id, before=None, after=None, limit=1)
        return (Message.model_validate(messages[-1]) if messages else None), stable


def _probe_start(allocated: int) -> int:
    # The counter is at or above the highest stored seq (it may include in-flight sends).
    return max(0, allocated - 64) if allocated else 0
