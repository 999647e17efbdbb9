"""Search settings (env prefix `PARLEY_SEARCH_`); every one has a local default."""

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from parley_kit.migrations import MigrationsMode
from parley_kit.settings import ServiceSettings


class SearchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_SEARCH_", extra="ignore", frozen=True)

    port: int = 8003
    migrations: MigrationsMode = Field(
        default="apply",
        description=(
            "apply: apply pending store migrations at start (local); check: refuse to start"
            " while one is pending (run `python -m parley_search migrate`, the migrate job)"
        ),
    )
    engine: Literal["opensearch", "elasticsearch"] = Field(
        default="opensearch",
        description="the search engine's API flavour (the local stack runs OpenSearch)",
    )
    elasticsearch_url: str = Field(
        default="http://127.0.0.1:9200", description="https:// for TLS (verified, see below)"
    )
    elasticsearch_ca_file: str | None = Field(
        default=None, description="PEM CA bundle that signs the engine's certificate"
    )
    elasticsearch_verify_certs: bool = Field(
        default=True, description="verify the engine's certificate and host name (https://)"
    )
    elasticsearch_api_key: SecretStr = Field(
        default=SecretStr(""), description="API key (base64 id:key); wins over basic auth"
    )
    elasticsearch_username: str = Field(default="", description="basic auth user")
    elasticsearch_password: SecretStr = Field(default=SecretStr(""), description="basic auth")
    index_prefix: str = ""
    messaging_url: str = "http://127.0.0.1:8002"
    auth_url: str = Field(
        default="http://127.0.0.1:8001",
        description="auth's internal API (usernames of the `from:` and `mentions:` operators)",
    )
    consumer_group: str = "parley-search"
    batch_size: int = Field(default=500, ge=1, le=5000)
    flush_interval_ms: int = Field(default=100, ge=10)
    membership_cache_seconds: float = Field(default=30.0, ge=0)
    refresh_interval: str = "500ms"  # with the 100 ms batch wait: visible within ~0.6 s
    shards: int = Field(default=1, ge=1)
    replicas: int = Field(default=0, ge=0)
