"""The transactional outbox: events are stored next to the write, a relay ships them to Kafka.

MongoDB-protocol servers without multi-document transactions (FerretDB here) cannot write the
document and its event atomically, so the guarantees come from idempotence instead:

- A service writes its document, then `Outbox.enqueue`s the event, whose `_id` is its
  *deterministic* `event_id` (e.g. `"message:<id>:created"`), before it answers. A crash between
  the two loses nothing that was acknowledged: the client's retry (same idempotency key) finds
  the document and enqueues the same event id again, a no-op while it is pending. Inserts leave
  through a `GroupCommit`, so concurrent enqueues cost one store write between them.
- The outbox holds only what is still to publish: the relay reads it in storage (natural) order
  with no filter and no sort (the one read FerretDB pushes down whole), publishes a batch, and
  deletes it at once. Its size is the backlog, so an idle store is idle.
- Order within a key: a writer that took a per-key `position` (a message's seq) passes it along.
  The relay publishes a key's positioned records strictly by position and waits up to
  `gap_grace` for a missing one (a concurrent writer that has not enqueued yet); a gap older
  than that belonged to a writer that died and is skipped (a late record still goes out).
- One relay publishes at a time across replicas. The lease is a series of time slots, each an
  insert-only document (`<name>:<slot>`): inserting under a unique `_id` is atomic on every
  engine, so exactly one replica holds each slot; the holder claims the next slot half-way
  through its own, and a replica that finds the next slot unclaimed when it starts takes over.
  Kafka down: the relay backs off and resumes by itself; records stay pending meanwhile.
- A record the relay cannot read never stalls the ones behind it: one of the format before
  v1.1 is converted and published, anything else is moved to `outbox_unreadable` (counted in
  `parley_outbox_unreadable_total`, alerted on) for a person to look at.
"""

import asyncio
import contextlib
import socket
import time
import uuid
from collections import OrderedDict, defaultdict
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from bson import Binary
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from parley_contracts.events import EventEnvelope
from parley_contracts.topics import prefixed
from parley_kit.group_commit import GroupCommit
from parley_kit.kafka import KafkaConnection, ensure_topics, make_producer
from parley_kit.logs import get_logger
from parley_kit.tracing import context_headers, current_context, start_producer_span

log = get_logger(__name__)

