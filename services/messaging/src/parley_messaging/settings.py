"""Messaging settings (env prefix `PARLEY_MESSAGING_`); every one has a local default."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from parley_kit.migrations import MigrationsMode
from parley_kit.settings import ServiceSettings


class MessagingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_MESSAGING_", extra="ignore", frozen=True)

    port: int = 8002
    mongo_db: str = "messaging"
    migrations: MigrationsMode = Field(
        default="apply",
        description=(
            "apply: apply pending store migrations at start (local); check: refuse to start"
            " while one is pending (run `python -m parley_messaging migrate`, the migrate job)"
        ),
    )
    auth_url: str = "http://127.0.0.1:8001"
    page_cache_size: int = Field(
        default=200, ge=100, description="newest messages per conversation kept in Redis"
    )
    idempotency_ttl_seconds: int = Field(
        default=86400, ge=60, description="how long Redis remembers a client_msg_id"
    )
    outbox_gap_grace_seconds: float = Field(default=2.0, ge=0)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    users_consumer_group: str = Field(
        default="parley-messaging-users",
        description="consumer group of the users-topic listener (admin hand-over on deactivation)",
    )
