"""What auth stores: tenants, users, sessions with their refresh tokens, and signing keys.

Indexes (unique slugs, usernames, emails, key ids) are versioned migrations:
`parley_auth.migrations`.
"""

from datetime import UTC, datetime

from beanie import Document
from pydantic import Field

from parley_contracts.claims import Role
from parley_contracts.resources import SignupPolicy, Tenant, User


def now() -> datetime:
    return datetime.now(UTC)


class TenantRecord(Document):
    name: str
    slug: str
    signup_policy: SignupPolicy = SignupPolicy.OPEN
    special_use_email_domains: bool | None = None  # None: the deployment's setting
    created_at: datetime = Field(default_factory=now)

    class Settings:
        name = "tenants"

    def resource(self) -> Tenant:
        return Tenant(
            id=str(self.id),
            name=self.name,
            slug=self.slug,
            signup_policy=self.signup_policy,
            special_use_email_domains=self.special_use_email_domains,
            created_at=self.created_at,
        )


class UserRecord(Document):
    tenant_id: str
    username: str
    username_key: str  # lowercased: usernames are unique per tenant regardless of case
    email: str  # lowercased
    password_hash: str
    display_name: str | None = None
    roles: list[Role] = Field(default_factory=lambda: [Role.MEMBER])
    # Grows when what this user's access tokens say stops being true (see `authz`).
    authz_version: int = 0
    active: bool = True  # False once a tenant admin deactivated the account
    # Sessions begun (or kept) before this are refused at refresh: a password change ends
    # every other session, the ones the per-user index does not list included.
    password_changed_at: datetime | None = None
    created_at: datetime = Field(default_factory=now)

    class Settings:
        name = "users"

    def resource(self) -> User:
        return User(
            id=str(self.id),
            tenant_id=self.tenant_id,
            username=self.username,
            email=self.email,
            display_name=self.display_name,
            roles=list(self.roles),
            active=self.active,
            created_at=self.created_at,
        )


class SessionRecord(Document):
    """One refresh-token family (a login and its rotations). It is alive while this document
    exists: revoking the session (logout, reuse) is deleting it, one atomic step."""

    id: str  # type: ignore[assignment]  # random, carried in the session's refresh tokens
    tenant_id: str
    user_id: str
    created_at: datetime = Field(default_factory=now)
    # Written by each refresh (sessions from before these fields have none).
    last_used_at: datetime | None = None
    user_agent: str | None = None
    ip: str | None = None
    kept_at: datetime | None = None  # a password change made in this session kept it

    class Settings:
        name = "sessions"


class SessionIndexRecord(Document):
    """The sessions a user started, under `<tenant>:<user>`: how a user's sessions are listed
    with `_id` lookups only (FerretDB scans for any other filter). Rewritten whole under the
    user's session lock; an id whose session document is gone is dropped when next read."""

    id: str  # type: ignore[assignment]  # <tenant id>:<user id>
    tenant_id: str
    user_id: str
    session_ids: list[str] = Field(default_factory=list)

    class Settings:
        name = "session_index"


class RefreshTokenRecord(Document):
    """The one live refresh token of a session; only the SHA-256 of its secret is stored.
    Spending it is deleting it: of parallel spends exactly one deletes, the rest are reuse."""

    id: str  # type: ignore[assignment]  # random, carried in the token itself
    tenant_id: str
    session_id: str
    secret_hash: str
    expires_at: datetime
    created_at: datetime = Field(default_factory=now)

    class Settings:
        name = "session_tokens"


class SigningKeyRecord(Document):
    kid: str
    private_pem: str
    public_jwk: dict[str, str]
    created_at: datetime = Field(default_factory=now)  # staged (published, not signing)
    promoted_at: datetime | None = None  # signing from then until the next key's promotion
    retired_at: datetime | None = None  # withdrawn from the JWKS (private half erased)

    class Settings:
        name = "signing_keys"


AUTH_MODELS: list[type[Document]] = [
    TenantRecord,
    UserRecord,
    SessionRecord,
    SessionIndexRecord,
    RefreshTokenRecord,
    SigningKeyRecord,
]