OUTBOX_PUBLISHED = Counter("parley_outbox_published_total", "Events published to Kafka", ["topic"])
OUTBOX_FAILURES = Counter("parley_outbox_publish_failures_total", "Failed publish attempts")
OUTBOX_PENDING = Gauge("parley_outbox_pending", "Events waiting to be published (last batch)")
OUTBOX_UNREADABLE = Counter(
    "parley_outbox_unreadable_total",
    "Outbox records neither publishable nor convertible, moved to outbox_unreadable",
)
OUTBOX_LAG = Histogram(
    "parley_outbox_delay_seconds",
    "Time from enqueue to Kafka acknowledgement",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def _now() -> datetime:
    return datetime.now(UTC)


class OutboxRecord(BaseModel):
    """One event waiting for Kafka, in the `outbox` collection (`_id` = its event id)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    topic: str
    key: str
    position: int | None = None
    event_type: str
    payload: bytes  # the envelope as JSON, encoded once when it is enqueued
    created_at: datetime = Field(default_factory=_now)
    # The W3C trace context of the write that enqueued it (traceparent, tracestate): the relay
    # publishes later, in another task, so the context travels with the record.
    trace_context: dict[str, str] | None = None


OUTBOX = "outbox"
LEASES = "outbox_lease"
# Records the relay can neither publish nor read, moved aside so they cannot stall the rest.
UNREADABLE = "outbox_unreadable"
STOP_SECONDS = 5.0
# The longest pause between attempts while publishing fails. An attempt against a Kafka that
# is down costs a refused connection; the pause is how late publishing resumes once it is back.
MAX_BACKOFF_SECONDS = 2.0


class Outbox:
    """Stores events to publish. Call `enqueue` right after the domain write."""

    def __init__(
        self,
        database: AsyncDatabase[Any],
        topic_prefix: str = "",
        relay: "OutboxRelay | None" = None,
    ) -> None:
        self._inserts = GroupCommit(database[OUTBOX])
        self._prefix = topic_prefix
        self._relay = relay

    def attach(self, relay: "OutboxRelay") -> None:
        self._relay = relay

    async def enqueue(self, *envelopes: EventEnvelope, position: int | None = None) -> None:
        """Idempotent on `event_id`. `position` orders the first envelope within its key."""
        trace_context = current_context()
        records = [
            OutboxRecord(
                id=envelope.event_id,
                topic=prefixed(self._prefix, envelope.topic),
                key=envelope.key,
                position=position + index if position is not None else None,
                event_type=str(envelope.type),
                payload=envelope.model_dump_json().encode(),
                trace_context=trace_context,
            )
            for index, envelope in enumerate(envelopes)
        ]
        results = await asyncio.gather(
            *(self._inserts.insert(_document(r)) for r in records),
            return_exceptions=True,
        )
        for result in results:
            # A duplicate is the same event enqueued again (a retried request): it is there.
            if isinstance(result, BaseException) and not isinstance(result, DuplicateKeyError):
                raise result
        if self._relay is not None:
            self._relay.wake()

    async def close(self) -> None:
        await self._inserts.close()


class OutboxRelay:
    """Publishes pending outbox records to Kafka, in order per key, once per record."""

    def __init__(
        self,
        database: AsyncDatabase[Any],
        kafka: KafkaConnection | str,
        *,
        client_id: str,
        topics: list[str],
        partitions: int | None = None,  # the connection's own unless given
        batch_size: int = 1000,
        poll_interval: float = 0.5,
        gap_grace: float = 2.0,
        lease_seconds: float = 4.0,  # a crashed holder delays publishing by at most ~1.5 slots
        lease_name: str = "relay",
        tracked_keys: int = 100_000,
        tracer: trace.Tracer | None = None,  # a producer span per record enqueued in a trace
    ) -> None:
        self._outbox = database[OUTBOX]
        self._leases = database[LEASES]
        self._unreadable = database[UNREADABLE]
        self._kafka = kafka
        self._client_id = client_id
        self._topics = topics
        self._partitions = partitions
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._gap_grace = gap_grace
        self._lease_seconds = lease_seconds
        self._lease_name = lease_name
        self._holder = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._slots: set[int] = set()  # lease slots this replica holds
        # The next position expected per key. In memory: records are deleted once published,
        # so a relay that takes over starts each key at the lowest position it sees.
        self._expected: OrderedDict[str, int] = OrderedDict()
        self._tracked_keys = tracked_keys
        self._tracer = tracer or trace.NoOpTracer()
        self._first_seen: dict[str, float] = {}  # record id -> when a gap first held it back
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self.connected = False

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop publishing, bounded: a shutdown never waits on a slow store or broker (what
        was not acknowledged stays in the outbox and goes out after the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(STOP_SECONDS):
                    await self._task
        await self._disconnect()
        await self._release_lease()

    async def _release_lease(self) -> None:
        slots, self._slots = self._slots, set()
        for slot in slots:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STOP_SECONDS):
                    await self._leases.delete_one({"_id": self._slot_id(slot)})

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is None:
            await ensure_topics(self._kafka, self._topics, partitions=self._partitions)
            producer = make_producer(self._kafka, client_id=self._client_id)
            await producer.start()
            self._producer = producer
            self.connected = True
            log.info("outbox relay connected to Kafka")
        return self._producer

    async def _disconnect(self) -> None:
        producer, self._producer = self._producer, None
        self.connected = False
        if producer is not None:
            # Bounded: a producer still retrying (e.g. during a leader election) must not hold
            # up a shutdown; unacknowledged records stay unpublished and go out later.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await producer.stop()

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
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` can swallow a
            # cancellation that lands as the event fires, and `stop()` would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()
            self._wake.clear()

    def _slot_id(self, slot: int) -> str:
        return f"{self._lease_name}:{slot}"

    async def _claim(self, slot: int) -> bool:
        try:
            await self._leases.insert_one(
                {"_id": self._slot_id(slot), "holder": self._holder, "at": _now()}
            )
        except DuplicateKeyError:
            return False
        self._slots.add(slot)
        return True

    async def _hold_lease(self) -> bool:
        """Whether this replica holds the current slot (claiming it, or the next, as due)."""
        now = time.time()
        slot = int(now // self._lease_seconds)
        if slot not in self._slots and not await self._claim(slot):
            return False
        # The holder claims the next slot half-way through, before anyone else may.
        if now % self._lease_seconds >= self._lease_seconds / 2 and slot + 1 not in self._slots:
            await self._claim(slot + 1)
        for old in [s for s in self._slots if s < slot]:
            self._slots.discard(old)
            with contextlib.suppress(Exception):
                await self._leases.delete_one({"_id": self._slot_id(old)})
        return True

    async def relay_once(self) -> int:
        """Publish what is publishable now; returns how many records were published."""
        # No filter and no sort: storage order, the whole query pushed down to the engine.
        cursor = self._outbox.find({}).limit(self._batch_size)
        records = [record async for raw in cursor if (record := await self._readable(raw))]
        OUTBOX_PENDING.set(len(records))
        if not records:
            return 0
        ready = self._in_order(records)
        if not ready:
            return 0
        producer = await self._connect()
        # Sent in order, acknowledged together: the idempotent producer keeps one key's
        # records in order within its partition, and the batch is deleted only once all are in.
        acknowledgements = [await self._send(producer, record) for record in ready]
        await asyncio.gather(*acknowledgements)
        await self._outbox.delete_many({"_id": {"$in": [record.id for record in ready]}})
        now = _now()
        for record in ready:
            self._first_seen.pop(record.id, None)
            OUTBOX_PUBLISHED.labels(record.topic).inc()
            OUTBOX_LAG.observe(max(0.0, (now - _aware(record.created_at)).total_seconds()))
        return len(ready)

    async def _readable(self, raw: dict[str, Any]) -> OutboxRecord | None:
        """The record as the relay publishes it. A record of the format before v1.1 (the
        envelope as a document, left pending across an upgrade) is converted, so an upgrade
        loses no event; one that is neither is moved to `outbox_unreadable` with the error
        and skipped, so a single bad record can never stall every event behind it."""
        try:
            return OutboxRecord.model_validate(raw)
        except ValidationError as exc:
            error = str(exc)
        if isinstance(raw.get("envelope"), dict):
            try:
                envelope = EventEnvelope.model_validate(raw["envelope"])
                return OutboxRecord.model_validate(
                    raw
                    | {
                        "event_type": str(envelope.type),
                        "payload": envelope.model_dump_json().encode(),
                    }
                )
            except ValidationError as exc:
                error = str(exc)
        OUTBOX_UNREADABLE.inc()
        log.error(
            "unreadable outbox record moved aside", record_id=str(raw.get("_id")), error=error[:500]
        )
        with contextlib.suppress(DuplicateKeyError):
            await self._unreadable.insert_one(raw | {"error": error[:2000], "moved_at": _now()})
        await self._outbox.delete_one({"_id": raw["_id"]})
        return None

    async def _send(self, producer: AIOKafkaProducer, record: OutboxRecord) -> Any:
        """Hand one record to the producer; the returned future resolves on acknowledgement.
        A record enqueued in a trace goes out with its context as headers, under a producer
        span that ends on the acknowledgement."""
        span, carrier = start_producer_span(
            self._tracer,
            record.trace_context,
            f"publish {record.topic}",
            **{
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": record.topic,
                "messaging.message.id": record.id,
                "parley.event_type": record.event_type,
            },
        )
        try:
            acknowledgement = await producer.send(
                record.topic,
                value=record.payload,
                key=record.key.encode(),
                headers=[
                    ("content-type", b"application/json"),
                    ("event_type", record.event_type.encode()),
                    ("event_id", record.id.encode()),
                    *context_headers(carrier),
                ],
            )
        except BaseException as exc:
            _end(span, exc)
            raise
        if span.is_recording():
            acknowledgement.add_done_callback(
                lambda done: _end(span, None if done.cancelled() else done.exception())
            )
        return acknowledgement

    def _in_order(self, records: list[OutboxRecord]) -> list[OutboxRecord]:
        """The records that may go now, in publishing order.

        Per key, unpositioned records go in storage order; positioned ones (message seqs) go
        in position order: a record ahead of the next expected position waits, and holds back
        the key's later records, until the missing positions are enqueued or `gap_grace` has
        passed (their writer died). A record that arrives after its gap was skipped is still
        published (late, never lost).
        """
        by_key: dict[str, list[OutboxRecord]] = defaultdict(list)
        for record in records:
            by_key[record.key].append(record)
        ready: list[OutboxRecord] = []
        now = time.monotonic()
        for key, batch in by_key.items():
            positioned = sorted(
                (r for r in batch if r.position is not None), key=lambda r: r.position or 0
            )
            expected = self._expected.get(key)
            if expected is None and positioned:
                expected = positioned[0].position or 0
            blocked = False
            for record in positioned:
                position = record.position or 0
                if expected is not None and position > expected:
                    held_since = self._first_seen.setdefault(record.id, now)
                    if now - held_since <= self._gap_grace:
                        blocked = True
                        break  # wait for the missing positions; hold back this key
                ready.append(record)
                expected = max(expected or 0, position + 1)
            if expected is not None:
                self._expected[key] = expected
                self._expected.move_to_end(key)
            if not blocked:  # unpositioned events of a held-back key wait with it
                ready.extend(r for r in batch if r.position is None)
        while len(self._expected) > self._tracked_keys:
            self._expected.popitem(last=False)
        if len(self._first_seen) > self._tracked_keys:  # published meanwhile by another replica
            self._first_seen.clear()
        return ready


def _end(span: trace.Span, error: BaseException | None) -> None:
    if error is not None:
        span.record_exception(error)
        span.set_status(StatusCode.ERROR, type(error).__name__)
    span.end()


def _document(record: OutboxRecord) -> dict[str, Any]:
    document = record.model_dump(by_alias=True)
    document["payload"] = Binary(record.payload)
    if record.trace_context is None:
        del document["trace_context"]  # untraced records stay as they were
    return document


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
