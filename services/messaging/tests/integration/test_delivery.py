"""Events reach Kafka exactly once and in seq order, even when Kafka or Redis is down."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from asgi_lifespan import LifespanManager
from messaging_factories import make_group, make_tenant, send
from messaging_suite import Suite, messaging_settings

from parley_contracts.events import EventEnvelope
from parley_contracts.topics import MESSAGES, EventType, prefixed
from parley_kit.kafka import ensure_topics
from parley_kit.testing.stack import Isolation, StackUrls
from parley_messaging.main import create_app
from parley_messaging.settings import MessagingSettings

pytestmark = pytest.mark.integration


async def created_events(settings: MessagingSettings, key: str, count: int) -> list[EventEnvelope]:
    """Read `count` message.created events of `key` from the start of the topic."""
    topic = prefixed(settings.topic_prefix, MESSAGES)
    # The relay creates the topic when it first connects, which may not have happened yet.
    await ensure_topics(settings.kafka_bootstrap, [topic], partitions=settings.kafka_partitions)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    found: list[EventEnvelope] = []
    try:
        async with asyncio.timeout(60):
            while len(found) < count:
                record = await consumer.getone()
                assert record.value is not None
                envelope = EventEnvelope.model_validate_json(record.value)
                if envelope.key == key and envelope.type is EventType.MESSAGE_CREATED:
                    found.append(envelope)
        extra = await consumer.getmany(timeout_ms=1500)
        for records in extra.values():
            for record in records:
                assert record.value is not None
                envelope = EventEnvelope.model_validate_json(record.value)
                if envelope.key == key and envelope.type is EventType.MESSAGE_CREATED:
                    found.append(envelope)
    finally:
        await consumer.stop()
    return found


async def test_fifty_concurrent_sends_reach_kafka_once_each_in_seq_order(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)

    responses = await asyncio.gather(
        *(send(suite.messaging, (owner, ann)[i % 2], conversation, f"m{i}") for i in range(50))
    )
    events = await created_events(suite.settings, conversation, 50)

    assert sorted(r.json()["seq"] for r in responses) == list(range(1, 51))
    assert [e.message().seq for e in events] == list(range(1, 51))
    assert len({e.event_id for e in events}) == 50


@pytest.fixture
async def kafka_down(
    stack_urls: StackUrls, isolation: Isolation, auth_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, MessagingSettings]]:
    """Messaging whose Kafka is unreachable (nothing listens on its bootstrap port)."""
    settings = messaging_settings(stack_urls, isolation, auth_url, kafka_bootstrap="127.0.0.1:1")
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as client,
    ):
        yield client, settings


async def test_sends_succeed_while_kafka_is_down_and_every_event_arrives_after(
    kafka_down: tuple[httpx.AsyncClient, MessagingSettings],
    stack_urls: StackUrls,
    isolation: Isolation,
    auth_url: str,
) -> None:
    messaging, down_settings = kafka_down
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        owner, ann = await make_tenant(auth, "ann")
    conversation = await make_group(messaging, owner, ann)
    statuses = [
        (await send(messaging, owner, conversation, f"m{i}")).status_code for i in range(10)
    ]
    assert statuses == [201] * 10

    # Kafka "comes back": the same service data, now with a reachable broker.
    settings = messaging_settings(stack_urls, isolation, auth_url)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
        events = await created_events(settings, conversation, 10)

    assert down_settings.mongo_db == settings.mongo_db
    assert [e.message().seq for e in events] == list(range(1, 11))


async def test_with_redis_down_calls_answer_503_and_nothing_is_half_written(
    stack_urls: StackUrls, isolation: Isolation, auth_url: str, suite: Suite
) -> None:
    # Redis allocates seqs and holds the projections: without it a send cannot be both fast
    # and gap-free, so it is refused cleanly (503 + Retry-After), never a 500 or a wrong seq.
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)
    await send(suite.messaging, owner, conversation, "before the outage")
    settings = messaging_settings(
        stack_urls, isolation, auth_url, redis_url="redis://127.0.0.1:1/0"
    )
    app = create_app(settings)
    path = f"/v1/conversations/{conversation}/messages"
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as cut_off,
    ):
        sent = await cut_off.post(path, json={"content": "lost?"}, headers=owner.headers)
        history = await cut_off.get(path, headers=ann.headers)
        metrics = (await cut_off.get("/metrics")).text
    after = await suite.messaging.get(path, headers=ann.headers)
    again = await send(suite.messaging, owner, conversation, "after the outage")

    for response in (sent, history):
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert int(response.headers["retry-after"]) >= 1
    assert [m["content"] for m in after.json()["items"]] == ["before the outage"]
    assert again.json()["seq"] == 2
    assert 'parley_redis_failures_total{operation="member_of",service="messaging"}' in metrics
