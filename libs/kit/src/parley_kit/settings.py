"""The settings every service shares; each service subclasses with its own env prefix.

Every field has a local default so `python -m parley_<svc>` runs against the local stack
without any environment. Settings are built inside the app factory, never at import time.
"""

from ipaddress import ip_network
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The internal secret a service starts with when none is given: fine on a laptop, refused in
# production mode (as is anything that still reads like the placeholder of an env file).
LOCAL_INTERNAL_SECRET = "parley-local-internal-secret-change-me"
PLACEHOLDER_MARK = "change-me"
MIN_SECRET_CHARS = 32

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class ServiceSettings(BaseSettings):
    """Base of `AuthSettings`, `MessagingSettings`, ...: subclass and set `env_prefix`."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore", frozen=True)

    environment: Literal["local", "production"] = Field(
        default="local",
        description=(
            "production: refuse to start with a local default or placeholder secret (the"
            " internal secret, any password or key), naming the setting"
        ),
    )
    host: str = "127.0.0.1"
    port: int = 8000
    ops_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description=(
            "the listener of /readyz and /metrics (probes, Prometheus), never the public one;"
            " unset: port + 1000"
        ),
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "CIDRs of the proxies whose X-Forwarded-For names the client (JSON list, e.g."
            ' ["10.0.0.0/8"]); empty: the peer address is the client'
        ),
    )
    log_level: str = "INFO"
    log_json: bool = True

    mongo_url: str = Field(
        default="mongodb://127.0.0.1:27017",
        description="credentials and TLS go in the URL (user:password@, ?tls=true)",
    )
    mongo_db: str = "parley"
    mongo_ca_file: str | None = Field(
        default=None, description="PEM CA bundle that signs MongoDB's certificate (tlsCAFile)"
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="credentials and TLS go in the URL (rediss://user:password@host:6380/0)",
    )
    redis_ca_file: str | None = Field(
        default=None, description="PEM CA bundle that signs Redis's certificate (rediss:// only)"
    )
    redis_prefix: str = Field(default="", description="prefix of every Redis key (tests isolate)")
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_ca_file: str | None = Field(
        default=None, description="PEM CA bundle that signs the brokers' certificates"
    )
    kafka_cert_file: str | None = Field(
        default=None, description="PEM client certificate (mutual TLS)"
    )
    kafka_key_file: str | None = Field(
        default=None, description="PEM key of the client certificate"
    )
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        default="SCRAM-SHA-512",
        description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with a SASL_* protocol)",
    )
    kafka_username: str = Field(default="", description="SASL user (with a SASL_* protocol)")
    kafka_password: SecretStr = Field(
        default=SecretStr(""), description="SASL password (with a SASL_* protocol)"
    )
    topic_prefix: str = Field(default="", description="prefix of every Kafka topic (tests isolate)")
    kafka_partitions: int = Field(
        default=6, ge=1, description="partitions of a topic this service creates"
    )
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="replicas of a topic this service creates"
    )
    kafka_min_insync_replicas: int = Field(
        default=1,
        ge=1,
        description="min.insync.replicas of a topic this service creates (acks=all waits for it)",
    )

    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwt_issuer: str = "parley-auth"
    jwt_audience: str = "parley"
    jwks_cache_seconds: int = Field(default=300, ge=1)

    internal_secret: SecretStr = Field(
        default=SecretStr(LOCAL_INTERNAL_SECRET),
        description="shared secret the gateway signs forwarded identities with",
    )
    max_body_bytes: int = 64 * 1024

    workers: int = Field(
        default=1,
        ge=1,
        description=(
            "processes serving this service's port (uvicorn workers); one per core at most,"
            " see docs/performance.md"
        ),
    )
    max_in_flight: int = Field(
        default=0,
        ge=0,
        description=(
            "requests one process serves at once; beyond it an immediate 503 with Retry-After,"
            " never a queue (0 = 64 per usable CPU core)"
        ),
    )
    drain_seconds: float = Field(
        default=2.0,
        ge=0,
        description=(
            "after SIGTERM: new connections refused, open ones still served with Connection:"
            " close, for this long (parley_kit.draining); 0 = no drain"
        ),
    )
    shutdown_grace_seconds: float = Field(
        default=10.0,
        gt=0,
        description="after the drain, how long in-flight requests may still run before cancelled",
    )
    deadline_seconds: float = Field(
        default=10.0,
        gt=0,
        description=(
            "the longest a request may run: the budget of one without X-Parley-Deadline and the"
            " cap of one with it; every store call carries the time left as maxTimeMS"
        ),
    )
    retry_after_seconds: int = Field(
        default=1,
        ge=1,
        description="Retry-After of a 503 at capacity, past a deadline or timed out",
    )

    tracing_exporter: Literal["none", "otlp"] = Field(
        default="none",
        description=(
            "otlp: OpenTelemetry spans exported over OTLP/HTTP to TRACING_ENDPOINT;"
            " none: no tracing (a no-op tracer)"
        ),
    )
    tracing_endpoint: str = Field(
        default="http://127.0.0.1:4318/v1/traces",
        description="the collector's OTLP/HTTP traces URL (https:// for TLS)",
    )
    tracing_headers: SecretStr = Field(
        default=SecretStr(""),
        description="headers of every export, key=value,key=value (a collector's API key)",
    )
    tracing_ca_file: str | None = Field(
        default=None, description="PEM CA bundle that signs the collector's certificate"
    )
    tracing_sample_ratio: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description=(
            "share of new traces recorded; a call inside a trace follows its caller's decision"
        ),
    )
    tracing_service_name: str = Field(
        default="", description="service.name of the spans; empty: parley-<service>"
    )

    @property
    def resolved_ops_port(self) -> int:
        """The port of the ops listener (/healthz, /readyz, /metrics)."""
        return self.port + 1000 if self.ops_port is None else self.ops_port

    @field_validator("ops_port", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value  # an env file's `..._OPS_PORT=` means unset

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        # Normalised (10.1.2.3/8 -> 10.0.0.0/8), so no entry is silently read as a host name;
        # a bad one is a ValueError that names it.
        return [str(ip_network(cidr.strip(), strict=False)) for cidr in value]

    @model_validator(mode="after")
    def _min_insync_within_replication(self) -> Self:
        # Kafka refuses such a topic, and a producer waiting for acks=all could never write.
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            prefix = str(self.model_config.get("env_prefix", ""))
            raise ValueError(
                f"{prefix}KAFKA_MIN_INSYNC_REPLICAS ({self.kafka_min_insync_replicas}) exceeds"
                f" {prefix}KAFKA_REPLICATION_FACTOR ({self.kafka_replication_factor})"
            )
        return self

    @model_validator(mode="after")
    def _redis_ca_needs_tls(self) -> Self:
        if self.redis_ca_file and not self.redis_url.startswith("rediss://"):
            prefix = str(self.model_config.get("env_prefix", ""))
            raise ValueError(f"{prefix}REDIS_CA_FILE needs a rediss:// {prefix}REDIS_URL")
        return self

    @model_validator(mode="after")
    def _production_refuses_local_secrets(self) -> Self:
        if self.environment == "production":
            refused = self.local_defaults()
            if refused:
                raise ValueError(
                    "production mode refuses to start with local defaults: " + "; ".join(refused)
                )
        return self

    def local_defaults(self) -> list[str]:
        """What production mode refuses, each naming its variable: a secret left at its
        local default, an env file's placeholder or a short internal secret, SASL without a
        password."""
        prefix = str(self.model_config.get("env_prefix", ""))
        found = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if not isinstance(value, SecretStr):
                continue
            secret, default = value.get_secret_value(), field.get_default()
            if secret and (
                PLACEHOLDER_MARK in secret
                or (isinstance(default, SecretStr) and secret == default.get_secret_value())
            ):
                found.append(f"{prefix}{name.upper()} is a placeholder or local default")
        internal = self.internal_secret.get_secret_value()
        if len(internal) < MIN_SECRET_CHARS:
            found.append(
                f"{prefix}INTERNAL_SECRET has {len(internal)} characters; use a random value of"
                f" {MIN_SECRET_CHARS} or more"
            )
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_username and self.kafka_password.get_secret_value()
        ):
            found.append(
                f"{prefix}KAFKA_USERNAME and {prefix}KAFKA_PASSWORD are required with"
                f" {prefix}KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}"
            )
        return found
