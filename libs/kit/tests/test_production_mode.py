"""Production mode refuses the local defaults of secrets, naming each variable to set."""

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from parley_kit.settings import ServiceSettings

STRONG = "x7Qp2mV9sL4tR8wZ1cB6nH3jK5dF0gYa"  # 32 characters, no placeholder


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_EXAMPLE_", extra="ignore", frozen=True)


def refusal(**values: object) -> str:
    with pytest.raises(ValidationError) as raised:
        ExampleSettings.model_validate({"environment": "production", **values})
    return str(raised.value)


def test_local_mode_starts_with_the_local_defaults() -> None:
    assert ExampleSettings().environment == "local"
    assert ExampleSettings().local_defaults() != []  # what production would refuse


def test_production_refuses_the_default_internal_secret() -> None:
    message = refusal()
    assert "production mode refuses to start" in message
    assert "PARLEY_EXAMPLE_INTERNAL_SECRET is a placeholder or local default" in message


def test_production_refuses_the_env_file_placeholder_and_short_secrets() -> None:
    placeholder = "change-me-to-a-long-random-value-shared-by-every-service"
    assert "PARLEY_EXAMPLE_INTERNAL_SECRET is a placeholder" in refusal(internal_secret=placeholder)
    assert "PARLEY_EXAMPLE_INTERNAL_SECRET has 6 characters" in refusal(internal_secret="secret")


def test_production_refuses_sasl_without_credentials_or_with_a_placeholder_password() -> None:
    message = refusal(internal_secret=STRONG, kafka_security_protocol="SASL_SSL")
    assert "PARLEY_EXAMPLE_KAFKA_USERNAME and PARLEY_EXAMPLE_KAFKA_PASSWORD are required" in message
    message = refusal(
        internal_secret=STRONG,
        kafka_security_protocol="SASL_SSL",
        kafka_username="parley",
        kafka_password="change-me",
    )
    assert "PARLEY_EXAMPLE_KAFKA_PASSWORD is a placeholder" in message


def test_production_starts_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_EXAMPLE_ENVIRONMENT", "production")
    monkeypatch.setenv("PARLEY_EXAMPLE_INTERNAL_SECRET", STRONG)
    monkeypatch.setenv("PARLEY_EXAMPLE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PARLEY_EXAMPLE_KAFKA_USERNAME", "parley")
    monkeypatch.setenv("PARLEY_EXAMPLE_KAFKA_PASSWORD", "a-real-password-from-a-secret")
    assert ExampleSettings().environment == "production"


def test_a_redis_ca_file_needs_a_tls_url() -> None:
    with pytest.raises(ValidationError, match="PARLEY_EXAMPLE_REDIS_CA_FILE needs a rediss://"):
        ExampleSettings(redis_ca_file="/etc/parley/redis-ca.pem")
    tls = ExampleSettings(redis_url="rediss://:pw@redis:6380/0", redis_ca_file="/ca.pem")
    assert tls.redis_ca_file == "/ca.pem"


def test_trusted_proxies_must_be_networks() -> None:
    assert ExampleSettings(trusted_proxies=["10.0.0.0/8", "::1"]).trusted_proxies
    with pytest.raises(ValidationError, match="not-a-network"):
        ExampleSettings(trusted_proxies=["not-a-network"])


def test_min_insync_replicas_cannot_exceed_the_replication_factor() -> None:
    with pytest.raises(ValidationError, match="PARLEY_EXAMPLE_KAFKA_MIN_INSYNC_REPLICAS"):
        ExampleSettings(kafka_replication_factor=1, kafka_min_insync_replicas=2)
    durable = ExampleSettings(kafka_replication_factor=3, kafka_min_insync_replicas=2)
    assert durable.kafka_min_insync_replicas == 2
