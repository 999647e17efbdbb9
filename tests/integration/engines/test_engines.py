"""Each engine of the stack round-trips real data over the network."""

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from beanie import Document
from faststream.kafka import KafkaBroker
from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError
from redis.asyncio import Redis

from parley_kit.migrations import create_index
from parley_kit.mongo import connect_mongo
from parley_kit.testing.stack import Isolation, StackUrls, search_engine

pytestmark = pytest.mark.integration


class Greeting(BaseModel):
    text: str


async def test_kafka_round_trips_a_record_through_faststream(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    topic = f"{isolation.topic_prefix}greetings"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_urls.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    received: asyncio.Queue[Greeting] = asyncio.Queue()
    broker = KafkaBroker(stack_urls.kafka_bootstrap)

    @broker.subscriber(topic, group_id=f"{isolation.name}-g", auto_offset_reset="earliest")
    async def on_greeting(greeting: Greeting) -> None:
        await received.put(greeting)

    async with broker:
        await broker.start()
        await broker.publish(Greeting(text="hello kafka"), topic=topic, key=b"k1")
        got = await asyncio.wait_for(received.get(), 30)

    assert got == Greeting(text="hello kafka")


def search_client(url: str) -> Any:
    """The async client of the engine at `url` (the local stack runs OpenSearch 2)."""
    if search_engine(url) == "opensearch":
        from opensearchpy import AsyncOpenSearch

        return AsyncOpenSearch(hosts=[url], timeout=30)
    from elasticsearch import AsyncElasticsearch

    return AsyncElasticsearch(url, request_timeout=30)


async def test_search_engine_indexes_and_finds_a_document(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    index = f"{isolation.index_prefix}docs"
    client = search_client(stack_urls.elasticsearch_url)
    try:
        info = await client.info()
        await client.indices.create(
            index=index,
            body={
                "settings": {
                    "number_of_shards": 1,
                    "number_of_replicas": 0,
                    # Explicit, or an idle shard skips refreshes and the first search waits.
                    "refresh_interval": "1s",
                },
                "mappings": {"properties": {"text": {"type": "text"}}},
            },
        )
        await client.index(index=index, id="1", body={"text": "deploy café"}, refresh=True)
        result = await client.search(index=index, body={"query": {"match": {"text": "café"}}})
    finally:
        await client.close()

    assert info["version"]["number"].split(".")[0] in {"2", "8"}
    assert [hit["_id"] for hit in result["hits"]["hits"]] == ["1"]


class Account(Document):
    tenant_id: str
    email: str

    class Settings:
        name = "accounts"


async def test_ferretdb_stores_beanie_documents_and_enforces_unique_indexes(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    client = await connect_mongo(stack_urls.mongo_url, isolation.mongo_db, [Account])
    try:
        await create_index("accounts", [("tenant_id", 1), ("email", 1)], unique=True)(
            client[isolation.mongo_db]
        )
        await Account(tenant_id="t1", email="ada@example.com").insert()
        found = await Account.find_one({"tenant_id": "t1", "email": "ada@example.com"})
        with pytest.raises(DuplicateKeyError):
            await Account(tenant_id="t1", email="ada@example.com").insert()
        await Account(tenant_id="t2", email="ada@example.com").insert()
        count = await Account.find({"email": "ada@example.com"}).count()
    finally:
        await client.close()

    assert found is not None
    assert found.email == "ada@example.com"
    assert count == 2


async def test_redis_sets_and_expires_keys(stack_urls: StackUrls, isolation: Isolation) -> None:
    redis: Redis = Redis.from_url(stack_urls.redis_url)
    key = f"{isolation.redis_prefix}{uuid.uuid4().hex}"
    try:
        await redis.set(key, b"value", px=300)
        value: Any = await redis.get(key)
        ttl = await redis.pttl(key)
        await asyncio.sleep(0.5)
        expired: Any = await redis.get(key)
    finally:
        await redis.aclose()

    assert value == b"value"
    assert 0 < ttl <= 300
    assert expired is None
