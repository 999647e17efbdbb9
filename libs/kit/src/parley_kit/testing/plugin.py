"""Pytest plugin (entry point `parley_stack`): `stack_urls` and `isolation` fixtures.

Importing this module connects to nothing; the engines are resolved the first time a test asks
for `stack_urls`, once per session.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from parley_kit.testing.stack import Isolation, StackUrls, resolve_stack


@pytest.fixture(scope="session")
def stack_urls() -> Iterator[StackUrls]:
    with resolve_stack() as urls:
        yield urls


async def drop_everything(urls: StackUrls, names: Isolation) -> None:
    """Best effort: a failed clean-up must not fail the test that used the names."""
    import httpx
    from aiokafka.admin import AIOKafkaAdminClient
    from pymongo import AsyncMongoClient
    from redis.asyncio import Redis

    with contextlib.suppress(Exception):
        mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            urls.mongo_url, serverSelectionTimeoutMS=2000
        )
        try:
            for database in await mongo.list_database_names():
                if database.startswith(names.mongo_db):
                    await mongo.drop_database(database)
        finally:
            await mongo.close()
    with contextlib.suppress(Exception):
        redis = Redis.from_url(urls.redis_url, socket_timeout=2)
        try:
            keys = [key async for key in redis.scan_iter(match=f"{names.redis_prefix}*", count=500)]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()
    with contextlib.suppress(Exception):
        async with httpx.AsyncClient(base_url=urls.elasticsearch_url, timeout=10) as http:
            # Named deletes: Elasticsearch 8 refuses wildcard deletes by default.
            listed = await http.get(
                f"/_cat/indices/{names.index_prefix}*", params={"format": "json"}
            )
            indices = [row["index"] for row in listed.json()]
            if indices:
                await http.delete("/" + ",".join(indices))
    with contextlib.suppress(Exception):
        admin = AIOKafkaAdminClient(bootstrap_servers=urls.kafka_bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            topics = [t for t in await admin.list_topics() if t.startswith(names.topic_prefix)]
            if topics:
                await admin.delete_topics(topics)
        finally:
            await admin.close()


@pytest.fixture
async def isolation(stack_urls: StackUrls) -> AsyncIterator[Isolation]:
    names = Isolation.new()
    yield names
    await asyncio.wait_for(drop_everything(stack_urls, names), 30)


@pytest.fixture(scope="session")
async def session_isolation(stack_urls: StackUrls) -> AsyncIterator[Isolation]:
    """Names for what a whole session shares (the e2e suite's processes), dropped at the end."""
    names = Isolation.new()
    yield names
    await asyncio.wait_for(drop_everything(stack_urls, names), 60)
