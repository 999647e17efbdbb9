"""Search in-process against real Kafka and the real search engine."""

from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from asgi_lifespan import LifespanManager
from search_suite import MessagingDouble, SearchRig, search_settings

from parley_contracts.topics import MESSAGES, prefixed
from parley_kit.kafka import ensure_topics
from parley_kit.testing.servers import serving
from parley_kit.testing.stack import Isolation, StackUrls
from parley_search.main import create_app


@pytest.fixture
async def messaging_double() -> AsyncIterator[tuple[MessagingDouble, str]]:
    double = MessagingDouble()
    async with serving(double.app()) as url:  # type: ignore[arg-type]
        yield double, url


@pytest.fixture
async def rig(
    stack_urls: StackUrls, isolation: Isolation, messaging_double: tuple[MessagingDouble, str]
) -> AsyncIterator[SearchRig]:
    double, url = messaging_double
    settings = search_settings(stack_urls, isolation, url)
    await ensure_topics(
        settings.kafka_bootstrap, [prefixed(settings.topic_prefix, MESSAGES)], partitions=1
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    app = create_app(settings)
    try:
        async with (
            LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://search"
            ) as client,
        ):
            yield SearchRig(client, settings, double, url, producer)
    finally:
        await producer.stop()
