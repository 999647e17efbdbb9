"""The settings every service shares; each service subclasses with its own env prefix.

Every field has a local default so `python -m parley_<svc>` runs against the local stack
without any environment. Settings are built inside the app factory, never at import time.
"""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base of `AuthSettings`, `MessagingSettings`, ...: subclass and set `env_prefix`."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True

    mongo_url: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = "parley"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = Field(default="", description="prefix of every Redis key (tests isolate)")
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = Field(default="", description="prefix of every Kafka topic (tests isolate)")
    kafka_partitions: int = Field(default=6, ge=1)

    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwt_issuer: str = "parley-auth"
    jwt_audience: str = "parley"
    jwks_cache_seconds: int = Field(default=300, ge=1)

    internal_secret: SecretStr = Field(
        default=SecretStr("parley-local-internal-secret-change-me"),
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
