"""Auth settings (env prefix `PARLEY_AUTH_`); every one has a local default."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from parley_kit.settings import ServiceSettings


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_AUTH_", extra="ignore", frozen=True)

    port: int = 8001
    mongo_db: str = "auth"
    public_url: str = Field(
        default="http://127.0.0.1:8001", description="where this service's JWKS is served"
    )

    access_token_seconds: int = Field(default=900, ge=30)
    refresh_token_days: int = Field(default=30, ge=1)
    signing_key_file: str | None = Field(
        default=None,
        description="PEM private key (RS256); unset: keys are generated once and kept in MongoDB",
    )

    tenant_creation_enabled: bool = True
    tenant_creation_per_ip_per_hour: int = Field(default=60, ge=1)
    login_failures_per_login: int = Field(default=5, ge=1)
    login_failures_per_ip: int = Field(default=100, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
