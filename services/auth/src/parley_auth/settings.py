"""Auth settings (env prefix `PARLEY_AUTH_`); every one has a local default."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from parley_kit.migrations import MigrationsMode
from parley_kit.settings import ServiceSettings


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_AUTH_", extra="ignore", frozen=True)

    port: int = 8001
    mongo_db: str = "auth"
    migrations: MigrationsMode = Field(
        default="apply",
        description=(
            "apply: apply pending store migrations at start (local); check: refuse to start"
            " while one is pending (run `python -m parley_auth migrate`, the migrate job)"
        ),
    )
    public_url: str = Field(
        default="http://127.0.0.1:8001", description="where this service's JWKS is served"
    )

    access_token_seconds: int = Field(default=900, ge=30)
    refresh_token_days: int = Field(default=30, ge=1)
    sessions_per_user: int = Field(
        default=100, ge=1, description="live sessions per user; beyond, a login ends the oldest"
    )
    signing_key_file: str | None = Field(
        default=None,
        description="PEM private key (RS256); unset: keys are generated once and kept in MongoDB",
    )
    key_publish_seconds: float = Field(
        default=300,
        ge=0,
        description="how long a staged signing key is published before it may be promoted; at "
        "least every verifier's JWKS_CACHE_SECONDS",
    )
    key_retire_margin_seconds: float = Field(
        default=60,
        ge=0,
        description="beyond the access-token lifetime, how long a replaced signing key stays "
        "published (clock skew, verifier leeway, replicas noticing the promotion)",
    )
    key_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="how often each replica checks whether the signing keys changed",
    )

    tenant_creation_enabled: bool = True
    tenant_creation_per_ip_per_hour: int = Field(default=60, ge=1)
    signups_per_ip: int = Field(
        default=20,
        ge=1,
        description="accounts created (signups and tenant owners) per client IP and window",
    )
    signup_window_seconds: int = Field(default=900, ge=1)
    special_use_email_domains: bool = Field(
        default=True,
        description="accept email addresses under .local, .internal and .test (self-hosted "
        "intranets) unless a tenant's own setting says otherwise",
    )

    login_failures_per_login: int = Field(
        default=5, ge=1, description="failed logins per tenant + login + client IP and window"
    )
    login_failures_per_ip: int = Field(
        default=100, ge=1, description="failed logins per client IP and window"
    )
    login_failure_window_seconds: int = Field(default=900, ge=1)
    login_failures_per_account: int = Field(
        default=20,
        ge=1,
        description="failed logins of one account from every address per window before each "
        "further attempt waits (1 s, doubling)",
    )
    login_delay_max_seconds: int = Field(
        default=300, ge=1, description="the longest wait between attempts on one account"
    )

    password_hash_workers: int = Field(
        default=2, ge=1, description="threads hashing passwords (argon2 releases the GIL)"
    )
    password_hashes_in_flight: int = Field(
        default=32, ge=1, description="hashes running or queued; beyond: 503 + Retry-After"
    )
    password_hashes_per_ip: int = Field(
        default=4, ge=1, description="hashes of one client IP at once; beyond: 429 + Retry-After"
    )
