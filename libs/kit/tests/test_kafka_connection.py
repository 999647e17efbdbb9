"""Every Kafka client of a service (outbox producer, admin client, FastStream brokers) takes its
TLS and SASL options from one place, `KafkaConnection.of(settings)`."""

import ssl
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from parley_kit.kafka import KafkaConnection, make_producer
from parley_kit.settings import ServiceSettings
from parley_kit.testing.certificates import self_signed


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_EXAMPLE_", extra="ignore", frozen=True)


def test_local_kafka_is_plaintext_without_credentials() -> None:
    kafka = KafkaConnection.of(ExampleSettings())
    assert kafka.client_options() == {"bootstrap_servers": "127.0.0.1:9092"}
    assert kafka.security() is None
    assert (kafka.partitions, kafka.replication_factor, kafka.min_insync_replicas) == (6, 1, 1)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_over_tls_options_from_the_service_environment(
    mechanism: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, _ = self_signed(tmp_path, "brokers-ca")
    for name, value in {
        "KAFKA_BOOTSTRAP": "kafka-0.internal:9093",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": mechanism,
        "KAFKA_USERNAME": "parley-example",
        "KAFKA_PASSWORD": "s3cret-from-a-secret",
        "KAFKA_CA_FILE": str(ca),
    }.items():
        monkeypatch.setenv(f"PARLEY_EXAMPLE_{name}", value)

    options = KafkaConnection.of(ExampleSettings()).client_options()

    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": "kafka-0.internal:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "parley-example",
        "sasl_plain_password": "s3cret-from-a-secret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "brokers-ca"),),)]


def test_sasl_without_tls_has_no_ssl_context() -> None:
    kafka = KafkaConnection(
        "127.0.0.1:9094",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        username="u",
        password="p",
    )
    options = kafka.client_options()
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["ssl_context"] is None
    assert options["sasl_mechanism"] == "PLAIN"


def test_mutual_tls_loads_the_client_certificate(tmp_path: Path) -> None:
    ca, _ = self_signed(tmp_path, "brokers-ca")
    cert, key = self_signed(tmp_path, "parley-client")
    kafka = KafkaConnection(
        "k:9093", security_protocol="SSL", ca_file=str(ca), cert_file=str(cert), key_file=str(key)
    )
    options = kafka.client_options()
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    # A key that does not belong to the certificate is refused when the context is built.
    _, other_key = self_signed(tmp_path, "someone-else")
    mismatched = KafkaConnection(
        "k:9093", security_protocol="SSL", cert_file=str(cert), key_file=str(other_key)
    )
    with pytest.raises(ssl.SSLError):
        mismatched.ssl_context()


async def test_producer_and_broker_take_the_same_options(tmp_path: Path) -> None:
    ca, _ = self_signed(tmp_path, "brokers-ca")
    kafka = KafkaConnection(
        "k:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username="u",
        password="p",
        ca_file=str(ca),
    )
    producer = make_producer(kafka, client_id="parley-example")
    client = producer.client
    assert client._security_protocol == "SASL_SSL"
    assert client._sasl_mechanism == "SCRAM-SHA-512"
    assert client._sasl_plain_username == "u"
    assert isinstance(client._ssl_context, ssl.SSLContext)

    consumer_options = kafka.broker(client_id="parley-example").config.broker_config.builder
    assert consumer_options.keywords["security_protocol"] == "SASL_SSL"
    assert consumer_options.keywords["sasl_mechanism"] == "SCRAM-SHA-512"
    assert consumer_options.keywords["sasl_plain_password"] == "p"
    assert isinstance(consumer_options.keywords["ssl_context"], ssl.SSLContext)


def test_topics_are_created_with_the_configured_durability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_EXAMPLE_KAFKA_PARTITIONS", "12")
    monkeypatch.setenv("PARLEY_EXAMPLE_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("PARLEY_EXAMPLE_KAFKA_MIN_INSYNC_REPLICAS", "2")
    topic = KafkaConnection.of(ExampleSettings()).new_topic("parley.messages.v1")
    assert (topic.num_partitions, topic.replication_factor) == (12, 3)
    assert topic.topic_configs == {"min.insync.replicas": "2"}
