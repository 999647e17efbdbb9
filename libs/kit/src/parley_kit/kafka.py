"""Kafka plumbing: how every client of a service reaches the brokers (TLS, SASL), topic
creation at service startup (the broker never auto-creates topics) and the producer the
outbox relays with.

`KafkaConnection.of(settings)` is the one place a service's Kafka settings become client
options: the aiokafka producer and admin client take `client_options()`, FastStream brokers
are built by `broker()` from the same values through FastStream's own security classes.
"""

import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from parley_kit.logs import get_logger
from parley_kit.settings import KafkaSaslMechanism, KafkaSecurityProtocol, ServiceSettings
from parley_kit.tracing import Tracing

log = get_logger(__name__)

_SASL: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are, how to authenticate to them, and how topics are created."""

    bootstrap: str
    security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    sasl_mechanism: KafkaSaslMechanism = "SCRAM-SHA-512"
    username: str = ""
    password: str = field(default="", repr=False)
    partitions: int = 6
    replication_factor: int = 1
    min_insync_replicas: int = 1

    @classmethod
    def of(cls, settings: ServiceSettings) -> "KafkaConnection":
        return cls(
            bootstrap=settings.kafka_bootstrap,
            security_protocol=settings.kafka_security_protocol,
            ca_file=settings.kafka_ca_file,
            cert_file=settings.kafka_cert_file,
            key_file=settings.kafka_key_file,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_username,
            password=settings.kafka_password.get_secret_value(),
            partitions=settings.kafka_partitions,
            replication_factor=settings.kafka_replication_factor,
            min_insync_replicas=settings.kafka_min_insync_replicas,
        )

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifying the brokers' certificates and host names (against `ca_file`, or the
        system's CAs without one), presenting a client certificate when one is given."""
        if not self.uses_tls:
            return None
        context: ssl.SSLContext = create_ssl_context(
            cafile=self.ca_file, certfile=self.cert_file, keyfile=self.key_file
        )
        return context

    def security(self) -> BaseSecurity | None:
        """The FastStream security of a broker; None for plain local Kafka."""
        if self.security_protocol == "PLAINTEXT":
            return None
        context = self.ssl_context()
        if self.security_protocol == "SSL":
            return BaseSecurity(ssl_context=context, use_ssl=True)
        return _SASL[self.sasl_mechanism](
            self.username, self.password, ssl_context=context, use_ssl=self.uses_tls
        )

    def client_options(self) -> dict[str, Any]:
        """aiokafka keyword arguments (producer, consumer, admin client): the same mapping
        FastStream applies to its own clients, so every client connects alike."""
        return {"bootstrap_servers": self.bootstrap, **parse_security(self.security())}

    def broker(self, *, client_id: str, tracing: Tracing | None = None) -> KafkaBroker:
        """A FastStream broker (subscribers of a service) connecting like every other client;
        with `tracing` on, each consumed record is a span under its producer's context."""
        return KafkaBroker(
            self.bootstrap,
            client_id=client_id,
            security=self.security(),
            logger=None,
            middlewares=tracing.broker_middlewares() if tracing is not None else (),
        )

    def new_topic(self, name: str, partitions: int | None = None) -> NewTopic:
        return NewTopic(
            name,
            num_partitions=partitions or self.partitions,
            replication_factor=self.replication_factor,
            topic_configs={"min.insync.replicas": str(self.min_insync_replicas)},
        )


def as_connection(kafka: "KafkaConnection | str") -> KafkaConnection:
    """A bare bootstrap address is plain local Kafka with default topic settings (tests)."""
    return kafka if isinstance(kafka, KafkaConnection) else KafkaConnection(bootstrap=kafka)


async def ensure_topics(
    kafka: KafkaConnection | str, topics: Iterable[str], *, partitions: int | None = None
) -> None:
    """Create the missing ones of `topics` (with the connection's partitions, replication
    factor and min.insync.replicas, or `partitions` when given); existing topics are left as
    they are."""
    connection = as_connection(kafka)
    admin = AIOKafkaAdminClient(**connection.client_options(), request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in dict.fromkeys(topics) if name not in existing]
        if not missing:
            return
        try:
            await admin.create_topics([connection.new_topic(name, partitions) for name in missing])
        except TopicAlreadyExistsError:
            pass  # another replica created it between our list and create
        log.info("created topics", topics=missing)
    finally:
        await admin.close()


async def start_consuming(
    broker: KafkaBroker,
    kafka: KafkaConnection | str,
    topics: list[str],
    *,
    name: str,
    max_delay: float = 10.0,
) -> None:
    """Create `topics` and start `broker`'s subscribers, retrying with a doubling pause (from
    0.5 s up to `max_delay`) for as long as Kafka cannot be reached: a service starts, and
    serves what it can, before Kafka is up."""

    def waiting(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else None
        log.warning(f"Kafka unavailable; {name} retrying", error=str(error), delay=delay)

    async for attempt in AsyncRetrying(
        wait=wait_exponential(multiplier=0.5, min=0.5, max=max_delay),
        retry=retry_if_exception_type(Exception),
        before_sleep=waiting,
    ):
        with attempt:
            await ensure_topics(kafka, topics)
            await broker.start()
    log.info(f"{name} started", topics=topics)


def make_producer(kafka: KafkaConnection | str, *, client_id: str) -> AIOKafkaProducer:
    """The outbox relay's producer: acknowledged by all in-sync replicas, idempotent (a retry
    never duplicates nor reorders), and lingering a few milliseconds so a burst of events
    leaves in a few requests instead of one each."""
    return AIOKafkaProducer(
        **as_connection(kafka).client_options(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=1024 * 1024,
    )
