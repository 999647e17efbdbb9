"""Kafka plumbing: topic creation at service startup (the broker never auto-creates topics)
and the FastStream broker every producer and consumer is built from."""

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

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


def make_broker(bootstrap: str, *, client_id: str) -> KafkaBroker:
    """A broker whose producer waits for all in-sync replicas and never reorders on retry."""
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        logger=None,
    )
