"""The transactional outbox: events are stored next to the write, a relay ships them to Kafka.

MongoDB-protocol servers without multi-document transactions (FerretDB here) cannot write the
document and its event atomically, so the guarantees come from idempotence instead:

- A service writes its document, then `Outbox.enqueue`s the event with a *deterministic*
  `event_id` (e.g. `"<message id>:v<version>"`) as an upsert, before it answers. A crash between
  the two loses nothing that was acknowledged: the client's retry (same idempotency key) finds
  the document and enqueues the same event id again, which is a no-op if it already exists.
- Order within a key: a writer that takes a per-key `position` atomically with its write (an
  `$inc` on the conversation) passes it along. The relay publishes a key's records strictly by
  position and waits up to `gap_grace` for a missing position (a concurrent writer that has not
  enqueued yet); a gap older than that belonged to a writer that died and is skipped.
- One relay publishes at a time across replicas, holding a lease document that expires if its
  holder dies. Kafka down: the relay backs off exponentially and resumes by itself; records stay
  pending meanwhile. Published records are deleted after `retention` by a TTL index.
"""

import asyncio
import contextlib
import socket
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
from beanie import Document
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge, Histogram
from pydantic import Field
from pymongo.errors import DuplicateKeyError

from parley_contracts.events import EventEnvelope
from parley_contracts.topics import prefixed
from parley_kit.kafka import ensure_topics, make_broker
from parley_kit.logs import get_logger

log = get_logger(__name__)

