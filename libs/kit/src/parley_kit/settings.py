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
