"""The group commit and the outbox on the real engines."""

import asyncio
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import DuplicateKeyError

from parley_contracts.events import EventEnvelope, new_event
from parley_contracts.resources import Tenant
from parley_contracts.topics import USERS, EventType, prefixed
from parley_kit.group_commit import GroupCommit
from parley_kit.kafka import ensure_topics
from parley_kit.outbox import OUTBOX, UNREADABLE, Outbox, OutboxRelay
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration


class InsertCount(monitoring.CommandListener):
    def __init__(self) -> None:
        self.inserts = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            self.inserts += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def tenant_event(index: int, key: str) -> EventEnvelope:
    tenant = Tenant.model_validate(
        {
            "id": f"tenant-{index}",
            "name": f"Tenant {index}",
            "slug": f"t{index}",
            "signup_policy": "open",
            "created_at": "2026-11-28T10:00:00Z",
        }
    )
    return new_event(
        EventType.TENANT_CREATED, tenant_id=tenant.id, key=key, data=tenant, event_id=f"e-{index}"
    )


async def test_concurrent_inserts_leave_in_batches_and_a_duplicate_fails_alone(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    counter = InsertCount()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        stack_urls.mongo_url, event_listeners=[counter]
    )
    try:
        collection = client[isolation.mongo_db]["things"]
        commit = GroupCommit(collection)
        documents = [{"_id": f"thing-{i}"} for i in range(200)] + [{"_id": "thing-7"}] * 5
        results = await asyncio.gather(
            *(commit.insert(dict(d)) for d in documents), return_exceptions=True
        )
        stored = await collection.count_documents({})
    finally:
        await client.drop_database(isolation.mongo_db)
        await client.close()

    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 5
    assert all(isinstance(f, DuplicateKeyError) for f in failures)
    assert stored == 200
    assert counter.inserts < len(documents) / 4  # coalesced, not one statement each


async def consume(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        value_deserializer=lambda raw: EventEnvelope.model_validate_json(raw).model_dump(),
    )
    await consumer.start()
    received: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            while len(received) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    received += [r.value for r in records]
        await asyncio.sleep(1)  # anything extra (a duplicate) would arrive now
        for records in (await consumer.getmany(timeout_ms=500)).values():
            received += [r.value for r in records]
    finally:
        await consumer.stop()
    return received


async def test_two_relays_publish_each_event_once_in_position_order_and_empty_the_outbox(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack_urls.mongo_url)
    database = client[isolation.mongo_db]
    topic = prefixed(isolation.topic_prefix, USERS)
    await ensure_topics(stack_urls.kafka_bootstrap, [topic], partitions=2)
    relays = [
        OutboxRelay(
            database,
            stack_urls.kafka_bootstrap,
            client_id=f"relay-{n}",
            topics=[topic],
            partitions=2,
            poll_interval=0.05,
            lease_seconds=1.0,
        )
        for n in range(2)
    ]
    outbox = Outbox(database, isolation.topic_prefix, relays[0])
    try:
        # Positions enqueued out of order (as concurrent writers would): 2 before 1, etc.
        order = [2, 1, 4, 3, 6, 5, 8, 7, 10, 9]
        for position in order:
            await outbox.enqueue(tenant_event(position, "key-a"), position=position)
            await outbox.enqueue(tenant_event(100 + position, "key-b"), position=position)
        await outbox.enqueue(tenant_event(1, "key-a"), position=1)  # a retried enqueue: a no-op
        for relay in relays:
            await relay.start()
        received = await consume(stack_urls.kafka_bootstrap, topic, 20)
        remaining = await database[OUTBOX].count_documents({})
    finally:
        for relay in relays:
            await relay.stop()
        await client.drop_database(isolation.mongo_db)
        await client.close()

    ids = Counter(e["event_id"] for e in received)
    assert len(ids) == 20
    assert max(ids.values()) == 1
    for key, offset in (("key-a", 0), ("key-b", 100)):
        seen = [int(e["event_id"].split("-")[1]) - offset for e in received if e["key"] == key]
        assert seen == list(range(1, 11))
    assert remaining == 0


async def test_a_record_of_the_old_format_is_published_and_a_bad_one_moved_aside(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    """An outbox left with records across an upgrade, and one record nobody can read: neither
    stalls the events behind them, and the old-format event still reaches Kafka."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack_urls.mongo_url)
    database = client[isolation.mongo_db]
    topic = prefixed(isolation.topic_prefix, USERS)
    await ensure_topics(stack_urls.kafka_bootstrap, [topic], partitions=1)
    relay = OutboxRelay(
        database, stack_urls.kafka_bootstrap, client_id="relay", topics=[topic], poll_interval=0.05
    )
    outbox = Outbox(database, isolation.topic_prefix, relay)
    old = tenant_event(1, "key-a")
    try:
        # Before v1.1 a record held the envelope as a document, with no event_type or payload.
        await database[OUTBOX].insert_one(
            {"_id": old.event_id, "topic": topic, "key": "key-a", "position": None}
            | {"envelope": old.model_dump(), "created_at": old.occurred_at}
        )
        await database[OUTBOX].insert_one({"_id": "garbage", "topic": topic, "key": "key-a"})
        await outbox.enqueue(tenant_event(2, "key-a"))
        await relay.start()
        received = await consume(stack_urls.kafka_bootstrap, topic, 2)
        remaining = await database[OUTBOX].count_documents({})
        moved = await database[UNREADABLE].find_one({"_id": "garbage"})
    finally:
        await relay.stop()
        await client.drop_database(isolation.mongo_db)
        await client.close()

    assert sorted(e["event_id"] for e in received) == ["e-1", "e-2"]
    assert EventEnvelope.model_validate(received[0]).type is EventType.TENANT_CREATED
    assert remaining == 0
    assert moved is not None
    assert "event_type" in moved["error"]