OUTBOX_PUBLISHED = Counter("parley_outbox_published_total", "Events published to Kafka", ["topic"])
OUTBOX_FAILURES = Counter("parley_outbox_publish_failures_total", "Failed publish attempts")
OUTBOX_PENDING = Gauge("parley_outbox_pending", "Events waiting to be published (last batch)")
OUTBOX_LAG = Histogram(
    "parley_outbox_delay_seconds",
    "Time from enqueue to Kafka acknowledgement",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def _now() -> datetime:
    return datetime.now(UTC)


class OutboxRecord(Document):
    event_id: str
    topic: str
    key: str
    position: int | None = None
    envelope: dict[str, Any]
    created_at: datetime = Field(default_factory=_now)
    published: bool = False
    published_at: datetime | None = None
    attempts: int = 0

    class Settings:
        name = "outbox"
        indexes = [
            pymongo.IndexModel([("event_id", 1)], unique=True),
            pymongo.IndexModel([("published", 1), ("_id", 1)]),
            pymongo.IndexModel([("key", 1), ("position", 1)]),
        ]


class OutboxCursor(Document):
    """The last position published per key (only for keys whose records carry positions)."""

    key: str
    position: int

    class Settings:
        name = "outbox_cursors"
        indexes = [pymongo.IndexModel([("key", 1)], unique=True)]


class OutboxLease(Document):
    """Who may relay now. `_id` is the lease name; an expired lease may be taken over."""

    holder: str
    expires_at: datetime

    class Settings:
        name = "outbox_lease"


OUTBOX_MODELS: list[type[Document]] = [OutboxRecord, OutboxCursor, OutboxLease]


class Outbox:
    """Stores events to publish. Call `enqueue` right after the domain write."""

    def __init__(self, topic_prefix: str = "", relay: "OutboxRelay | None" = None) -> None:
        self._prefix = topic_prefix
        self._relay = relay

    def attach(self, relay: "OutboxRelay") -> None:
        self._relay = relay

    async def enqueue(self, *envelopes: EventEnvelope, position: int | None = None) -> None:
        """Idempotent on `event_id`. `position` orders the first envelope within its key."""
        collection = (
            OutboxRecord.get_pymongo_collection()
        )  # unscoped: the outbox serves all tenants
        for index, envelope in enumerate(envelopes):
            record = OutboxRecord(
                event_id=envelope.event_id,
                topic=prefixed(self._prefix, envelope.topic),
                key=envelope.key,
                position=position + index if position is not None else None,
                envelope=envelope.model_dump(mode="json"),
            )
            document = record.model_dump(by_alias=True, exclude={"id"})
            await collection.update_one(
                {"event_id": envelope.event_id}, {"$setOnInsert": document}, upsert=True
            )
        if self._relay is not None:
            self._relay.wake()


class OutboxRelay:
    """Publishes pending outbox records to Kafka, in order per key, once per record."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        topics: list[str],
        partitions: int = 6,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        gap_grace: float = 2.0,
        lease_seconds: float = 10.0,
        retention: timedelta = timedelta(days=1),
        lease_name: str = "relay",
    ) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._topics = topics
        self._partitions = partitions
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._gap_grace = timedelta(seconds=gap_grace)
        self._lease_seconds = lease_seconds
        self._retention = retention
        self._lease_name = lease_name
        self._holder = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._broker: KafkaBroker | None = None
        self.connected = False

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        await self._ensure_retention_index()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect()
        with contextlib.suppress(Exception):
            await OutboxLease.get_pymongo_collection().delete_one(  # unscoped: service-wide lease
                {"_id": self._lease_name, "holder": self._holder}
            )

    async def _ensure_retention_index(self) -> None:
        with contextlib.suppress(Exception):  # a TTL index is housekeeping, never fatal
            await OutboxRecord.get_pymongo_collection().create_index(  # unscoped: housekeeping
                [("published_at", 1)],
                expireAfterSeconds=int(self._retention.total_seconds()),
                name="published_ttl",
            )

    async def _connect(self) -> KafkaBroker:
        if self._broker is None:
            await ensure_topics(self._bootstrap, self._topics, partitions=self._partitions)
            broker = make_broker(self._bootstrap, client_id=self._client_id)
            await broker.start()
            self._broker = broker
            self.connected = True
            log.info("outbox relay connected to Kafka")
        return self._broker

    async def _disconnect(self) -> None:
        broker, self._broker = self._broker, None
        self.connected = False
        if broker is not None:
            with contextlib.suppress(Exception):
                await broker.stop()

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                published = await self.relay_once() if await self._hold_lease() else 0
                backoff = 0.2
                if published >= self._batch_size:
                    continue  # more is waiting
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                OUTBOX_FAILURES.inc()
                log.warning("outbox relay failed; retrying", error=str(exc), backoff=backoff)
                await self._disconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()

    async def _hold_lease(self) -> bool:
        now = _now()
        collection = OutboxLease.get_pymongo_collection()  # unscoped: service-wide lease
        try:
            await collection.update_one(
                {
                    "_id": self._lease_name,
                    "$or": [{"holder": self._holder}, {"expires_at": {"$lt": now}}],
                },
                {
                    "$set": {
                        "holder": self._holder,
                        "expires_at": now + timedelta(seconds=self._lease_seconds),
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # another replica holds a live lease
        return True

    async def relay_once(self) -> int:
        """Publish what is publishable now; returns how many records were published."""
        records = (
            await OutboxRecord.find({"published": False})  # unscoped: the relay serves all tenants
            .sort("_id")
            .limit(self._batch_size)
            .to_list()
        )
        OUTBOX_PENDING.set(len(records))
        if not records:
            return 0
        ready = await self._in_order(records)
        if not ready:
            return 0
        broker = await self._connect()
        by_key: dict[str, list[OutboxRecord]] = defaultdict(list)
        for record in ready:
            by_key[record.key].append(record)
        await asyncio.gather(*(self._publish_key(broker, batch) for batch in by_key.values()))
        now = _now()
        await OutboxRecord.get_pymongo_collection().update_many(  # unscoped: relay bookkeeping
            {"_id": {"$in": [record.id for record in ready]}},
            {"$set": {"published": True, "published_at": now}},
        )
        for key, batch in by_key.items():
            positions = [r.position for r in batch if r.position is not None]
            if positions:
                await OutboxCursor.get_pymongo_collection().update_one(  # unscoped: relay state
                    {"key": key}, {"$max": {"position": max(positions)}}, upsert=True
                )
        for record in ready:
            OUTBOX_PUBLISHED.labels(record.topic).inc()
            OUTBOX_LAG.observe(max(0.0, (now - _aware(record.created_at)).total_seconds()))
        return len(ready)

    async def _publish_key(self, broker: KafkaBroker, records: list[OutboxRecord]) -> None:
        futures = []
        for record in records:
            envelope = record.envelope
            future = await broker.publish(
                envelope,
                topic=record.topic,
                key=record.key.encode(),
                headers={"event_type": str(envelope.get("type", "")), "event_id": record.event_id},
                no_confirm=True,
            )
            futures.append(future)
        await asyncio.gather(*futures)

    async def _in_order(self, records: list[OutboxRecord]) -> list[OutboxRecord]:
        """The records that may go now: positioned ones only in unbroken position order."""
        keys = {r.key for r in records if r.position is not None}
        cursors: dict[str, int] = {}
        if keys:
            found = await OutboxCursor.find(  # unscoped: relay state
                {"key": {"$in": sorted(keys)}}
            ).to_list()
            cursors = {cursor.key: cursor.position for cursor in found}
        by_key: dict[str, list[OutboxRecord]] = defaultdict(list)
        for record in records:
            by_key[record.key].append(record)
        ready: list[OutboxRecord] = []
        stale: list[Any] = []
        now = _now()
        for key, batch in by_key.items():
            unpositioned = [r for r in batch if r.position is None]
            positioned = sorted((r for r in batch if r.position is not None), key=_position)
            expected = cursors.get(key, 0) + 1
            for record in positioned:
                position = _position(record)
                if position < expected:
                    stale.append(record.id)  # a re-enqueued duplicate of a published position
                    continue
                waited = now - _aware(record.created_at)
                if position == expected or (positioned[0] is record and waited > self._gap_grace):
                    ready.append(record)
                    expected = position + 1
                else:
                    break  # wait for the missing position
            ready.extend(unpositioned)
        if stale:
            await OutboxRecord.get_pymongo_collection().update_many(  # unscoped: relay state
                {"_id": {"$in": stale}}, {"$set": {"published": True, "published_at": now}}
            )
        return ready


def _position(record: OutboxRecord) -> int:
    return record.position if record.position is not None else 0


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
