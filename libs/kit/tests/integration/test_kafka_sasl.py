"""Every Kafka client a service builds authenticates with SASL (PLAIN and SCRAM-SHA-512) from
its settings: topic creation, the outbox producer and a FastStream consumer, against a real
broker with a SASL listener, and a wrong password is refused.

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
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError

from parley_kit.kafka import KafkaConnection, ensure_topics, make_producer
from parley_kit.settings import KafkaSaslMechanism
from parley_kit.testing.servers import free_port
from parley_kit.testing.stack import repo_root, wait_for

pytestmark = pytest.mark.integration

PLAIN_USER, PLAIN_PASSWORD = "parley-plain", "plain-secret"
SCRAM_USER, SCRAM_PASSWORD = "parley-scram", "scram-secret"


def kafka_libs() -> Path:
    return Path(os.environ.get("PARLEY_STACK_DIR", repo_root() / ".stack")) / "kafka" / "libs"


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def sasl_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    libs = kafka_libs()
    if not any(libs.glob("kafka_2.13-*.jar")):
        pytest.skip(f"no cached Kafka jars in {libs} (the local stack fetches them)")
    home = tmp_path_factory.mktemp("sasl-kafka")
    internal, client, controller = free_port(), free_port(), free_port()
    properties = home / "server.properties"
    properties.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=INTERNAL://127.0.0.1:{internal},SASL_PLAINTEXT://127.0.0.1:{client},"
                f"CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=INTERNAL://127.0.0.1:{internal},"
                f"SASL_PLAINTEXT://127.0.0.1:{client}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=INTERNAL:PLAINTEXT,"
                "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=INTERNAL",
                "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                "org.apache.kafka.common.security.plain.PlainLoginModule required"
                f' user_{PLAIN_USER}="{PLAIN_PASSWORD}";',
                "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
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
    java = [
        "java",
        "-Xms256m",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",  # starts in about a second; this broker carries a few records
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={home}",
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
        assert wait_for(lambda: listening(client) or broker.poll() is not None, timeout=60)
        assert broker.poll() is None, (home / "broker.log").read_text()[-2000:]
        yield f"127.0.0.1:{client}"
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
    sasl_bootstrap: str, mechanism: KafkaSaslMechanism, username: str, password: str
) -> None:
    kafka = KafkaConnection(
        sasl_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        username=username,
        password=password,
        partitions=1,
    )
    topic = f"sasl-{mechanism.lower()}-{uuid.uuid4().hex[:8]}"
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


async def test_a_wrong_password_is_refused(sasl_bootstrap: str) -> None:
    kafka = KafkaConnection(
        sasl_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        username=SCRAM_USER,
        password="not-the-password",
    )
    with pytest.raises(KafkaConnectionError):
        await ensure_topics(kafka, ["never-created"])
