"""A service's consumers start once Kafka answers, however long that takes: topics created,
the broker started, after as many failed attempts as it needs."""

import asyncio
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from parley_contracts.topics import USERS, prefixed
from parley_kit.kafka import start_consuming
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration


class BrokerUnavailableTwice:
    """Stands in for a FastStream broker whose first two starts find no Kafka."""

    def __init__(self) -> None:
        self.attempts = 0
        self.started = False

    async def start(self) -> None:
        self.attempts += 1
        if self.attempts <= 2:
            raise ConnectionError("no broker answered")
        self.started = True


async def test_consumers_start_after_kafka_refused_them_twice(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    topic = prefixed(isolation.topic_prefix, USERS)
    broker: Any = BrokerUnavailableTwice()
    await asyncio.wait_for(
        start_consuming(broker, stack_urls.kafka_bootstrap, [topic], name="test consumers"),
        timeout=30,
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_urls.kafka_bootstrap)
    await admin.start()
    try:
        topics = await admin.list_topics()
    finally:
        await admin.close()

    assert broker.started
    assert broker.attempts == 3
    assert topic in topics
