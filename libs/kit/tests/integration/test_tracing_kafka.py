"""Trace context through the outbox and Kafka on the real engines: the record keeps the
context of the write that enqueued it, the relay publishes it as record headers under a
producer span, and a FastStream consumer (one record or a batch) continues the trace."""

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pymongo import AsyncMongoClient

from parley_contracts.events import new_event
from parley_contracts.resources import Tenant
from parley_contracts.topics import USERS, EventType, prefixed
from parley_kit.kafka import KafkaConnection, ensure_topics, make_producer
from parley_kit.outbox import OUTBOX, Outbox, OutboxRelay
from parley_kit.testing.stack import Isolation, StackUrls, eventually
from parley_kit.tracing import Tracing

pytestmark = pytest.mark.integration


def recording(name: str) -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing = Tracing(name, processor=lambda: SimpleSpanProcessor(exporter))
    tracing.start()
    return tracing, exporter


def tenant_created(index: int) -> Any:
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
        EventType.TENANT_CREATED,
        tenant_id=tenant.id,
        key=tenant.id,
        data=tenant,
        event_id=f"e-{index}",
    )


def spans_of(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is kind]


async def test_the_outbox_keeps_the_writers_context_and_the_relay_publishes_it_as_headers(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    tracing, exporter = recording("parley-writer")
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack_urls.mongo_url)
    database = client[isolation.mongo_db]
    topic = prefixed(isolation.topic_prefix, USERS)
    await ensure_topics(stack_urls.kafka_bootstrap, [topic], partitions=1)
    relay = OutboxRelay(
        database,
        stack_urls.kafka_bootstrap,
        client_id="relay-traced",
        topics=[topic],
        partitions=1,
        poll_interval=0.05,
        tracer=tracing.tracer("parley_kit.outbox"),
    )
    outbox = Outbox(database, isolation.topic_prefix)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack_urls.kafka_bootstrap, auto_offset_reset="earliest"
    )
    try:
        with tracing.tracer("test").start_as_current_span("send message") as write:
            await outbox.enqueue(tenant_created(1))
        await outbox.enqueue(tenant_created(2))  # outside any trace
        stored = {d["_id"]: d async for d in database[OUTBOX].find({})}
        await relay.start()
        await consumer.start()
        records: list[Any] = []
        async with asyncio.timeout(60):
            while len(records) < 2:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records += batch
    finally:
        await consumer.stop()
        await relay.stop()
        await client.drop_database(isolation.mongo_db)
        await client.close()

    trace_id = f"{write.get_span_context().trace_id:032x}"
    assert stored["e-1"]["trace_context"]["traceparent"].split("-")[1] == trace_id
    assert "trace_context" not in stored["e-2"]
    headers = {dict(r.headers)["event_id"].decode(): dict(r.headers) for r in records}
    traced, untraced = headers["e-1"], headers["e-2"]
    assert "traceparent" not in untraced
    (producer,) = spans_of(exporter, SpanKind.PRODUCER)
    assert producer.name == f"publish {topic}"
    assert producer.parent is not None
    assert producer.parent.span_id == write.get_span_context().span_id
    _, header_trace, header_span, _ = traced["traceparent"].decode().split("-")
    assert header_trace == trace_id
    assert header_span == f"{producer.context.span_id:016x}"


def traceparent(trace_id: int, span_id: int) -> bytes:
    return f"00-{trace_id:032x}-{span_id:016x}-01".encode()


async def publish_with_contexts(bootstrap: str, topic: str, count: int) -> list[tuple[int, int]]:
    """`count` records as the relay sends them, each with the context of a trace of its own;
    returns each one's (trace id, parent span id)."""
    producer = make_producer(bootstrap, client_id="traced-producer")
    await producer.start()
    sent = [(0x1000 + index, 0x2000 + index) for index in range(count)]
    try:
        for index, (trace_id, span_id) in enumerate(sent):
            await producer.send_and_wait(
                topic,
                value=b"{}",
                key=b"one-key",
                headers=[
                    ("event_id", f"e-{index}".encode()),
                    ("event_type", b"message.created"),
                    ("traceparent", traceparent(trace_id, span_id)),
                ],
            )
    finally:
        await producer.stop()
    return sent


async def raw(message: Any) -> Any:
    return message.body


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
async def test_a_consumer_span_per_record_continues_its_producers_trace(
    stack_urls: StackUrls, isolation: Isolation, batch: bool
) -> None:
    tracing, exporter = recording("parley-consumer")
    topic = f"{isolation.topic_prefix}traced"
    kafka = KafkaConnection(bootstrap=stack_urls.kafka_bootstrap)
    await ensure_topics(kafka, [topic], partitions=1)
    sent = await publish_with_contexts(stack_urls.kafka_bootstrap, topic, 3)
    handled: list[Any] = []
    broker: KafkaBroker = kafka.broker(client_id="traced-consumer", tracing=tracing)

    async def handle(body: Any) -> None:
        handled.append(body)

    group_id = f"{isolation.name}-consumer"
    if batch:
        broker.subscriber(
            topic,
            group_id=group_id,
            auto_offset_reset="earliest",
            decoder=raw,
            batch=True,
            max_records=10,
            batch_timeout_ms=500,
        )(handle)
    else:
        broker.subscriber(topic, group_id=group_id, auto_offset_reset="earliest", decoder=raw)(
            handle
        )

    async def all_consumed() -> bool:
        return len(spans_of(exporter, SpanKind.CONSUMER)) >= 3

    await broker.start()
    try:
        assert await eventually(all_consumed, 60)
    finally:
        await broker.stop()

    consumed = spans_of(exporter, SpanKind.CONSUMER)
    assert len(consumed) == 3
    assert sorted(
        (span.context.trace_id, span.parent.span_id if span.parent else 0) for span in consumed
    ) == sorted(sent)
    assert {span.name for span in consumed} == {f"process {topic}"}
    assert all(
        ("messaging.batch.message_count" in (span.attributes or {})) is batch for span in consumed
    )
    assert sorted(str((span.attributes or {})["messaging.message.id"]) for span in consumed) == [
        "e-0",
        "e-1",
        "e-2",
    ]
