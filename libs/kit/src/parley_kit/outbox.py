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

from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.database import AsyncDatabase
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


class OutboxRecord(BaseModel):
    """One event waiting for (or done with) Kafka, in the `outbox` collection."""

    model_config = ConfigDict(populate_by_name=True)

    id: Any = Field(default=None, alias="_id")
    event_id: str
    topic: str
    key: str
    position: int | None = None
    envelope: dict[str, Any]
    created_at: datetime = Field(default_factory=_now)
    published: bool = False
    published_at: datetime | None = None


OUTBOX = "outbox"
CURSORS = "outbox_cursors"
LEASES = "outbox_lease"


async def ensure_outbox_indexes(database: AsyncDatabase[Any], retention: timedelta) -> None:
    """The outbox's indexes; published records expire after `retention`."""
    outbox = database[OUTBOX]
    await outbox.create_index([("event_id", 1)], unique=True)
    await outbox.create_index([("published", 1), ("_id", 1)])
    await database[CURSORS].create_index([("key", 1)], unique=True)
    with contextlib.suppress(Exception):  # TTL is housekeeping; never fatal
        await outbox.create_index(
            [("published_at", 1)],
            expireAfterSeconds=int(retention.total_seconds()),
            name="published_ttl",
        )


class Outbox:
    """Stores events to publish. Call `enqueue` right after the domain write."""

    def __init__(
        self,
        database: AsyncDatabase[Any],
        topic_prefix: str = "",
        relay: "OutboxRelay | None" = None,
    ) -> None:
        self._collection = database[OUTBOX]
        self._prefix = topic_prefix
        self._relay = relay

    def attach(self, relay: "OutboxRelay") -> None:
        self._relay = relay

    async def enqueue(self, *envelopes: EventEnvelope, position: int | None = None) -> None:
        """Idempotent on `event_id`. `position` orders the first envelope within its key."""
        for index, envelope in enumerate(envelopes):
            record = OutboxRecord(
                event_id=envelope.event_id,
                topic=prefixed(self._prefix, envelope.topic),
                key=envelope.key,
                position=position + index if position is not None else None,
                envelope=envelope.model_dump(mode="json"),
            )
            document = record.model_dump(exclude={"id"})
            # A concurrent enqueue of the same event may win the insert: it is there, done.
            with contextlib.suppress(DuplicateKeyError):
                await self._collection.update_one(
                    {"event_id": envelope.event_id}, {"$setOnInsert": document}, upsert=True
                )
        if self._relay is not None:
            self._relay.wake()


class OutboxRelay:
    """Publishes pending outbox records to Kafka, in order per key, once per record."""

    def __init__(
        self,
        database: AsyncDatabase[Any],
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
        self._outbox = database[OUTBOX]
        self._cursors = database[CURSORS]
        self._leases = database[LEASES]
        self._database = database
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
        await ensure_outbox_indexes(self._database, self._retention)
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect()
        await self._release_lease()

    async def _release_lease(self) -> None:
        with contextlib.suppress(Exception):
            await self._leases.delete_one({"_id": self._lease_name, "holder": self._holder})

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
            # Bounded: a producer still retrying (e.g. during a leader election) must not hold
            # up a shutdown; unacknowledged records stay unpublished and go out later.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(broker.stop(), 5)

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
                # A replica that cannot publish (e.g. cut off from Kafka) must not keep others
                # that can from taking over while it backs off.
                await self._release_lease()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()

    async def _hold_lease(self) -> bool:
        now = _now()
        try:
            await self._leases.update_one(
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
        cursor = self._outbox.find({"published": False}).sort("_id", 1).limit(self._batch_size)
        records = [OutboxRecord.model_validate(raw) async for raw in cursor]
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
        await self._outbox.update_many(
            {"_id": {"$in": [record.id for record in ready]}},
            {"$set": {"published": True, "published_at": now}},
        )
        for key, batch in by_key.items():
            positions = [r.position for r in batch if r.position is not None]
            if positions:
                await self._cursors.update_one(
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
        """The records that may go now, in publishing order.

        Per key, records go in enqueue (`_id`) order, except that positioned records (message
        seqs) go in position order: a record whose position is ahead of the next expected one
        waits, and holds back the key's later records, until the missing positions are enqueued
        or `gap_grace` has passed (their writer died). A record that arrives after its gap was
        skipped is still published (late, never lost).
        """
        keys = {r.key for r in records if r.position is not None}
        cursors: dict[str, int] = {}
        if keys:
            found = self._cursors.find({"key": {"$in": sorted(keys)}})
            cursors = {raw["key"]: int(raw["position"]) async for raw in found}
        by_key: dict[str, list[OutboxRecord]] = defaultdict(list)
        for record in records:
            by_key[record.key].append(record)
        ready: list[OutboxRecord] = []
        now = _now()
        for key, batch in by_key.items():
            by_position = {r.position: r for r in batch if r.position is not None}
            expected = cursors.get(key, 0) + 1
            emitted: set[Any] = set()
            for record in batch:
                if record.id in emitted:
                    continue
                position = record.position
                if position is None or position <= expected:
                    ready.append(record)
                    emitted.add(record.id)
                    if position == expected:
                        expected += 1
                    continue
                missing = [by_position.get(p) for p in range(expected, position)]
                waited = now - _aware(record.created_at)
                if all(m is not None for m in missing):
                    for earlier in missing:
                        assert earlier is not None
                        ready.append(earlier)
                        emitted.add(earlier.id)
                elif waited <= self._gap_grace:
                    break  # wait for the missing positions; hold back this key
                ready.append(record)
                emitted.add(record.id)
                expected = position + 1
        return ready


def _position(record: OutboxRecord) -> int:
    return record.position if record.position is not None else 0


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
