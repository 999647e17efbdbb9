"""Every Kafka client a service builds authenticates with SASL (PLAIN and SCRAM-SHA-512), over
TLS too, from its settings: topic creation, the outbox producer and a FastStream consumer,
against a real broker with SASL listeners; a wrong password and an unknown CA are refused.

The shared stack's broker has no SASL listener and must not be restarted, so this starts a
small broker of its own (the stack's cached Kafka jars, its own ports and directory; about a
second and 350 MB)."""

import asyncio
import base64
import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError

from parley_kit.kafka import KafkaConnection, ensure_topics, make_producer
from parley_kit.settings import KafkaSaslMechanism
from parley_kit.testing.certificates import issued, self_signed
from parley_kit.testing.servers import free_port
from parley_kit.testing.stack import repo_root, wait_for

pytestmark = pytest.mark.integration

PLAIN_USER, PLAIN_PASSWORD = "parley-plain", "plain-secret"
SCRAM_USER, SCRAM_PASSWORD = "parley-scram", "scram-secret"


def kafka_libs() -> Path:
    return Path(os.environ.get("PARLEY_STACK_DIR", repo_root() / ".stack")) / "kafka" / "libs"


def broker_certificate(home: Path) -> tuple[Path, Path]:
    """A CA, and the broker's key and certificate (signed by it for 127.0.0.1) in one PEM file:
    Kafka's PEM keystore."""
    ca = self_signed(home, "parley-test-ca")
    certificate, key = issued(home, "broker", ca)
    keystore = home / "broker.pem"
    keystore.write_bytes(key.read_bytes() + certificate.read_bytes())
    return ca[0], keystore


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class SaslBroker:
    plaintext: str  # SASL_PLAINTEXT bootstrap
    tls: str  # SASL_SSL bootstrap, its certificate signed by `ca_file` for 127.0.0.1
    ca_file: str


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslBroker]:
    libs = kafka_libs()
    if not any(libs.glob("kafka_2.13-*.jar")):
        pytest.skip(f"no cached Kafka jars in {libs} (the local stack fetches them)")
    home = tmp_path_factory.mktemp("sasl-kafka")
    ca_file, keystore = broker_certificate(home)
    internal, client, tls, controller = free_port(), free_port(), free_port(), free_port()
    properties = home / "server.properties"
    properties.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=INTERNAL://127.0.0.1:{internal},SASL_PLAINTEXT://127.0.0.1:{client},"
                f"SASL_SSL://127.0.0.1:{tls},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=INTERNAL://127.0.0.1:{internal},"
                f"SASL_PLAINTEXT://127.0.0.1:{client},SASL_SSL://127.0.0.1:{tls}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=INTERNAL:PLAINTEXT,"
                "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=INTERNAL",
                "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                "org.apache.kafka.common.security.plain.PlainLoginModule required"
                f' user_{PLAIN_USER}="{PLAIN_PASSWORD}";',
                "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "listener.name.sasl_ssl.ssl.keystore.type=PEM",
                f"listener.name.sasl_ssl.ssl.keystore.location={keystore}",
                f"log.dirs={home / 'data'}",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "",
            ]
        )
    )
    log4j = home / "log4j.properties"
    log4j.write_text(
        "log4j.rootLogger=WARN, stdout\n"
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    )
    java = [
        "java",
        "-Xms256m",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",  # starts in about a second; this broker carries a few records
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={home}",
        f"-Dlog4j.configuration=file:{log4j}",
        "-cp",
        f"{libs}/*",
    ]
    cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    subprocess.run(
        [
            *java,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster,
            "-c",
            str(properties),
            "--add-scram",
            f"SCRAM-SHA-512=[name={SCRAM_USER},password={SCRAM_PASSWORD}]",
        ],
        check=True,
        capture_output=True,
    )
    with (home / "broker.log").open("wb") as log:
        broker = subprocess.Popen([*java, "kafka.Kafka", str(properties)], stdout=log, stderr=log)
    try:
        up = wait_for(lambda: listening(tls) or broker.poll() is not None, timeout=60)
        assert up, "the test broker did not listen within 60 s"
        assert broker.poll() is None, (home / "broker.log").read_text()[-2000:]
        yield SaslBroker(f"127.0.0.1:{client}", f"127.0.0.1:{tls}", str(ca_file))
    finally:
        broker.terminate()
        try:
            broker.wait(20)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait(10)


@pytest.mark.parametrize(
    ("mechanism", "username", "password"),
    [("PLAIN", PLAIN_USER, PLAIN_PASSWORD), ("SCRAM-SHA-512", SCRAM_USER, SCRAM_PASSWORD)],
)
async def test_topics_producer_and_consumer_authenticate(
    sasl_broker: SaslBroker, mechanism: KafkaSaslMechanism, username: str, password: str
) -> None:
    await round_trip(
        KafkaConnection(
            sasl_broker.plaintext,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=mechanism,
            username=username,
            password=password,
            partitions=1,
        )
    )


async def test_sasl_over_tls_verifies_the_brokers_certificate(sasl_broker: SaslBroker) -> None:
    await round_trip(
        KafkaConnection(
            sasl_broker.tls,
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            username=SCRAM_USER,
            password=SCRAM_PASSWORD,
            ca_file=sasl_broker.ca_file,
            partitions=1,
        )
    )


async def test_a_broker_certificate_from_an_unknown_ca_is_refused(
    sasl_broker: SaslBroker,
) -> None:
    kafka = KafkaConnection(
        sasl_broker.tls,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username=SCRAM_USER,
        password=SCRAM_PASSWORD,  # right, but never sent: the system CAs do not know the broker
    )
    with pytest.raises(KafkaConnectionError):
        await ensure_topics(kafka, ["never-created"])


async def round_trip(kafka: KafkaConnection) -> None:
    """A topic created, a record produced by the outbox's producer and consumed by a FastStream
    subscriber, all through `kafka`."""
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, [topic])

    received: asyncio.Queue[bytes] = asyncio.Queue()
    broker = kafka.broker(client_id="parley-test")

    async def on_record(body: bytes) -> None:
        await received.put(body)

    broker.subscriber(topic, group_id=f"{topic}-group", auto_offset_reset="earliest")(on_record)
    producer = make_producer(kafka, client_id="parley-test")
    await broker.start()
    await producer.start()
    try:
        await (await producer.send(topic, b"authenticated"))
        assert await asyncio.wait_for(received.get(), 30) == b"authenticated"
    finally:
        await producer.stop()
        with contextlib.suppress(Exception):
            await broker.stop()


async def test_a_wrong_password_is_refused(sasl_broker: SaslBroker) -> None:
    kafka = KafkaConnection(
        sasl_broker.plaintext,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        username=SCRAM_USER,
        password="not-the-password",
    )
    with pytest.raises(KafkaConnectionError):
        await ensure_topics(kafka, ["never-created"])
