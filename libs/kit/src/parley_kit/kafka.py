"""Kafka plumbing: topic creation at service startup (the broker never auto-creates topics)
and the producer the outbox relays with."""

from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from parley_kit.logs import get_logger

log = get_logger(__name__)


async def ensure_topics(
    bootstrap: str, topics: Iterable[str], *, partitions: int = 6, replication: int = 1
) -> None:
    """Create the missing ones of `topics`; existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in dict.fromkeys(topics) if name not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [
                    NewTopic(name, num_partitions=partitions, replication_factor=replication)
                    for name in missing
                ]
            )
        except TopicAlreadyExistsError:
            pass  # another replica created it between our list and create
        log.info("created topics", topics=missing)
    finally:
        await admin.close()


def make_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    """The outbox relay's producer: acknowledged by all in-sync replicas, idempotent (a retry
    never duplicates nor reorders), and lingering a few milliseconds so a burst of events
    leaves in a few requests instead of one each."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=1024 * 1024,
    )
